"""What names mean at one point of the expansion: `Env` (definitions and a call's parameters)
and what a parameter holds (`Value` or `Thunk`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

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


class Chooser(Protocol):
    """What resolves search-space choices (`dsl.expand.choices.Decisions`)."""

    def option(self, e: ast.Choice) -> ast.Expr | None:
        """The decided option of `e` (None: an absent `x?`)."""


class Env:
    """The names visible at one point: the program's definitions (and which of them are value
    definitions, worked out once: `values.top_env` makes the top-level one), a call's parameters,
    and the decisions of the search-space choices (None: every choice takes its first option)."""

    __slots__ = ("decisions", "defs", "local", "value_defs")

    def __init__(
        self,
        defs: dict[str, ast.Def],
        local: dict[str, Binding] | None,
        value_defs: frozenset[str],
        decisions: Chooser | None = None,
    ):
        self.defs = defs
        self.local: dict[str, Binding] = local or {}
        self.value_defs = value_defs  # `values.top_env` works them out
        self.decisions = decisions

    def child(self, local: dict[str, Binding]) -> Env:
        """The environment inside a definition's body."""
        return Env(self.defs, local, self.value_defs, self.decisions)

    def top(self) -> Env:
        """The top-level environment (definitions only)."""
        return Env(self.defs, None, self.value_defs, self.decisions)

    def option(self, e: ast.Alt | ast.Range) -> ast.Expr:
        """The decided option of a value choice (the first without decisions)."""
        picked = self.decisions.option(e) if self.decisions is not None else None
        if picked is not None:
            return picked
        return e.options[0] if isinstance(e, ast.Alt) else ast.Literal(e.value(0), e.span)

    def names(self) -> set[str]:
        """Every name a reference could mean here (for did-you-mean hints)."""
        return set(self.local) | set(self.defs) | set(REGISTRY)
