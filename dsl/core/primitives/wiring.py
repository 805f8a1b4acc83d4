"""Wiring: the input, pass-throughs, merges of parallel branches, and the channel groups a branch
takes (`chunk`, the inverse of `concat`) or interleaves (`shuffle`)."""

from __future__ import annotations

from typing import Any

from dsl.core.ops import (
    Op,
    P,
    ParamError,
    Params,
    Shape,
    ShapeError,
    describe,
    fmt_shape,
    register,
    same_shape,
)


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


# ----------------------------------------------------------------------------- channel groups
def _channel_groups(ins: list[Shape], op: str, groups: int, what: str) -> Shape:
    """The single input, a map or flat features whose channels divide into `groups` (for shape rules)."""
    (s,) = ins
    if len(s) == 2:
        raise ShapeError(f"{op} acts on the channels of a map or of flat features, got {describe(s)}")
    if s[0] % groups:
        raise ShapeError(f"{s[0]} channels do not divide into {groups} {what}")
    return s


def _chunk_resolve(ins: list[Shape], p: Params) -> Params:
    if p["i"] >= p["n"]:
        raise ParamError(f"there is no group {p['i']} of {p['n']}: the groups are numbered 0 to {p['n'] - 1}")
    return p


def _chunk_out(ins: list[Shape], p: Params) -> Shape:
    s = _channel_groups(ins, "chunk", p["n"], "equal groups")
    return (s[0] // p["n"],) + s[1:]


def _chunk(ins: list[Shape], p: Params) -> Any:
    from dsl.nn.modules import ChannelChunk

    return ChannelChunk(p["i"], p["n"])


def _shuffle_out(ins: list[Shape], p: Params) -> Shape:
    return _channel_groups(ins, "shuffle", p["groups"], "equal groups to shuffle")


def _shuffle(ins: list[Shape], p: Params) -> Any:
    from dsl.nn.modules import ChannelShuffle

    return ChannelShuffle(p["groups"])


register(
    Op(
        "chunk",
        (
            P("i", "int", required=True, min=0, max=65535, doc="which group, counted from 0"),
            P("n", "int", required=True, min=1, max=65536, doc="how many equal groups (divides the channels)"),
        ),
        _chunk_out,
        _chunk,
        style={"fillcolor": "#fdb462"},
        role="reshape",
        doc="the i-th of n equal groups of the channels (or flat features): C -> C/n, torch.chunk(x, n, dim=1)[i]; "
        "ShuffleNetV2's channel split is concat(chunk(0, 2), chunk(1, 2) -> ...)",
        resolve=_chunk_resolve,
    )
)
register(
    Op(
        "shuffle",
        (P("groups", "int", required=True, min=1, max=65536, doc="channel groups interleaved (divides the channels)"),),
        _shuffle_out,
        _shuffle,
        style={"fillcolor": "#fdb462"},
        role="reshape",
        doc="channel shuffle (ShuffleNet; torchvision's channel_shuffle): the C channels as groups × C/groups, "
        "transposed, so output channel j·groups+g is input channel g·(C/groups)+j",
    )
)
register(Op("input", (), same_shape, _identity, style={"fillcolor": "white"}, role="input", doc="the network input"))
