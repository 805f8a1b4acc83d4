"""The op registry: each primitive declares, in one place, its parameters (types, defaults,
ranges), how `auto` values resolve, its shape rule, its parameter/MAC count, the builder of
its torch module and its drawing style.

Nothing here imports torch: `Op.build` is a callable that imports torch itself when a graph
is compiled, so `netc check`, `summary` and `draw` never load it. Shapes are tuples:
(C, H, W) for feature maps, (F,) for flat features, (L, D) for tokens (a sequence of L
vectors of D features, as a transformer sees them).

netc's own primitives (`dsl.core.primitives`) are registered through `register`, the same public
call a plugin uses (`dsl.register_op` is the same function):

    from dsl.core.ops import Op, P, register, same_shape

    def build_swish(ins, p):
        import torch.nn
        return torch.nn.SiLU()

    register(Op("swish", (), same_shape, build_swish, style={"fillcolor": "#fb8072"}, role="act",
                doc="x * sigmoid(x)"))

An op with learnable weights (`weights=True`) also gets the parameters `frozen` (none of its
parameters are trained), `init` (how its weight starts: a name from `INITS` or a constant) and
`init_std` (for `normal` and `trunc_normal`), unless it declares them itself; the compiler
applies them to whatever module the builder returns.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dsl.errors import show_value as show_value  # re-exported: the primitives' messages show values with it

AUTO = "auto"  # a parameter value meaning "infer from the input" (e.g. conv(auto): same width)

Shape = tuple[int, ...]
Params = dict[str, Any]


class ShapeError(Exception):
    """Raised by a shape rule; the expander turns it into a located NetError at the call site."""


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_pair(v: Any) -> bool:
    return _is_int(v) or (isinstance(v, tuple) and len(v) == 2 and all(_is_int(x) for x in v))


_TYPE_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "int": (_is_int, "a whole number"),
    "float": (_is_number, "a number"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "str": (lambda v: isinstance(v, str), "a name"),
    "pair": (_is_pair, "a whole number or a pair of them, e.g. (1, 7)"),
}


def pair(v: int | tuple[int, int]) -> tuple[int, int]:
    """A `pair` parameter's value as (height, width)."""
    return (v, v) if isinstance(v, int) else (v[0], v[1])


@dataclass(frozen=True)
class P:
    """A parameter: its type ('int', 'float', 'bool', 'str'), default and accepted range."""

    name: str
    type: str
    default: Any = None
    required: bool = False
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()  # symbols accepted besides (or instead of) the type
    doc: str = ""
    keyword: bool = False  # only by name (`frozen=true`), never by position

    def __post_init__(self) -> None:
        if self.type not in _TYPE_CHECKS:
            raise ValueError(f"parameter {self.name}: unknown type {self.type!r}; use one of {', '.join(_TYPE_CHECKS)}")

    def check(self, value: Any) -> str | None:
        """A complaint about `value`, or None when it is acceptable."""
        if isinstance(value, str) and value in self.choices:
            return None
        if self.type == "str" and self.choices:
            return f"expects one of {', '.join(repr(c) for c in self.choices)}, got {show_value(value)}"
        ok, want = _TYPE_CHECKS[self.type]
        if not ok(value):
            if self.choices:
                want += " or " + " or ".join(repr(c) for c in self.choices)
            return f"expects {want}, got {show_value(value)}"
        for v in value if isinstance(value, tuple) else (value,):  # a pair: each of its numbers
            if self.min is not None and v < self.min:
                return f"must be >= {self.min:g}, got {show_value(value)}"
            if self.max is not None and v > self.max:
                return f"must be <= {self.max:g}, got {show_value(value)}"
        return None


def _no_count(ins: list[Shape], out: Shape, p: Params) -> tuple[int, int]:
    return (0, 0)


def _as_given(ins: list[Shape], p: Params) -> Params:
    return p


ShapeRule = Callable[[list[Shape], Params], Shape]
Builder = Callable[[list[Shape], Params], Any]  # returns a torch.nn.Module (imports torch itself)
CountRule = Callable[[list[Shape], Shape, Params], tuple[int, int]]  # (parameters, MACs)

INITS = (
    "default",
    "zeros",
    "ones",
    "dirac",
    "dirac_part",
    "kaiming_normal",
    "kaiming_uniform",
    "xavier_normal",
    "xavier_uniform",
    "normal",
    "trunc_normal",
)
WEIGHT_PARAMS = (
    P("frozen", "bool", False, doc="true: none of the op's parameters are trained", keyword=True),
    P(
        "init",
        "float",
        "default",
        min=-1e6,
        max=1e6,
        choices=INITS,
        doc="how the weight starts: " + ", ".join(INITS) + ", or a constant",
        keyword=True,
    ),
    P("init_std", "float", 0.02, min=0, max=10, doc="standard deviation for init=normal / trunc_normal", keyword=True),
)


