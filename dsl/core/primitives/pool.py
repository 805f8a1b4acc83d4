"""Pooling (windowed, adaptive, global) and upsampling."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from dsl.core.ops import (
    AUTO,
    Op,
    P,
    ParamError,
    Params,
    Shape,
    ShapeError,
    describe,
    need_map,
    pair,
    register,
    show_value,
    spatial,
)
from dsl.core.primitives.conv import canon, dims

POOL_FILL = "#8dd3c7"
GLOBAL_FILL = "#b3de69"


# ----------------------------------------------------------------------------- max / average pooling
def _pool_resolve(ins: list[Shape], p: Params) -> Params:
    return {
        **p,
        "k": canon(p["k"]),
        "stride": canon(p["k"] if p["stride"] == AUTO else p["stride"]),
        "padding": canon(p["padding"]),
    }


def _pool_out(name: str) -> Callable[[list[Shape], Params], Shape]:
    def rule(ins: list[Shape], p: Params) -> Shape:
        c, h, w = need_map(ins, name)
        (kh, kw), (sh, sw), (ph, pw) = pair(p["k"]), pair(p["stride"]), pair(p["padding"])
        if ph > kh // 2 or pw > kw // 2:
            raise ShapeError(
                f"{name} padding {show_value(p['padding'])} is more than half the {dims(p['k'])} window "
                f"(at most {show_value(canon((kh // 2, kw // 2)))})"
            )
        ceil = p["ceil_mode"]
        oh, ow = spatial(h, kh, sh, ph, ceil=ceil), spatial(w, kw, sw, pw, ceil=ceil)
        if oh < 1 or ow < 1:
            raise ShapeError(
                f"a {dims(p['k'])} {name} (stride {show_value(p['stride'])}) on a {h}×{w} map leaves "
                f"{oh}×{ow}: the spatial size shrinks below 1"
            )
        return (c, oh, ow)

    return rule


def _maxpool(ins: list[Shape], p: Params) -> Any:
    from torch import nn

    return nn.MaxPool2d(pair(p["k"]), stride=pair(p["stride"]), padding=pair(p["padding"]), ceil_mode=p["ceil_mode"])


def _avgpool(ins: list[Shape], p: Params) -> Any:
    from torch import nn

    return nn.AvgPool2d(
        pair(p["k"]),
        stride=pair(p["stride"]),
        padding=pair(p["padding"]),
        ceil_mode=p["ceil_mode"],
        count_include_pad=p["count_include_pad"],
    )


_WINDOW = (
    P("k", "pair", 2, min=1, max=4096, doc="window size: k or (height, width)"),
    P("stride", "pair", AUTO, min=1, max=4096, choices=(AUTO,), doc="auto: the window size"),
    P("padding", "pair", 0, min=0, max=2048, doc="at most k//2"),
    P(
        "ceil_mode",
        "bool",
        False,
        doc="true: a last partial window counts (rounds the output size up, as torch)",
        keyword=True,
    ),
)

register(
    Op(
        "maxpool",
        _WINDOW,
        _pool_out("maxpool"),
        _maxpool,
        style={"fillcolor": POOL_FILL},
        role="pool",
        doc="max pooling over k×k windows (stride defaults to k)",
        resolve=_pool_resolve,
    )
)
register(
    Op(
        "avgpool",
        _WINDOW
        + (
            P(
                "count_include_pad",
                "bool",
                True,
                doc="false: average over the window's positions inside the input only",
                keyword=True,
            ),
        ),
        _pool_out("avgpool"),
        _avgpool,
        style={"fillcolor": POOL_FILL},
        role="pool",
        doc="average pooling over k×k windows (stride defaults to k)",
        resolve=_pool_resolve,
    )
)


# ----------------------------------------------------------------------------- adaptive pooling
def _adaptive_out(name: str) -> Callable[[list[Shape], Params], Shape]:
    def rule(ins: list[Shape], p: Params) -> Shape:
        return (need_map(ins, name)[0], *pair(p["size"]))

    return rule


def _adaptive_resolve(ins: list[Shape], p: Params) -> Params:
    return {**p, "size": canon(p["size"])}


def _adaptive_build(cls: str) -> Callable[[list[Shape], Params], Any]:
    def build(ins: list[Shape], p: Params) -> Any:
        from torch import nn

        return getattr(nn, cls)(pair(p["size"]))

    return build


for _name, _cls, _what in (
    ("adaptive_avgpool", "AdaptiveAvgPool2d", "average"),
    ("adaptive_maxpool", "AdaptiveMaxPool2d", "max"),
):
    register(
        Op(
            _name,
            (P("size", "pair", 1, min=1, max=4096, doc="output size: s or (height, width)"),),
            _adaptive_out(_name),
            _adaptive_build(_cls),
            style={"fillcolor": POOL_FILL},
            role="pool",
            doc=f"{_what} pooling to a given size: C×H×W -> C×h×w (size=1 gives a C×1×1 map, unlike gap)",
            resolve=_adaptive_resolve,
        )
    )


# ----------------------------------------------------------------------------- global pooling
def _global(name: str) -> Callable[[list[Shape], Params], Shape]:
    def rule(ins: list[Shape], p: Params) -> Shape:
        if len(ins[0]) == 2:
            raise ShapeError(f"{name} pools a C×H×W map, got {describe(ins[0])}; token_pool pools tokens")
        return (need_map(ins, name)[0],)

    return rule


def _gmp(ins: list[Shape], p: Params) -> Any:
    from dsl.nn.modules import GlobalMaxPool

    return GlobalMaxPool()


def _gap(ins: list[Shape], p: Params) -> Any:
    from dsl.nn.modules import GlobalAvgPool

    return GlobalAvgPool()


register(
    Op(
        "gmp",
        (),
        _global("gmp"),
        _gmp,
        style={"fillcolor": GLOBAL_FILL},
        role="pool",
        doc="global max pool: C×H×W -> C",
    )
)
register(
    Op(
        "gap",
        (),
        _global("gap"),
        _gap,
        style={"fillcolor": GLOBAL_FILL},
        role="pool",
        doc="global average pool: C×H×W -> C",
    )
)


# ----------------------------------------------------------------------------- upsampling
def _upsample_resolve(ins: list[Shape], p: Params) -> Params:
    if p["align_corners"] and p["mode"] != "bilinear":
        raise ParamError(f"align_corners applies to mode=bilinear only, not mode={p['mode']}")
    return p


def _upsample_out(ins: list[Shape], p: Params) -> Shape:
    c, h, w = need_map(ins, "upsample")
    oh, ow = math.floor(h * p["scale"]), math.floor(w * p["scale"])
    if oh < 1 or ow < 1:
        raise ShapeError(
            f"upsample by {show_value(p['scale'])} on a {h}×{w} map leaves {oh}×{ow}: the spatial size shrinks below 1"
        )
    return (c, oh, ow)


def _upsample(ins: list[Shape], p: Params) -> Any:
    from torch import nn

    return nn.Upsample(
        scale_factor=float(p["scale"]),
        mode=p["mode"],
        align_corners=p["align_corners"] if p["mode"] == "bilinear" else None,
    )


register(
    Op(
        "upsample",
        (
            P("scale", "float", 2.0, min=0, max=1024, doc="size factor; the output is floor(H·scale)×floor(W·scale)"),
            P("mode", "str", "nearest", choices=("nearest", "bilinear")),
            P("align_corners", "bool", False, doc="bilinear only: corner pixels of input and output align"),
        ),
        _upsample_out,
        _upsample,
        style={"fillcolor": POOL_FILL},
        role="pool",
        doc="resize by a factor (nn.Upsample, scale_factor); no parameters",
        resolve=_upsample_resolve,
    )
)

del _name, _cls, _what
