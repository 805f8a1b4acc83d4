"""The syntax tree of a .net file: plain dataclasses, each with its source span.

Expressions (`Expr`) describe blocks; statements (`Use`, `Input`, `Train`, `Def`, `NetLine`)
make up a `Module`, one parsed file. Nodes compare by identity (`eq=False`): a search-space
choice is *this* `Opt` or `Alt` node, wherever its text happens to sit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from dsl.errors import Span

Value = int | float | str | bool | list["Value"] | tuple["Value", ...]


@dataclass(eq=False)
class Ref:
    """A bare name: a definition, a primitive, a parameter or a symbol (`auto`)."""

    name: str
    span: Span


@dataclass(eq=False)
class Kwarg:
    """`name=value` inside a call."""

    name: str
    value: Expr
    span: Span


@dataclass(eq=False)
class Call:
    """`name(args, key=value)`."""

    name: str
    args: list[Expr]
    kwargs: list[Kwarg]
    span: Span
    name_span: Span


@dataclass(eq=False)
class Literal:
    """A number, string or boolean written in an argument list (or, as an option of a training
    setting's choice, any setting value)."""

    value: Value
    span: Span


@dataclass(eq=False)
class Seq:
    """`a -> b -> c`."""

    items: list[Expr]
    span: Span


@dataclass(eq=False)
class Alt:
    """Search space: exactly one of the options (`a | b`)."""

    options: list[Expr]
    span: Span


@dataclass(eq=False)
class Opt:
    """Search space: the block or nothing (`a?`)."""

    body: Expr
    span: Span


@dataclass(eq=False)
class Range:
    """Search space: one of the numbers `lo, lo+step, ..., hi` (`16..256 step 16`, `0.1..0.5 step 0.1`).

    The ends and the step are numbers as written; `count` is how many values there are. Values
    are worked out in decimal from the written text, so `0.1..0.3 step 0.1` holds 0.3, not
    0.30000000000000004."""

    lo: int | float
    hi: int | float
    step: int | float | None  # None: written without a step (whole numbers, step 1)
    count: int
    span: Span

    def value(self, i: int) -> int | float:
        """The i-th value (0 is `lo`)."""
        step = 1 if self.step is None else self.step
        if isinstance(self.lo, int) and isinstance(step, int):
            return self.lo + i * step
        return float(Decimal(repr(self.lo)) + i * Decimal(repr(step)))


@dataclass(eq=False)
class BinOp:
    """`a + b`, `a - b`, `a * b`, `a / b`, `a // b`: arithmetic on values; `block * k` scales a block."""

    op: str
    left: Expr
    right: Expr
    span: Span


@dataclass(eq=False)
class Neg:
    """`-a`."""

    operand: Expr
    span: Span


@dataclass(eq=False)
class Tuple:
    """`(1, 7)`: a tuple value."""

    items: list[Expr]
    span: Span


@dataclass(eq=False)
class Repeat:
    """`a^n`: the block n times in sequence (n a value expression)."""

    body: Expr
    times: Expr
    span: Span


@dataclass(eq=False)
class Named:
    """`name: block`: the block's name in the graph and the compiled module."""

    name: str
    body: Expr
    span: Span
    name_span: Span


@dataclass(eq=False)
class BlockList:
    """`[a, b, c]`: a sequence whose items are named 0, 1, 2, ... (like torch's nn.Sequential)."""

    items: list[Expr]
    span: Span


Expr = Ref | Call | Literal | Seq | Alt | Opt | Range | BinOp | Neg | Tuple | Repeat | Named | BlockList
Choice = Alt | Opt | Range


def children(e: Expr) -> list[Expr]:
    """The sub-expressions of `e`, in source order."""
    if isinstance(e, (Seq, Tuple, BlockList)):
        return e.items
    if isinstance(e, Alt):
        return e.options
    if isinstance(e, (Opt, Named)):
        return [e.body]
    if isinstance(e, Repeat):
        return [e.body, e.times]
    if isinstance(e, BinOp):
        return [e.left, e.right]
    if isinstance(e, Neg):
        return [e.operand]
    if isinstance(e, Call):
        return [*e.args, *(k.value for k in e.kwargs)]
    return []


def walk(e: Expr) -> Iterator[Expr]:
    """Every node of the expression tree, pre-order, without recursion."""
    stack = [e]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(children(node)))


def has_choice(e: Expr) -> bool:
    """Whether the expression itself (not the definitions it names) holds a `?` or `|`."""
    return any(isinstance(n, (Alt, Opt, Range)) for n in walk(e))


def setting_choices(v: object) -> list[Alt | Range]:
    """The search-space choices written in a training setting's value, outermost first (those inside
    an option of another are listed after it)."""
    found: list[Alt | Range] = []
    stack = [v]
    while stack:
        x = stack.pop()
        if isinstance(x, (Alt, Range)):
            found.append(x)
            if isinstance(x, Alt):
                stack.extend(o.value for o in reversed(x.options) if isinstance(o, Literal))
        elif isinstance(x, (list, tuple)):
            stack.extend(reversed(x))
    return found


@dataclass(eq=False)
class Param:
    """A definition's parameter, with its default (a value or a block) if any."""

    name: str
    default: Expr | None
    span: Span


@dataclass(eq=False)
class Def:
    """`name(params) "Label" = body`."""

    name: str
    params: list[Param]
    label: str | None
    body: Expr
    span: Span  # the whole statement
    name_span: Span
    file: str = ""


@dataclass(eq=False)
class Use:
    """`use "file.net"`."""

    path: str
    span: Span


@dataclass(eq=False)
class Input:
    """`input 3x32x32` (a map) or `input 784` (flat features)."""

    shape: tuple[int, ...]
    span: Span


@dataclass(eq=False)
class Setting:
    """`key = value` inside `train { }`."""

    key: str
    value: Value | Alt | Range  # a choice's options are `Literal`s
    span: Span


@dataclass(eq=False)
class Train:
    """`train { key = value ... }`."""

    settings: list[Setting]
    span: Span


@dataclass(eq=False)
class NetLine:
    """The file's network expression."""

    expr: Expr
    span: Span


Statement = Use | Input | Train | Def | NetLine


@dataclass(eq=False)
class Module:
    """One parsed file."""

    file: str
    text: str
    defs: list[Def] = field(default_factory=list)
    uses: list[Use] = field(default_factory=list)
    settings: list[Setting] = field(default_factory=list)
    input: Input | None = None
    net: NetLine | None = None
