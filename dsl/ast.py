"""The syntax tree of a .net file: plain dataclasses, each with its source span."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

from .errors import Span


@dataclass(eq=False)
class Ref:
    name: str
    span: Span


@dataclass(eq=False)
class Kwarg:
    name: str
    value: "Expr"
    span: Span


@dataclass(eq=False)
class Call:
    name: str
    args: list["Expr"]
    kwargs: list[Kwarg]
    span: Span
    name_span: Span


@dataclass(eq=False)
class Literal:
    value: Any  # int, float, str or bool
    span: Span


@dataclass(eq=False)
class Seq:
    items: list["Expr"]
    span: Span


@dataclass(eq=False)
class Alt:
    """Search space: exactly one of the options (`a | b`)."""
    options: list["Expr"]
    span: Span


@dataclass(eq=False)
class Opt:
    """Search space: the block or nothing (`a?`)."""
    body: "Expr"
    span: Span


@dataclass(eq=False)
class Scale:
    body: "Expr"
    factor: float
    span: Span


@dataclass(eq=False)
class Repeat:
    body: "Expr"
    times: int
    span: Span


Expr = Union[Ref, Call, Literal, Seq, Alt, Opt, Scale, Repeat]


@dataclass(eq=False)
class Param:
    name: str
    default: Expr | None
    span: Span


@dataclass(eq=False)
class Def:
    name: str
    params: list[Param]
    label: str | None
    body: Expr
    span: Span        # the whole statement
    name_span: Span
    file: str = ""


@dataclass(eq=False)
class Use:
    path: str
    span: Span


@dataclass(eq=False)
class Setting:
    key: str
    value: Any
    span: Span


@dataclass(eq=False)
class Module:
    """One parsed file."""
    file: str
    text: str
    defs: list[Def] = field(default_factory=list)
    uses: list[Use] = field(default_factory=list)
    settings: list[Setting] = field(default_factory=list)
    input_shape: tuple[int, ...] | None = None
    input_span: Span | None = None
    net: Expr | None = None
    net_span: Span | None = None
