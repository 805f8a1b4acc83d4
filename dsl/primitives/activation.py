"""Activations and regularisation (element-wise, shape-preserving)."""

from __future__ import annotations

from typing import Any

from ..ops import Op, P, Params, Shape, register, same_shape


def _relu(ins: list[Shape], p: Params) -> Any:
    from torch import nn

    return nn.ReLU(inplace=False)


def _dropout(ins: list[Shape], p: Params) -> Any:
    from torch import nn

    return nn.Dropout(p["p"])


register(Op("relu", (), same_shape, _relu, style={"fillcolor": "#fb8072"}, role="act", doc="rectified linear unit"))
register(
    Op(
        "dropout",
        (P("p", "float", 0.5, min=0, max=1),),
        same_shape,
        _dropout,
        style={"fillcolor": "#d9d9d9"},
        role="reg",
        doc="dropout with probability p",
    )
)