@dataclass(frozen=True)
class Op:
    """One primitive. `shape`, `count` and `build` see concrete parameters: `resolve`
    has already replaced every `auto` (so the graph holds only concrete values)."""

    name: str
    params: tuple[P, ...]
    shape: ShapeRule
    build: Builder
    count: CountRule = _no_count
    branches: bool = False  # takes parallel branch blocks as arguments (add, concat)
    style: Mapping[str, str] = field(default_factory=dict)  # graphviz node attributes for the ops view
    role: str = ""  # what consumers key on instead of op names: conv, norm, act, pool, sum, concat, scale,
    # identity (a pass-through), input, linear, reshape, reg, embed, attention
    doc: str = ""
    resolve: Callable[[list[Shape], Params], Params] = _as_given  # auto -> concrete, from input shapes
    weights: bool = False  # has learnable weights: gets WEIGHT_PARAMS (frozen, init, init_std)
    generic: frozenset[str] = frozenset()  # the WEIGHT_PARAMS `register` added (the compiler applies them)

    @property
    def param_names(self) -> list[str]:
        """The parameter names in declaration order."""
        return [p.name for p in self.params]

    @property
    def positional(self) -> list[str]:
        """The parameters a call may give by position, in order (the others only by name)."""
        return [p.name for p in self.params if not p.keyword]


REGISTRY: dict[str, Op] = {}


def register(op: Op) -> Op:
    """Add a primitive to the language (the public API netc's own ops use too); returns the
    registered op. Refuses a name already taken, an invalid name or malformed parameters."""
    from dataclasses import replace

    if op.name in REGISTRY:
        raise ValueError(f"op {op.name} registered twice")
    if not op.name.isidentifier() or op.name in ("use", "train", "true", "false", "classes"):
        raise ValueError(f"op name {op.name!r} is not a valid .net name")
    names = [p.name for p in op.params]
    if len(set(names)) != len(names):
        raise ValueError(f"op {op.name}: a parameter name appears twice")
    if not callable(op.shape) or not callable(op.build):
        raise ValueError(f"op {op.name}: shape and build must be callables")
    if op.weights:
        extra = tuple(p for p in WEIGHT_PARAMS if p.name not in names)
        op = replace(op, params=op.params + extra, generic=frozenset(p.name for p in extra))
    REGISTRY[op.name] = op
    return op


def fmt_shape(s: Shape | list[int]) -> str:
    """`128×16×16`."""
    return "×".join(str(d) for d in s)


def same_shape(ins: list[Shape], p: Params) -> Shape:
    """The shape rule of element-wise ops: the output has the input's shape."""
    return ins[0]


def channels(s: Shape) -> int:
    """The width of a shape: C of a C×H×W map, F of flat features, D of L×D tokens (what
    `in_channels` means in a .net file)."""
    return s[-1] if len(s) == 2 else s[0]


def describe(s: Shape) -> str:
    """A shape with its kind, for messages: `a 64×8×8 map`, `16 flat features`, `65×192 tokens`."""
    if len(s) == 1:
        return f"{s[0]} flat features"
    if len(s) == 2:
        return f"{fmt_shape(s)} tokens"
    return f"a {fmt_shape(s)} map"


def need_map(ins: list[Shape], op: str) -> Shape:
    """The single input, which must be a C×H×W map (for shape rules)."""
    (s,) = ins
    if len(s) != 3:
        hint = {1: "; it is already flat", 2: "; to_map turns tokens back into a map"}.get(len(s), "")
        raise ShapeError(f"{op} needs a C×H×W feature map, got {describe(s)}{hint}")
    return s


def need_flat(ins: list[Shape], op: str, hint: str = "put gmp, gap or flatten before it") -> Shape:
    """The single input, which must be flat features (for shape rules)."""
    (s,) = ins
    if len(s) == 2:
        raise ShapeError(f"{op} needs flat features, got {describe(s)}; token_pool (class or mean) pools them")
    if len(s) != 1:
        raise ShapeError(f"{op} needs flat features, got a {fmt_shape(s)} map; {hint}")
    return s


def need_tokens(ins: list[Shape], op: str) -> Shape:
    """The single input, which must be L×D tokens (for shape rules)."""
    (s,) = ins
    if len(s) != 2:
        hint = "; patchify or to_tokens turns a map into tokens" if len(s) == 3 else ""
        raise ShapeError(f"{op} needs L×D tokens, got {describe(s)}{hint}")
    return s


def spatial(size: int, k: int, stride: int, pad: int, dilation: int = 1, ceil: bool = False) -> int:
    """Output length of a convolution or pooling window along one axis (PyTorch's formula)."""
    span = size + 2 * pad - dilation * (k - 1) - 1
    if not ceil:
        return span // stride + 1
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + pad:  # PyTorch: the last window must start inside the input or its left padding
        out -= 1
    return out


class ParamError(Exception):
    """Raised by a `resolve` rule when parameters cannot work together (e.g. padding=auto with an
    even kernel); the expander reports it at the call site."""


from dsl.core import primitives as _primitives  # noqa: E402,F401  (registers netc's own ops on import)
