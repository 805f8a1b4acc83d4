"""Normalisation."""

from __future__ import annotations

from typing import Any

from ..ops import Op, P, Params, Shape, ShapeError, fmt_shape, register


def _bn_out(ins: list[Shape], p: Params) -> Shape:
    (s,) = ins
    if len(s) not in (1, 3):
        raise ShapeError(f"bn needs a C×H×W map or flat features, got {fmt_shape(s)}")
    return s


def _bn_build(ins: list[Shape], p: Params) -> Any:
    from ..torch_modules import batch_norm

    return batch_norm(
        ins[0][0], 2 if len(ins[0]) == 3 else 1, p["eps"], p["momentum"], p["weight"], p["bias"], p["frozen"]
    )


register(
    Op(
        "bn",
        (
            P(
                "weight",
                "float",
                1.0,
                min=-1e4,
                max=1e4,
                choices=("uniform",),
                doc="initial scale: a constant, or uniform for U[0,1] (PyTorch 0.4)",
            ),
            P("bias", "float", 0.0, min=-1e4, max=1e4, doc="initial shift"),
            P("eps", "float", 1e-5, min=1e-12, max=1.0, doc="added to the variance"),
            P("momentum", "float", 0.1, min=0, max=1),
            P("frozen", "bool", False, doc="true: the scale is not trained"),
        ),
        _bn_out,
        _bn_build,
        lambda ins, out, p: (2 * ins[0][0], 0),
        style={"fillcolor": "#ffffb3"},
        role="norm",
        doc="batch normalisation",
    )
)
