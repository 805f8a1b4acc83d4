"""What names mean at one point of the expansion: `Env` (definitions and a call's parameters)
and what a parameter holds (`Value` or `Thunk`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dsl.core.ops import AUTO, REGISTRY
from dsl.errors import Span
from dsl.front import ast

BASE_SYMBOLS = frozenset({AUTO, "uniform"})


def is_symbol(name: str) -> bool:
    """Whether a bare word is a value (`auto`, `same`, `bilinear`, ...): one of the registry's choices.
    An op's name is a block, even where it is also a choice (`tanh`, as in gelu(approximate=tanh))."""
    if name in REGISTRY:
        return False
    return name in BASE_SYMBOLS or any(name in p.choices for op in REGISTRY.values() for p in op.params)


@dataclass(frozen=True)
class Value:
    """A parameter holding a value."""

    value: Any
    span: Span


@dataclass(frozen=True)
class Thunk:
    """A parameter holding a block: its expression, the environment it came from, the
    definitions being expanded where it was written (a block passed in is finite text, so
    expanding it is not recursion of the definition it is passed to), and whether it was
    written inside a chosen search-space option (for variant naming)."""

    expr: ast.Expr
    env: Env
    calls: tuple[str, ...] = ()
    in_option: bool = False


Binding = Value | Thunk


@dataclass(frozen=True)
class Site:
    """Where a name is used as a block: the name, its arguments and where it is written."""

    name: str
    args: Sequence[ast.Expr]
    kwargs: Sequence[ast.Kwarg]
    span: Span  # the whole use (`conv(64, k=3)`)
    name_span: Span  # the name alone

    @classmethod
    def of(cls, e: ast.Ref | ast.Call) -> Site:
        """The site of a bare name or a call."""
        if isinstance(e, ast.Call):
            return cls(e.name, e.args, e.kwargs, e.span, e.name_span)
        return cls(e.name, (), (), e.span, e.span)


class Env:
    """The names visible at one point: the program's definitions (and which of them are value
    definitions, worked out once: `values.top_env` makes the top-level one) and a call's parameters."""

    __slots__ = ("defs", "local", "value_defs")

    def __init__(self, defs: dict[str, ast.Def], local: dict[str, Binding] | None, value_defs: frozenset[str]):
        self.defs = defs
        self.local: dict[str, Binding] = local or {}
        self.value_defs = value_defs  # `values.top_env` works them out

    def child(self, local: dict[str, Binding]) -> Env:
        """The environment inside a definition's body."""
        return Env(self.defs, local, self.value_defs)

    def top(self) -> Env:
        """The top-level environment (definitions only)."""
        return Env(self.defs, None, self.value_defs)

    def names(self) -> set[str]:
        """Every name a reference could mean here (for did-you-mean hints)."""
        return set(self.local) | set(self.defs) | set(REGISTRY)
