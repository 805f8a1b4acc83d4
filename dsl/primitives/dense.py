"""Flattening, fully connected layers, constant scaling and learned per-channel scaling."""

from __future__ import annotations

import math
from typing import Any

from ..ops import INITS, Op, P, Params, Shape, ShapeError, fmt_shape, need_flat, register, same_shape


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


_LAYER_SCALE_INITS = tuple(i for i in INITS if i in ("zeros", "ones", "normal", "trunc_normal"))


def _layer_scale_out(ins: list[Shape], p: Params) -> Shape:
    (s,) = ins
    if len(s) not in (1, 3):
        raise ShapeError(f"layer_scale needs a C×H×W map or flat features, got {fmt_shape(s)}")
    return s


def _layer_scale(ins: list[Shape], p: Params) -> Any:
    from ..torch_modules import LayerScale

    return LayerScale(ins[0][0], len(ins[0]) == 3, p["init"], p["init_std"])


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
register(
    Op(
        "layer_scale",
        (
            P(
                "init",
                "float",
                1e-6,
                min=-1e6,
                max=1e6,
                choices=_LAYER_SCALE_INITS,
                doc="the gain's initial value: a constant, or " + ", ".join(_LAYER_SCALE_INITS),
            ),
        ),
        _layer_scale_out,
        _layer_scale,
        lambda ins, out, p: (ins[0][0], 0),
        style={"fillcolor": "#ccebc5"},
        role="scale",
        doc="a learned gain per channel (ConvNeXt's layer scale): weight C×1×1 on maps, C on flat features",
        weights=True,
    )
)
