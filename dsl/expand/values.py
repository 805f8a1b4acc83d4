"""Values in a .net file: numbers, booleans, strings, symbols, tuples and arithmetic on them.

An expression is a *value* when everything in it is: literals, parameters holding values,
the symbols (`auto`, `uniform`, `same`, ...), `in_channels` (the channel count of the input
where the value is used), value definitions (`classes = 10`) and `+ - * / //` and unary `-` on
those. Anything else is a block. `x*k` is a scaled block when `x` is a block, a product when
`x` is a value: the same text, decided here.
"""

from __future__ import annotations

import math
from typing import Any

from .. import ast
from ..errors import NetError, Span
from ..ops import REGISTRY
from .env import Env, Value, is_symbol

IN_CHANNELS = "in_channels"
MAX_MAGNITUDE = 10**18  # whole numbers in a .net file; beyond, sizes are absurd anyway


def is_value_def(d: ast.Def, env: Env, seen: frozenset[str] = frozenset()) -> bool:
    """Whether a definition is a value (`classes = 10`): no parameters, a value body."""
    if d.params:
        return False
    # a value definition that refers back to itself still reads as a value: evaluating it says so
    return d.name in seen or is_value(d.body, env, seen | {d.name})


def is_value(e: ast.Expr, env: Env, seen: frozenset[str] = frozenset()) -> bool:
    """Whether `e` denotes a value (not a block) in `env`."""
    if isinstance(e, ast.Literal):
        return True
    if isinstance(e, ast.Ref):
        b = env.local.get(e.name)
        if b is not None:
            return isinstance(b, Value)
        if e.name == IN_CHANNELS:
            return True
        if e.name not in env.defs and is_symbol(e.name):
            return True
        d = env.defs.get(e.name)
        return d is not None and is_value_def(d, env.top(), seen)
    if isinstance(e, ast.Tuple):
        return all(is_value(i, env, seen) for i in e.items)
    if isinstance(e, ast.Neg):
        return is_value(e.operand, env, seen)
    if isinstance(e, ast.BinOp):
        return is_value(e.left, env, seen) and is_value(e.right, env, seen)
    return False


def unknown_name(e: ast.Expr, env: Env) -> ast.Ref | None:
    """The first name in `e` that means nothing here (not a parameter, definition, op or symbol)."""
    for node in ast.walk(e):
        if (
            isinstance(node, ast.Ref)
            and node.name not in env.local
            and node.name not in env.defs
            and node.name != IN_CHANNELS
            and not is_symbol(node.name)
            and node.name not in REGISTRY
        ):
            return node
    return None


def evaluate(e: ast.Expr, env: Env, in_channels: int | None, seen: tuple[str, ...] = ()) -> Value:
    """The value of `e`; a NetError at its place for division by zero, out-of-range numbers,
    arithmetic on non-numbers, or a block where a value is needed."""
    if isinstance(e, ast.Literal):
        return Value(e.value, e.span)
    if isinstance(e, ast.Ref):
        b = env.local.get(e.name)
        if isinstance(b, Value):
            return b
        if b is None and e.name not in env.defs and is_symbol(e.name):
            return Value(e.name, e.span)
        if b is None and e.name == IN_CHANNELS:
            if in_channels is None:
                raise NetError("in_channels is only known where a block has an input", e.span)
            return Value(in_channels, e.span)
        d = env.defs.get(e.name) if b is None else None
        if d is not None and not d.params:
            if d.name in seen:
                chain = " -> ".join([*seen[seen.index(d.name) :], d.name])
                raise NetError(f"value definition refers to itself: {chain}", e.span)
            v = evaluate(d.body, env.top(), in_channels, (*seen, d.name))
            return Value(v.value, e.span)
        raise NetError(f"'{e.name}' is a block where a value is needed", e.span)
    if isinstance(e, ast.Tuple):
        return Value(tuple(evaluate(i, env, in_channels, seen).value for i in e.items), e.span)
    if isinstance(e, ast.Neg):
        n = _number(evaluate(e.operand, env, in_channels, seen), "-")
        return Value(_checked(-n, e.span), e.span)
    if isinstance(e, ast.BinOp):
        left = _number(evaluate(e.left, env, in_channels, seen), e.op)
        right = _number(evaluate(e.right, env, in_channels, seen), e.op)
        return Value(_checked(_apply(e.op, left, right, e.span), e.span), e.span)
    raise NetError("a block where a value is needed", getattr(e, "span", None))


def _number(v: Value, op: str) -> int | float:
    if isinstance(v.value, bool) or not isinstance(v.value, (int, float)):
        shown = v.value if not isinstance(v.value, str) else f"'{v.value}'"
        raise NetError(f"'{op}' needs numbers, got {shown}", v.span)
    return v.value


def _apply(op: str, a: int | float, b: int | float, span: Span) -> int | float:
    if op in ("/", "//") and b == 0:
        raise NetError("division by zero", span)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return a / b
    return a // b


def _checked(v: Any, span: Span) -> int | float:
    if isinstance(v, float) and not math.isfinite(v):
        raise NetError("the result is out of range", span)
    if abs(v) > MAX_MAGNITUDE:
        raise NetError(f"the result {v:.4g} is out of range", span)
    return v
