"""Flattening, fully connected layers, constant scaling and learned per-channel scaling."""

from __future__ import annotations

import math
from typing import Any

from dsl.core.ops import INITS, Op, P, Params, Shape, ShapeError, channels, describe, need_flat, register, same_shape


def _flatten(ins: list[Shape], p: Params) -> Any:
    from torch import nn

    return nn.Flatten()


def _linear_out(ins: list[Shape], p: Params) -> Shape:
    if len(ins[0]) == 2:  # tokens: the same layer applied to each token's features
        return (ins[0][0], p["out"])
    need_flat(ins, "linear")
    return (p["out"],)


def _linear(ins: list[Shape], p: Params) -> Any:
    from torch import nn

    return nn.Linear(channels(ins[0]), p["out"], bias=p["bias"])


def _linear_count(ins: list[Shape], out: Shape, p: Params) -> tuple[int, int]:
    cin, cout = channels(ins[0]), p["out"]
    positions = ins[0][0] if len(ins[0]) == 2 else 1
    return cin * cout + (cout if p["bias"] else 0), positions * cin * cout


def _scale(ins: list[Shape], p: Params) -> Any:
    from dsl.nn.modules import Scale

    return Scale(p["k"])


_LAYER_SCALE_INITS = tuple(i for i in INITS if i in ("zeros", "ones", "normal", "trunc_normal"))


def _layer_scale_out(ins: list[Shape], p: Params) -> Shape:
    (s,) = ins
    if len(s) not in (1, 2, 3):
        raise ShapeError(f"layer_scale needs a C×H×W map, flat features or tokens, got {describe(s)}")
    return s


def _layer_scale(ins: list[Shape], p: Params) -> Any:
    from dsl.nn.modules import LayerScale

    return LayerScale(channels(ins[0]), len(ins[0]) == 3, p["init"], p["init_std"])


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
        _linear_count,
        style={"fillcolor": "#bc80bd"},
        role="linear",
        doc="fully connected layer: on flat features, or on the features of each token",
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
        lambda ins, out, p: (channels(ins[0]), 0),
        style={"fillcolor": "#ccebc5"},
        role="scale",
        doc="a learned gain per channel (ConvNeXt's layer scale): weight C×1×1 on maps, C on flat features, "
        "D on tokens",
        weights=True,
    )
)
