"""The primitive registry: each op declares, in one place, its parameters with
defaults, its shape rule, its parameter/MAC count, its torch module, and its drawing style.

Nothing here imports torch: `module` names a class that `dsl.compile_torch` looks up
(in torch.nn or its own small modules) and maps the op's parameters onto.
Shapes are tuples: (C, H, W) for feature maps, (F,) for flat features.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

AUTO = "auto"  # a parameter value meaning "infer from the input" (e.g. conv(auto): same width)


class ShapeError(Exception):
    """Raised by a shape rule; the resolver turns it into a NetError at the call site."""


@dataclass(frozen=True)
class P:
    """A parameter: its type ('int', 'float', 'bool', 'str'), default and accepted range."""

    name: str
    type: str
    default: Any = None
    required: bool = False
    min: float | None = None
    max: float | None = None
    choices: tuple = ()          # symbols accepted besides (or instead of) the type
    doc: str = ""

    def check(self, value) -> str | None:
        """A complaint about `value`, or None when it is acceptable."""
        if isinstance(value, str) and value in self.choices:
            return None
        ok = {
            "int": isinstance(value, int) and not isinstance(value, bool),
            "float": isinstance(value, (int, float)) and not isinstance(value, bool),
            "bool": isinstance(value, bool),
            "str": isinstance(value, str),
        }[self.type]
        want = {"int": "a whole number", "float": "a number", "bool": "true or false", "str": "a name"}[self.type]
        if self.choices:
            want += " or " + " or ".join(repr(c) for c in self.choices)
        if not ok:
            return f"expects {want}, got {_show(value)}"
        if self.min is not None and value < self.min:
            return f"must be >= {self.min:g}, got {value}"
        if self.max is not None and value > self.max:
            return f"must be <= {self.max:g}, got {value}"
        return None


def _show(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f"'{v}'"
    return repr(v)


@dataclass(frozen=True)
class Op:
    name: str
    params: tuple[P, ...]
    shape: Callable[[list[tuple], dict], tuple]
    module: str                                # class name: torch.nn.<X> or dsl.compile_torch.<X>
    module_args: Callable[[list[tuple], dict], dict] = lambda ins, p: {}
    count: Callable[[list[tuple], tuple, dict], tuple[int, int]] = lambda ins, out, p: (0, 0)  # (params, MACs)
    branches: bool = False                     # takes parallel branch blocks as arguments (add, concat)
    style: dict = field(default_factory=dict)  # graphviz node attributes for the ops view
    role: str = ""   # what consumers key on instead of op names: conv, norm, act, pool, sum, concat, scale,
                     # identity (a pass-through), input, ...
    doc: str = ""


REGISTRY: dict[str, Op] = {}


def register(op: Op) -> Op:
    if op.name in REGISTRY:
        raise ValueError(f"op {op.name} registered twice")
    REGISTRY[op.name] = op
    return op


def alias(name: str, target: str) -> None:
    REGISTRY[name] = REGISTRY[target]


# ---------------------------------------------------------------- shape helpers
def _need_map(ins, op):
    (s,) = ins
    if len(s) != 3:
        raise ShapeError(f"{op} needs a C×H×W feature map, got {fmt_shape(s)}"
                         + ("; it is already flat" if len(s) == 1 else ""))
    return s


def _spatial(size, k, stride, pad, dilation=1):
    return (size + 2 * pad - dilation * (k - 1) - 1) // stride + 1


def fmt_shape(s) -> str:
    return "×".join(str(d) for d in s)


def _conv_pad(p):
    return p["k"] // 2 if p["padding"] == AUTO else p["padding"]


def _conv_out(ins, p):
    c, h, w = _need_map(ins, "conv")
    out_c = c if p["c"] == AUTO else p["c"]
    if c % p["groups"] or out_c % p["groups"]:
        raise ShapeError(f"groups={p['groups']} must divide both input channels ({c}) and output channels ({out_c})")
    pad = _conv_pad(p)
    oh, ow = _spatial(h, p["k"], p["stride"], pad), _spatial(w, p["k"], p["stride"], pad)
    if oh < 1 or ow < 1:
        raise ShapeError(f"a {p['k']}×{p['k']} conv (stride {p['stride']}, padding {pad}) on a "
                         f"{h}×{w} map leaves {oh}×{ow}: the spatial size shrinks below 1")
    return (out_c, oh, ow)


def _conv_count(ins, out, p):
    cin = ins[0][0]
    k2 = p["k"] * p["k"]
    weights = out[0] * (cin // p["groups"]) * k2
    return weights + (out[0] if p["bias"] else 0), weights * out[1] * out[2]


def _pool_out(name):
    def rule(ins, p):
        c, h, w = _need_map(ins, name)
        stride = p["k"] if p["stride"] == AUTO else p["stride"]
        oh, ow = _spatial(h, p["k"], stride, p["padding"]), _spatial(w, p["k"], stride, p["padding"])
        if oh < 1 or ow < 1:
            raise ShapeError(f"a {p['k']}×{p['k']} {name} (stride {stride}) on a {h}×{w} map leaves "
                             f"{oh}×{ow}: the spatial size shrinks below 1")
        return (c, oh, ow)
    return rule


def _pool_args(ins, p):
    return {"kernel_size": p["k"], "stride": p["k"] if p["stride"] == AUTO else p["stride"], "padding": p["padding"]}


def _same(ins, p):
    return ins[0]


def _add_out(ins, p):
    first = ins[0]
    for s in ins[1:]:
        if s != first:
            raise ShapeError("branches of add must have the same shape, got " + " and ".join(fmt_shape(x) for x in ins))
    return first


def _concat_out(ins, p):
    rest = {s[1:] for s in ins}
    if len({len(s) for s in ins}) != 1 or len(rest) != 1:
        raise ShapeError("branches of concat must agree in every dimension but the channels, got "
                         + " and ".join(fmt_shape(x) for x in ins))
    return (sum(s[0] for s in ins),) + ins[0][1:]


def _global(name):
    def rule(ins, p):
        c, _, _ = _need_map(ins, name)
        return (c,)
    return rule


def _flatten_out(ins, p):
    return (math.prod(ins[0]),)


def _linear_out(ins, p):
    (s,) = ins
    if len(s) != 1:
        raise ShapeError(f"linear needs flat features, got a {fmt_shape(s)} map; put gmp, gap or flatten before it")
    return (p["out"],)


def _bn_args(ins, p):
    return {"num_features": ins[0][0], "eps": p["eps"], "momentum": p["momentum"],
            "weight_init": p["weight"], "bias_init": p["bias"], "frozen_weight": p["frozen"]}


# ---------------------------------------------------------------- the primitives
register(Op(
    "conv",
    (P("c", "int", AUTO, min=1, choices=(AUTO,), doc="output channels (auto: same as input)"),
     P("k", "int", 3, min=1, max=64, doc="kernel size"),
     P("stride", "int", 1, min=1, max=64),
     P("padding", "int", AUTO, min=0, max=64, choices=(AUTO,), doc="auto: k//2 ('same' for odd k, stride 1)"),
     P("bias", "bool", True),
     P("groups", "int", 1, min=1)),
    _conv_out, "Conv2d",
    lambda ins, p: {"in_channels": ins[0][0], "out_channels": ins[0][0] if p["c"] == AUTO else p["c"],
                    "kernel_size": p["k"], "stride": p["stride"], "padding": _conv_pad(p),
                    "bias": p["bias"], "groups": p["groups"]},
    _conv_count, style={"fillcolor": "#bebada"}, role="conv", doc="2-D convolution"))

register(Op(
    "bn",
    (P("weight", "float", 1.0, choices=("uniform",), doc="initial scale: a constant, or uniform for U[0,1] (PyTorch 0.4)"),
     P("bias", "float", 0.0, doc="initial shift"),
     P("eps", "float", 1e-5, min=0),
     P("momentum", "float", 0.1, min=0, max=1),
     P("frozen", "bool", False, doc="true: the scale is not trained")),
    _same, "BatchNorm", _bn_args,
    lambda ins, out, p: (2 * ins[0][0], 0), style={"fillcolor": "#ffffb3"}, role="norm", doc="batch normalisation"))

register(Op("relu", (), _same, "ReLU", lambda ins, p: {"inplace": False},
            style={"fillcolor": "#fb8072"}, role="act", doc="rectified linear unit"))

for _name, _mod, _fill in (("maxpool", "MaxPool2d", "#8dd3c7"), ("avgpool", "AvgPool2d", "#8dd3c7")):
    register(Op(_name,
                (P("k", "int", 2, min=1, max=4096), P("stride", "int", AUTO, min=1, choices=(AUTO,)),
                 P("padding", "int", 0, min=0)),
                _pool_out(_name), _mod, _pool_args, style={"fillcolor": _fill}, role="pool",
                doc=f"{_name[:3]} pooling over k×k windows (stride defaults to k)"))

register(Op("gmp", (), _global("gmp"), "GlobalMaxPool", style={"fillcolor": "#b3de69"}, role="pool",
            doc="global max pool: C×H×W -> C"))
register(Op("gap", (), _global("gap"), "GlobalAvgPool", style={"fillcolor": "#b3de69"}, role="pool",
            doc="global average pool: C×H×W -> C"))
register(Op("flatten", (), _flatten_out, "Flatten", style={"fillcolor": "#fccde5"}, role="reshape",
            doc="flatten to features"))
register(Op(
    "linear", (P("out", "int", required=True, min=1, doc="output features"), P("bias", "bool", True)),
    _linear_out, "Linear",
    lambda ins, p: {"in_features": ins[0][0], "out_features": p["out"], "bias": p["bias"]},
    lambda ins, out, p: (ins[0][0] * p["out"] + (p["out"] if p["bias"] else 0), ins[0][0] * p["out"]),
    style={"fillcolor": "#bc80bd"}, role="linear", doc="fully connected layer"))
register(Op("mul", (P("k", "float", required=True),), _same, "Mul", lambda ins, p: {"weight": p["k"]},
            style={"fillcolor": "#ccebc5"}, role="scale", doc="multiply by a constant (what `*k` makes)"))
register(Op("identity", (), _same, "Identity", style={"fillcolor": "white"}, role="identity",
            doc="pass the input through (a shortcut branch)"))
register(Op("add", (), _add_out, "Add", branches=True, style={"fillcolor": "#fdb462"}, role="sum",
            doc="sum of parallel branches (same shape)"))
register(Op("concat", (), _concat_out, "Concat", branches=True, style={"fillcolor": "#fdb462"}, role="concat",
            doc="channel concatenation of parallel branches"))
register(Op("dropout", (P("p", "float", 0.5, min=0, max=1),), _same, "Dropout", lambda ins, p: {"p": p["p"]},
            style={"fillcolor": "#d9d9d9"}, role="reg", doc="dropout with probability p"))
register(Op("input", (), _same, "Identity", style={"fillcolor": "white"}, role="input", doc="the network input"))

del _name, _mod, _fill
