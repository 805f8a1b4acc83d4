"""Wiring: the input, pass-throughs, and merges of parallel branches."""

from __future__ import annotations

from typing import Any

from ..ops import Op, Params, Shape, ShapeError, fmt_shape, register, same_shape


def _identity(ins: list[Shape], p: Params) -> Any:
    from torch import nn

    return nn.Identity()


def _add_out(ins: list[Shape], p: Params) -> Shape:
    first = ins[0]
    if any(s != first for s in ins[1:]):
        raise ShapeError("branches of add must have the same shape, got " + " and ".join(fmt_shape(x) for x in ins))
    return first


def _add(ins: list[Shape], p: Params) -> Any:
    from ..torch_modules import Add

    return Add()


def _concat_out(ins: list[Shape], p: Params) -> Shape:
    if len({len(s) for s in ins}) != 1 or len({s[1:] for s in ins}) != 1:
        raise ShapeError(
            "branches of concat must agree in every dimension but the channels, got "
            + " and ".join(fmt_shape(x) for x in ins)
        )
    return (sum(s[0] for s in ins),) + ins[0][1:]


def _concat(ins: list[Shape], p: Params) -> Any:
    from ..torch_modules import Concat

    return Concat()


register(
    Op(
        "identity",
        (),
        same_shape,
        _identity,
        style={"fillcolor": "white"},
        role="identity",
        doc="pass the input through (a shortcut branch)",
    )
)
register(
    Op(
        "add",
        (),
        _add_out,
        _add,
        branches=True,
        style={"fillcolor": "#fdb462"},
        role="sum",
        doc="sum of parallel branches (same shape)",
    )
)
register(
    Op(
        "concat",
        (),
        _concat_out,
        _concat,
        branches=True,
        style={"fillcolor": "#fdb462"},
        role="concat",
        doc="channel concatenation of parallel branches",
    )
)
register(Op("input", (), same_shape, _identity, style={"fillcolor": "white"}, role="input", doc="the network input"))
