"""Flattening, fully connected layers and constant scaling."""

from __future__ import annotations

import math
from typing import Any

from ..ops import Op, P, Params, Shape, need_flat, register, same_shape


def _flatten(ins: list[Shape], p: Params) -> Any:
    from torch import nn

    return nn.Flatten()


def _linear_out(ins: list[Shape], p: Params) -> Shape:
    need_flat(ins, "linear")
    return (p["out"],)


def _linear(ins: list[Shape], p: Params) -> Any:
    from torch import nn

    return nn.Linear(ins[0][0], p["out"], bias=p["bias"])


def _scale(ins: list[Shape], p: Params) -> Any:
    from ..torch_modules import Scale

    return Scale(p["k"])


register(
    Op(
        "flatten",
        (),
        lambda ins, p: (math.prod(ins[0]),),
        _flatten,
        style={"fillcolor": "#fccde5"},
        role="reshape",
        doc="flatten to features",
    )
)
register(
    Op(
        "linear",
        (P("out", "int", required=True, min=1, doc="output features"), P("bias", "bool", True)),
        _linear_out,
        _linear,
        lambda ins, out, p: (ins[0][0] * p["out"] + (p["out"] if p["bias"] else 0), ins[0][0] * p["out"]),
        style={"fillcolor": "#bc80bd"},
        role="linear",
        doc="fully connected layer",
        weights=True,
    )
)
register(
    Op(
        "scale",
        (P("k", "float", required=True, min=-1e30, max=1e30),),
        same_shape,
        _scale,
        style={"fillcolor": "#ccebc5"},
        role="scale",
        doc="multiply by a constant (what `x*k` makes)",
    )
)
