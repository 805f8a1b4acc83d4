"""netc's built-in primitives, each one `register` call of `dsl.ops` (the article's op set)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .ops import AUTO, Op, P, Params, Shape, ShapeError, fmt_shape, need_map, register, same_shape, spatial


# ---------------------------------------------------------------- convolution
def _conv_resolve(ins: list[Shape], p: Params) -> Params:
    c = need_map(ins, "conv")[0]
    return {**p, "c": c if p["c"] == AUTO else p["c"], "padding": p["k"] // 2 if p["padding"] == AUTO else p["padding"]}


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


def _conv_args(ins: list[Shape], p: Params) -> dict[str, Any]:
    return {
        "in_channels": ins[0][0],
        "out_channels": p["c"],
        "kernel_size": p["k"],
        "stride": p["stride"],
        "padding": p["padding"],
        "bias": p["bias"],
        "groups": p["groups"],
    }


register(
    Op(
        "conv",
        (
            P("c", "int", AUTO, min=1, choices=(AUTO,), doc="output channels (auto: same as input)"),
            P("k", "int", 3, min=1, max=64, doc="kernel size"),
            P("stride", "int", 1, min=1, max=64),
            P("padding", "int", AUTO, min=0, max=64, choices=(AUTO,), doc="auto: k//2 ('same' for odd k, stride 1)"),
            P("bias", "bool", True),
            P("groups", "int", 1, min=1),
        ),
        _conv_out,
        "Conv2d",
        _conv_args,
        _conv_count,
        style={"fillcolor": "#bebada"},
        role="conv",
        doc="2-D convolution",
        resolve=_conv_resolve,
    )
)


# ---------------------------------------------------------------- normalisation
def _bn_args(ins: list[Shape], p: Params) -> dict[str, Any]:
    return {
        "num_features": ins[0][0],
        "eps": p["eps"],
        "momentum": p["momentum"],
        "weight_init": p["weight"],
        "bias_init": p["bias"],
        "frozen_weight": p["frozen"],
        "dims": 2 if len(ins[0]) == 3 else 1,
    }


def _bn_out(ins: list[Shape], p: Params) -> Shape:
    (s,) = ins
    if len(s) not in (1, 3):
        raise ShapeError(f"bn needs a C×H×W map or flat features, got {fmt_shape(s)}")
    return s


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
        "BatchNorm",
        _bn_args,
        lambda ins, out, p: (2 * ins[0][0], 0),
        style={"fillcolor": "#ffffb3"},
        role="norm",
        doc="batch normalisation",
    )
)


# ---------------------------------------------------------------- activations, regularisation
register(
    Op(
        "relu",
        (),
        same_shape,
        "ReLU",
        lambda ins, p: {"inplace": False},
        style={"fillcolor": "#fb8072"},
        role="act",
        doc="rectified linear unit",
    )
)
register(
    Op(
        "dropout",
        (P("p", "float", 0.5, min=0, max=1),),
        same_shape,
        "Dropout",
        lambda ins, p: {"p": p["p"]},
        style={"fillcolor": "#d9d9d9"},
        role="reg",
        doc="dropout with probability p",
    )
)


# ---------------------------------------------------------------- pooling
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


def _pool_args(ins: list[Shape], p: Params) -> dict[str, Any]:
    return {"kernel_size": p["k"], "stride": p["stride"], "padding": p["padding"]}


for _name, _mod in (("maxpool", "MaxPool2d"), ("avgpool", "AvgPool2d")):
    register(
        Op(
            _name,
            (
                P("k", "int", 2, min=1, max=4096),
                P("stride", "int", AUTO, min=1, max=4096, choices=(AUTO,)),
                P("padding", "int", 0, min=0, max=2048, doc="at most k//2"),
            ),
            _pool_out(_name),
            _mod,
            _pool_args,
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


register(
    Op(
        "gmp",
        (),
        _global("gmp"),
        "GlobalMaxPool",
        style={"fillcolor": "#b3de69"},
        role="pool",
        doc="global max pool: C×H×W -> C",
    )
)
register(
    Op(
        "gap",
        (),
        _global("gap"),
        "GlobalAvgPool",
        style={"fillcolor": "#b3de69"},
        role="pool",
        doc="global average pool: C×H×W -> C",
    )
)


# ---------------------------------------------------------------- reshaping, linear, scaling
register(
    Op(
        "flatten",
        (),
        lambda ins, p: (math.prod(ins[0]),),
        "Flatten",
        style={"fillcolor": "#fccde5"},
        role="reshape",
        doc="flatten to features",
    )
)


def _linear_out(ins: list[Shape], p: Params) -> Shape:
    (s,) = ins
    if len(s) != 1:
        raise ShapeError(f"linear needs flat features, got a {fmt_shape(s)} map; put gmp, gap or flatten before it")
    return (p["out"],)


register(
    Op(
        "linear",
        (P("out", "int", required=True, min=1, doc="output features"), P("bias", "bool", True)),
        _linear_out,
        "Linear",
        lambda ins, p: {"in_features": ins[0][0], "out_features": p["out"], "bias": p["bias"]},
        lambda ins, out, p: (ins[0][0] * p["out"] + (p["out"] if p["bias"] else 0), ins[0][0] * p["out"]),
        style={"fillcolor": "#bc80bd"},
        role="linear",
        doc="fully connected layer",
    )
)
register(
    Op(
        "mul",
        (P("k", "float", required=True, min=-1e30, max=1e30),),
        same_shape,
        "Mul",
        lambda ins, p: {"weight": p["k"]},
        style={"fillcolor": "#ccebc5"},
        role="scale",
        doc="multiply by a constant (what `*k` makes)",
    )
)


# ---------------------------------------------------------------- wiring
def _add_out(ins: list[Shape], p: Params) -> Shape:
    first = ins[0]
    if any(s != first for s in ins[1:]):
        raise ShapeError("branches of add must have the same shape, got " + " and ".join(fmt_shape(x) for x in ins))
    return first


def _concat_out(ins: list[Shape], p: Params) -> Shape:
    if len({len(s) for s in ins}) != 1 or len({s[1:] for s in ins}) != 1:
        raise ShapeError(
            "branches of concat must agree in every dimension but the channels, got "
            + " and ".join(fmt_shape(x) for x in ins)
        )
    return (sum(s[0] for s in ins),) + ins[0][1:]


register(
    Op(
        "identity",
        (),
        same_shape,
        "Identity",
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
        "Add",
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
        "Concat",
        branches=True,
        style={"fillcolor": "#fdb462"},
        role="concat",
        doc="channel concatenation of parallel branches",
    )
)
register(Op("input", (), same_shape, "Identity", style={"fillcolor": "white"}, role="input", doc="the network input"))

del _name, _mod
