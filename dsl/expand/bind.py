"""Binding a call's arguments: which parameter gets which argument, values versus blocks.

A definition's parameter is bound either to a `Value` (anything `values.is_value` accepts,
evaluated at the call, where `in_channels` is the call's input width) or to a `Thunk` (a
block: an expression and the environment it was written in, expanded where the parameter is
used). A primitive's parameters are always values, checked against the registry's declaration.
"""

from __future__ import annotations

from collections.abc import Sequence

from dsl.core.ops import REGISTRY, Op, Params
from dsl.errors import NetError, Span, did_you_mean
from dsl.expand.env import Binding, Env, Site, Thunk, Value
from dsl.expand.values import copy_hint, evaluate, is_value, unknown_name
from dsl.front import ast

Note = tuple[str, Span]


def match_args(
    who: str,
    names: Sequence[str],
    args: Sequence[ast.Expr],
    kwargs: Sequence[ast.Kwarg],
    at_most: bool,
    notes: Sequence[Note] = (),
    keywords: Sequence[str] | None = None,
) -> dict[str, ast.Expr]:
    """Pair a call's arguments with parameter names: positional first (`names`), then keywords
    (any of `keywords`, by default `names`)."""
    keywords = names if keywords is None else keywords
    if len(args) > len(names):
        sig = f" ({', '.join(names)})" if names else ""
        raise NetError(
            f"{who} takes {'at most ' if at_most else ''}{len(names)} argument"
            f"{'s' * (len(names) != 1)}{sig}, got {len(args)}",
            args[len(names)].span,
            notes=list(notes),
        )
    matched = dict(zip(names, args))
    for k in kwargs:
        if k.name not in keywords:
            raise NetError(
                f"{who} has no parameter '{k.name}'",
                k.span,
                hint=did_you_mean(k.name, keywords) or f"its parameters: {', '.join(keywords) or 'none'}",
            )
        if k.name in matched:
            raise NetError(f"'{k.name}' given both by position and by keyword", k.span)
        matched[k.name] = k.value
    return matched


def binding(
    a: ast.Expr, env: Env, in_channels: int | None, calls: tuple[str, ...] = (), in_option: bool = False
) -> Binding:
    """What a definition's parameter holds when `a` is passed to it from `env` (while the
    definitions `calls` are being expanded, on an input of `in_channels` channels)."""
    if isinstance(a, ast.Ref):
        b = env.local.get(a.name)
        if b is not None:
            return b
    if is_value(a, env):
        return evaluate(a, env, in_channels)
    unknown = unknown_name(a, env) if isinstance(a, (ast.Ref, ast.BinOp, ast.Neg, ast.Tuple)) else None
    if unknown is not None:  # a typo in an argument: say so here, not where the parameter is used
        raise NetError(
            f"unknown name '{unknown.name}'",
            unknown.span,
            hint=copy_hint(unknown.name) or did_you_mean(unknown.name, env.names() | {"in_channels"} - {"input"}),
        )
    return Thunk(a, env, calls, in_option)


def bind_def(
    d: ast.Def,
    site: Site,
    env: Env,
    in_channels: int | None,
    calls: tuple[str, ...] = (),
    in_option: bool = False,
) -> dict[str, Binding]:
    """A definition's parameters bound for one call at `site`. A default is read at the top level
    with the parameters before it (`blk(c, w=c*2)`)."""
    args, kwargs, span = site.args, site.kwargs, site.span
    defined = [(f"'{d.name}' is defined here", d.name_span)]
    matched = match_args(f"'{d.name}'", [p.name for p in d.params], args, kwargs, False, defined)
    passed = {name: binding(a, env, in_channels, calls, in_option) for name, a in matched.items()}
    local: dict[str, Binding] = {}
    for p in d.params:  # in order: a default sees the parameters before it, never after
        if p.name in passed:
            local[p.name] = passed[p.name]
        elif p.default is None:
            raise NetError(f"'{d.name}' needs argument '{p.name}'", span, notes=defined)
        else:
            check_default_order(d, p)
            local[p.name] = binding(p.default, env.top().child(dict(local)), in_channels)
    return local


def check_default_order(d: ast.Def, p: ast.Param) -> None:
    """Refuse a default that uses a parameter declared after it (it has no value yet there)."""
    later = {q.name for q in d.params[d.params.index(p) + 1 :]}
    for node in ast.walk(p.default) if p.default is not None and later else ():
        if isinstance(node, ast.Ref) and node.name in later:
            raise NetError(
                f"the default of '{p.name}' uses '{node.name}', a parameter declared after it",
                node.span,
                hint=f"a default sees the parameters before it: declare '{node.name}' before '{p.name}'",
            )


def prim_params(
    op: Op, args: Sequence[ast.Expr], kwargs: Sequence[ast.Kwarg], span: Span, env: Env, in_channels: int | None
) -> Params:
    """A primitive's parameters for one call: every value evaluated and checked, defaults filled in."""
    if not args and not kwargs and not any(p.required for p in op.params):
        return {p.name: p.default for p in op.params}
    params: Params = {}
    matched = match_args(op.name, op.positional, args, kwargs, True, keywords=op.param_names) if args or kwargs else {}
    for p in op.params:
        a = matched.get(p.name)
        if a is not None:
            v = _arg_value(op, p.name, p.choices, a, env, in_channels)
            value = v.value
            if p.type == "float" and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            elif p.type in ("int", "pair") and isinstance(value, float) and value.is_integer():
                value = int(value)  # c/4 of 64 is 16.0: a whole number, written as a division
            elif p.type == "pair" and isinstance(value, tuple):
                value = tuple(int(x) if isinstance(x, float) and x.is_integer() else x for x in value)
            problem = p.check(value)
            if problem:
                raise NetError(f"{op.name}: '{p.name}' {problem}", v.span)
            params[p.name] = value
        elif p.required:
            raise NetError(f"{op.name} needs argument '{p.name}'" + (f" ({p.doc})" if p.doc else ""), span)
        else:
            params[p.name] = p.default
    return params


def _arg_value(op: Op, name: str, choices: tuple[str, ...], a: ast.Expr, env: Env, in_channels: int | None) -> Value:
    if isinstance(a, ast.Ref):
        b = env.local.get(a.name)
        if b is None and a.name in choices and a.name not in env.defs:
            return Value(a.name, a.span)
        if b is None and a.name not in env.defs and a.name not in REGISTRY and not is_value(a, env):
            raise NetError(
                f"{op.name}: unknown name '{a.name}' for parameter '{name}'",
                a.span,
                hint=copy_hint(a.name) or did_you_mean(a.name, set(env.local) | set(choices) | {"in_channels"}),
            )
    if not is_value(a, env):
        unknown = unknown_name(a, env)
        if unknown is not None:
            raise NetError(
                f"{op.name}: unknown name '{unknown.name}' in parameter '{name}'",
                unknown.span,
                hint=copy_hint(unknown.name)
                or did_you_mean(unknown.name, set(env.local) | set(env.defs) | set(choices) | {"in_channels"}),
            )
        raise NetError(f"{op.name}: parameter '{name}' expects a value, got a block", a.span)
    return evaluate(a, env, in_channels)
