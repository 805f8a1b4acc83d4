"""The op registry: each primitive declares, in one place, its parameters (types, defaults,
ranges), how `auto` values resolve, its shape rule, its parameter/MAC count, the torch module
it compiles to and its drawing style.

Nothing here imports torch: `Op.module` names a class that `dsl.compile_torch` looks up (in
torch.nn or its own small modules) and `Op.module_args` maps the op's parameters onto it.
Shapes are tuples: (C, H, W) for feature maps, (F,) for flat features.

netc's own primitives (`dsl.primitives`) are registered through `register`, the same public
call a plugin uses:

    from dsl.ops import Op, P, register
    register(Op("swish", (), same_shape, "SiLU", style={"fillcolor": "#fb8072"}, role="act"))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

AUTO = "auto"  # a parameter value meaning "infer from the input" (e.g. conv(auto): same width)

Shape = tuple[int, ...]
Params = dict[str, Any]


class ShapeError(Exception):
    """Raised by a shape rule; the expander turns it into a located NetError at the call site."""


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


_TYPE_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "int": (_is_int, "a whole number"),
    "float": (_is_number, "a number"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "str": (lambda v: isinstance(v, str), "a name"),
}


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

    def __post_init__(self) -> None:
        if self.type not in _TYPE_CHECKS:
            raise ValueError(f"parameter {self.name}: unknown type {self.type!r}; use one of {', '.join(_TYPE_CHECKS)}")

    def check(self, value: Any) -> str | None:
        """A complaint about `value`, or None when it is acceptable."""
        if isinstance(value, str) and value in self.choices:
            return None
        ok, want = _TYPE_CHECKS[self.type]
        if not ok(value):
            if self.choices:
                want += " or " + " or ".join(repr(c) for c in self.choices)
            return f"expects {want}, got {show_value(value)}"
        if self.min is not None and value < self.min:
            return f"must be >= {self.min:g}, got {value}"
        if self.max is not None and value > self.max:
            return f"must be <= {self.max:g}, got {value}"
        return None


def show_value(v: Any) -> str:
    """A value as the user wrote it (true, 'name', 3.5)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f"'{v}'"
    return repr(v)


def _no_module_args(ins: list[Shape], p: Params) -> dict[str, Any]:
    return {}


def _no_count(ins: list[Shape], out: Shape, p: Params) -> tuple[int, int]:
    return (0, 0)


def _as_given(ins: list[Shape], p: Params) -> Params:
    return p


@dataclass(frozen=True)
class Op:
    """One primitive. `shape`, `count` and `module_args` see concrete parameters: `resolve`
    has already replaced every `auto` (so the graph holds only concrete values)."""

    name: str
    params: tuple[P, ...]
    shape: Callable[[list[Shape], Params], Shape]
    module: str  # class name: torch.nn.<X> or dsl.compile_torch.<X>
    module_args: Callable[[list[Shape], Params], dict[str, Any]] = _no_module_args
    count: Callable[[list[Shape], Shape, Params], tuple[int, int]] = _no_count  # (params, MACs)
    branches: bool = False  # takes parallel branch blocks as arguments (add, concat)
    style: Mapping[str, str] = field(default_factory=dict)  # graphviz node attributes for the ops view
    role: str = ""  # what consumers key on instead of op names: conv, norm, act, pool, sum, concat, scale,
    # identity (a pass-through), input, linear, reshape, reg
    doc: str = ""
    resolve: Callable[[list[Shape], Params], Params] = _as_given  # auto -> concrete, from input shapes

    @property
    def param_names(self) -> list[str]:
        """The parameter names in declaration order (positional order in calls)."""
        return [p.name for p in self.params]


REGISTRY: dict[str, Op] = {}


def register(op: Op) -> Op:
    """Add a primitive to the language; refuses a name that is already taken."""
    if op.name in REGISTRY:
        raise ValueError(f"op {op.name} registered twice")
    if not op.name.isidentifier():
        raise ValueError(f"op name {op.name!r} is not a valid .net name")
    REGISTRY[op.name] = op
    return op


def fmt_shape(s: Shape | list[int]) -> str:
    """`128×16×16`."""
    return "×".join(str(d) for d in s)


def same_shape(ins: list[Shape], p: Params) -> Shape:
    """The shape rule of element-wise ops: the output has the input's shape."""
    return ins[0]


def need_map(ins: list[Shape], op: str) -> Shape:
    """The single input, which must be a C×H×W map."""
    (s,) = ins
    if len(s) != 3:
        raise ShapeError(
            f"{op} needs a C×H×W feature map, got {fmt_shape(s)}" + ("; it is already flat" if len(s) == 1 else "")
        )
    return s


def spatial(size: int, k: int, stride: int, pad: int, dilation: int = 1) -> int:
    """Output length of a convolution or pooling window along one axis."""
    return (size + 2 * pad - dilation * (k - 1) - 1) // stride + 1


from . import primitives as _primitives  # noqa: E402,F401  (registers netc's own ops on import)
