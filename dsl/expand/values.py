"""Values in a .net file: numbers, booleans, strings, symbols, tuples and arithmetic on them.

An expression is a *value* when everything in it is: literals, parameters holding values,
the symbols (`auto`, `uniform`, `same`, ...), `in_channels` (the channel count of the input
where the value is used), value definitions (`classes = 10`), `+ - * / //` and unary `-` on
those, and the value functions (`min`, `max`, `round`, `floor`, `ceil`, `divisible`). Anything else is a block. `x*k` is a scaled block when `x` is a block, a product when
`x` is a value: the same text, decided here.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from typing import Any

from dsl.core.ops import REGISTRY
from dsl.errors import NetError, Span
from dsl.expand.env import Chooser, Env, Value, is_symbol
from dsl.front import ast

IN_CHANNELS = "in_channels"
MAX_MAGNITUDE = 10**18  # whole numbers in a .net file; beyond, sizes are absurd anyway


def _divisible(v: float, d: float = 8, low: float | None = None) -> int | float:
    """torchvision's `_make_divisible`: `v` to the nearest multiple of `d` (at least `low`, default
    `d`), never more than 10% below `v`."""
    if d <= 0:
        raise ValueError("the divisor must be above 0")
    low = d if low is None else low
    out = max(low, int(v + d / 2) // d * d)
    if out < 0.9 * v:
        out += d
    return int(out) if float(out).is_integer() else out


# name -> (function, fewest and most arguments, what it does): the functions a value may call
FUNCTIONS: dict[str, tuple[Callable[..., int | float], int, int, str]] = {
    "min": (min, 2, 64, "the smallest of its arguments"),
    "max": (max, 2, 64, "the largest of its arguments"),
    "round": (lambda x: int(round(x)), 1, 1, "the nearest whole number (halves to even, as Python)"),
    "floor": (lambda x: math.floor(x), 1, 1, "the whole number at or below"),
    "ceil": (lambda x: math.ceil(x), 1, 1, "the whole number at or above"),
    "divisible": (_divisible, 1, 3, "divisible(v, d=8, low=d): torchvision's _make_divisible"),
}


COPY = "copy"  # inside a repeat `b^n`, the index of the copy being made (0 .. n-1)
# a Repeat node -> whether its body names `copy` (asked once per node; forgotten with the node)
_USES_COPY: weakref.WeakKeyDictionary[ast.Repeat, bool] = weakref.WeakKeyDictionary()


def uses_copy(e: ast.Repeat) -> bool:
    """Whether a repeat's body reads the copy index (then its copies may differ)."""
    known = _USES_COPY.get(e)
    if known is None:
        known = _USES_COPY[e] = any(isinstance(n, ast.Ref) and n.name == COPY for n in ast.walk(e.body))
    return known


def with_copy(env: Env, e: ast.Repeat, i: int | None) -> Env:
    """The environment of copy `i` of a repeat's body: `copy` bound to i (None: any copy), where the body
    reads it and no definition of the file is called `copy`."""
    if COPY in env.defs or not uses_copy(e):
        return env
    return Env(env.defs, {**env.local, COPY: Value(i, e.span)}, env.value_defs, env.decisions)


def copy_hint(name: str) -> str | None:
    """The hint for an unknown `copy`: where it has a value."""
    if name != COPY:
        return None
    return "`copy` is the index of the copy being made inside a repeat: (conv(8) -> dropout(0.1 * copy))^3"


def is_function(call: ast.Call, env: Env) -> bool:
    """Whether `call` calls a value function (`max(16, c // 4)`): a name of FUNCTIONS that no
    parameter, definition or op of the file takes."""
    n = call.name
    return n in FUNCTIONS and n not in env.local and n not in env.defs and n not in REGISTRY


def value_definitions(defs: dict[str, ast.Def]) -> frozenset[str]:
    """The names of the value definitions (`classes = 10`, `width = base*2`): no parameters and a
    value body. Worked out once for all definitions (each body is read once), so asking whether a
    name is a value is a set lookup. A definition that refers back to itself counts as a value:
    evaluating it then says so."""
    known: dict[str, bool] = {}
    top = Env(defs, None, frozenset())

    def decide(name: str, visiting: frozenset[str]) -> bool:
        if name in known:
            return known[name]
        d = defs[name]
        if d.params:
            known[name] = False
            return False
        if name in visiting:
            return True
        ok = _is_value_expr(d.body, top, lambda ref: ref in defs and decide(ref, visiting | {name}))
        known[name] = ok
        return ok

    return frozenset(n for n in defs if decide(n, frozenset()))


