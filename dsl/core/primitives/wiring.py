"""Wiring: the input, pass-throughs, and merges of parallel branches."""

from __future__ import annotations

from typing import Any

from dsl.core.ops import Op, Params, Shape, ShapeError, fmt_shape, register, same_shape


def _identity(ins: list[Shape], p: Params) -> Any:
    from torch import nn

    return nn.Identity()


def _add_out(ins: list[Shape], p: Params) -> Shape:
    first = ins[0]
    if any(s != first for s in ins[1:]):
        raise ShapeError("branches of add must have the same shape, got " + " and ".join(fmt_shape(x) for x in ins))
    return first


def _add(ins: list[Shape], p: Params) -> Any:
    from dsl.nn.modules import Add

    return Add()


def broadcast(ins: list[Shape], op: str) -> tuple[Shape, list[bool]]:
    """The shape of branches combined element-wise, and which branches are flat features that
    act as C×1×1 against maps; raises ShapeError naming every branch's shape."""
    is_map = any(len(s) == 3 for s in ins)
    shapes = [(s[0], 1, 1) if is_map and len(s) == 1 else s for s in ins]
    lifted = [is_map and len(s) == 1 for s in ins]
    out: list[int] = []
    ok = len({len(s) for s in shapes}) == 1
    if ok:
        for sizes in zip(*shapes):
            wide = {d for d in sizes if d != 1}
            if len(wide) > 1:
                ok = False
                break
            out.append(wide.pop() if wide else 1)
    if not ok:
        raise ShapeError(
            f"branches of {op} must have shapes that broadcast (each size equal or 1; flat features of C "
            f"act as C×1×1 against a map), got " + " and ".join(fmt_shape(x) for x in ins)
        )
    return tuple(out), lifted


def _mul_out(ins: list[Shape], p: Params) -> Shape:
    return broadcast(ins, "mul")[0]


def _mul(ins: list[Shape], p: Params) -> Any:
    from dsl.nn.modules import Mul

    return Mul(broadcast(ins, "mul")[1])


def _concat_out(ins: list[Shape], p: Params) -> Shape:
    if len({len(s) for s in ins}) != 1 or len({s[1:] for s in ins}) != 1:
        raise ShapeError(
            "branches of concat must agree in every dimension but the channels, got "
            + " and ".join(fmt_shape(x) for x in ins)
        )
    return (sum(s[0] for s in ins),) + ins[0][1:]


def _concat(ins: list[Shape], p: Params) -> Any:
    from dsl.nn.modules import Concat

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
        "mul",
        (),
        _mul_out,
        _mul,
        branches=True,
        style={"fillcolor": "#fdb462"},
        role="product",
        doc="element-wise product of parallel branches, broadcast (C×1×1 or C against C×H×W: gating)",
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
