"""Pooling."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..ops import AUTO, Op, P, Params, Shape, ShapeError, need_map, register, spatial


def _pool_resolve(ins: list[Shape], p: Params) -> Params:
    return {**p, "stride": p["k"] if p["stride"] == AUTO else p["stride"]}


def _pool_out(name: str) -> Callable[[list[Shape], Params], Shape]:
    def rule(ins: list[Shape], p: Params) -> Shape:
        c, h, w = need_map(ins, name)
        if p["padding"] > p["k"] // 2:
            raise ShapeError(
                f"{name} padding {p['padding']} is more than half the {p['k']}×{p['k']} window (at most {p['k'] // 2})"
            )
        oh, ow = spatial(h, p["k"], p["stride"], p["padding"]), spatial(w, p["k"], p["stride"], p["padding"])
        if oh < 1 or ow < 1:
            raise ShapeError(
                f"a {p['k']}×{p['k']} {name} (stride {p['stride']}) on a {h}×{w} map leaves "
                f"{oh}×{ow}: the spatial size shrinks below 1"
            )
        return (c, oh, ow)

    return rule


def _pool_build(cls: str) -> Callable[[list[Shape], Params], Any]:
    def build(ins: list[Shape], p: Params) -> Any:
        from torch import nn

        return getattr(nn, cls)(kernel_size=p["k"], stride=p["stride"], padding=p["padding"])

    return build


for _name, _cls in (("maxpool", "MaxPool2d"), ("avgpool", "AvgPool2d")):
    register(
        Op(
            _name,
            (
                P("k", "int", 2, min=1, max=4096),
                P("stride", "int", AUTO, min=1, max=4096, choices=(AUTO,)),
                P("padding", "int", 0, min=0, max=2048, doc="at most k//2"),
            ),
            _pool_out(_name),
            _pool_build(_cls),
            style={"fillcolor": "#8dd3c7"},
            role="pool",
            doc=f"{_name[:3]} pooling over k×k windows (stride defaults to k)",
            resolve=_pool_resolve,
        )
    )


def _global(name: str) -> Callable[[list[Shape], Params], Shape]:
    def rule(ins: list[Shape], p: Params) -> Shape:
        return (need_map(ins, name)[0],)

    return rule


def _gmp(ins: list[Shape], p: Params) -> Any:
    from ..torch_modules import GlobalMaxPool

    return GlobalMaxPool()


def _gap(ins: list[Shape], p: Params) -> Any:
    from ..torch_modules import GlobalAvgPool

    return GlobalAvgPool()


register(
    Op("gmp", (), _global("gmp"), _gmp, style={"fillcolor": "#b3de69"}, role="pool", doc="global max pool: C×H×W -> C")
)
register(
    Op(
        "gap",
        (),
        _global("gap"),
        _gap,
        style={"fillcolor": "#b3de69"},
        role="pool",
        doc="global average pool: C×H×W -> C",
    )
)

del _name, _cls
