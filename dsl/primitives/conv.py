"""Convolutions."""

from __future__ import annotations

from typing import Any

from ..ops import AUTO, Op, P, ParamError, Params, Shape, ShapeError, need_map, register, spatial


def _conv_resolve(ins: list[Shape], p: Params) -> Params:
    c = need_map(ins, "conv")[0]
    padding = p["padding"]
    if padding == AUTO:
        if p["k"] % 2 == 0:
            raise ParamError(
                f"a {p['k']}×{p['k']} kernel has no centre, so padding=auto is ambiguous; write padding=0 "
                f"or an explicit padding"
            )
        padding = p["k"] // 2
    return {**p, "c": c if p["c"] == AUTO else p["c"], "padding": padding}


def _conv_out(ins: list[Shape], p: Params) -> Shape:
    c, h, w = need_map(ins, "conv")
    if c % p["groups"] or p["c"] % p["groups"]:
        raise ShapeError(f"groups={p['groups']} must divide both input channels ({c}) and output channels ({p['c']})")
    oh, ow = spatial(h, p["k"], p["stride"], p["padding"]), spatial(w, p["k"], p["stride"], p["padding"])
    if oh < 1 or ow < 1:
        raise ShapeError(
            f"a {p['k']}×{p['k']} conv (stride {p['stride']}, padding {p['padding']}) on a "
            f"{h}×{w} map leaves {oh}×{ow}: the spatial size shrinks below 1"
        )
    return (p["c"], oh, ow)


def _conv_count(ins: list[Shape], out: Shape, p: Params) -> tuple[int, int]:
    weights = out[0] * (ins[0][0] // p["groups"]) * p["k"] * p["k"]
    return weights + (out[0] if p["bias"] else 0), weights * out[1] * out[2]


def _conv_build(ins: list[Shape], p: Params) -> Any:
    from torch import nn

    return nn.Conv2d(
        ins[0][0], p["c"], p["k"], stride=p["stride"], padding=p["padding"], bias=p["bias"], groups=p["groups"]
    )


register(
    Op(
        "conv",
        (
            P("c", "int", AUTO, min=1, choices=(AUTO,), doc="output channels (auto: same as input)"),
            P("k", "int", 3, min=1, max=64, doc="kernel size"),
            P("stride", "int", 1, min=1, max=64),
            P("padding", "int", AUTO, min=0, max=64, choices=(AUTO,), doc="auto: k//2 (odd k only)"),
            P("bias", "bool", True),
            P("groups", "int", 1, min=1),
        ),
        _conv_out,
        _conv_build,
        _conv_count,
        style={"fillcolor": "#bebada"},
        role="conv",
        doc="2-D convolution",
        resolve=_conv_resolve,
        weights=True,
    )
)