def is_value_def(d: ast.Def, env: Env) -> bool:
    """Whether a definition is a value definition (`classes = 10`)."""
    return d.name in env.value_defs


def is_value(e: ast.Expr, env: Env) -> bool:
    """Whether `e` denotes a value (not a block) in `env`."""
    return _is_value_expr(e, env, lambda ref: ref in env.value_defs)


def _is_value_expr(e: ast.Expr, env: Env, value_def: Callable[[str], bool]) -> bool:
    # iterative: a long chain of operators is walked once, not once per level
    stack = [e]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Literal):
            continue
        if isinstance(node, ast.Ref):
            b = env.local.get(node.name)
            if b is not None:
                if not isinstance(b, Value):
                    return False
                continue
            if node.name == IN_CHANNELS or (node.name not in env.defs and is_symbol(node.name)):
                continue
            if not value_def(node.name):
                return False
            continue
        if isinstance(node, ast.Range):
            continue
        if isinstance(node, ast.Alt):  # a choice of values is a value
            stack.extend(node.options)
        elif isinstance(node, ast.Tuple):
            stack.extend(node.items)
        elif isinstance(node, ast.Neg):
            stack.append(node.operand)
        elif isinstance(node, ast.BinOp):
            stack.extend((node.left, node.right))
        elif isinstance(node, ast.Call) and is_function(node, env) and not node.kwargs:
            stack.extend(node.args)
        else:
            return False
    return True


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
    if isinstance(e, (ast.Alt, ast.Range)):  # a value choice: the decided option's value
        return evaluate(env.option(e), env, in_channels, seen)
    if isinstance(e, ast.Tuple):
        return Value(tuple(evaluate(i, env, in_channels, seen).value for i in e.items), e.span)
    if isinstance(e, ast.Neg):
        n = _number(evaluate(e.operand, env, in_channels, seen), "-")
        return Value(_checked(-n, e.span), e.span)
    if isinstance(e, ast.BinOp):
        left = _number(evaluate(e.left, env, in_channels, seen), e.op)
        right = _number(evaluate(e.right, env, in_channels, seen), e.op)
        return Value(_checked(_apply(e.op, left, right, e.span), e.span), e.span)
    if isinstance(e, ast.Call) and is_function(e, env):
        return Value(_call(e, [evaluate(a, env, in_channels, seen) for a in e.args]), e.span)
    raise NetError("a block where a value is needed", getattr(e, "span", None))


def _call(e: ast.Call, args: list[Value]) -> int | float:
    """A value function applied, its misuse located at the call."""
    fn, fewest, most, what = FUNCTIONS[e.name]
    if e.kwargs:
        raise NetError(f"{e.name}() takes no keyword arguments", e.kwargs[0].span)
    if not fewest <= len(args) <= most:
        wanted = f"{fewest}" if fewest == most else f"{fewest} to {most}" if most < 64 else f"at least {fewest}"
        raise NetError(f"{e.name}() takes {wanted} argument{'s' * (most != 1)}, got {len(args)}", e.span)
    numbers = [_number(a, f"{e.name}()") for a in args]
    try:
        return _checked(fn(*numbers), e.span)
    except (ValueError, OverflowError) as err:
        raise NetError(f"{e.name}(): {err}", e.span) from None


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


def top_env(defs: dict[str, ast.Def], decisions: Chooser | None = None) -> Env:
    """The top-level environment of a program's definitions (which of them are values worked out
    once), under `decisions` (None: every choice takes its first option)."""
    return Env(defs, None, value_definitions(defs), decisions)


def scale_chain(e: ast.BinOp, env: Env) -> tuple[list[ast.BinOp], ast.Expr]:
    """`x*a*b` read as x scaled by a then by b: (the `*` nodes, innermost first; x). Walked once,
    so a long chain costs its length, not its length squared."""
    factors: list[ast.BinOp] = []
    node: ast.Expr = e
    while isinstance(node, ast.BinOp) and node.op == "*" and is_value(node.right, env):
        factors.append(node)
        node = node.left
    return factors[::-1], node
