"""AST -> canonical .net text (used for variant texts, hashing and round-trip tests)."""

from __future__ import annotations

from collections.abc import Callable

from . import ast

# Binding strength: alternatives < sequence < postfix < atom.
_ALT, _SEQ, _POST, _ATOM = 0, 1, 2, 3


def fmt_value(v: object) -> str:
    """A value as .net text (`true`, `0.125`, `"x"`, `[(0, 0), (5, 0.4)]`)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        r = repr(v)
        return r[:-2] if r.endswith(".0") else r
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, tuple):
        return "(" + ", ".join(fmt_value(x) for x in v) + ")"
    if isinstance(v, list):
        return "[" + ", ".join(fmt_value(x) for x in v) + "]"
    return str(v)


def format_expr(e: ast.Expr, choose: Chooser | None = None) -> str:
    """Canonical text of an expression. `choose(node)` resolves search-space choices:
    it returns the chosen option expression, or None for 'absent'."""
    return _fmt(e, choose)[0]


def _wrap(text_prec: tuple[str, int], need: int) -> str:
    text, prec = text_prec
    return f"({text})" if prec < need else text


def _fmt(e: ast.Expr, choose: Chooser | None) -> tuple[str, int]:
    if isinstance(e, ast.Ref):
        return e.name, _ATOM
    if isinstance(e, ast.Literal):
        return fmt_value(e.value), _ATOM
    if isinstance(e, ast.Call):
        parts = [format_expr(a, choose) for a in e.args]
        parts += [f"{k.name}={format_expr(k.value, choose)}" for k in e.kwargs]
        parts = [p for p in parts if p and not p.endswith("=")]
        return (f"{e.name}({', '.join(parts)})" if parts else e.name), _ATOM
    if isinstance(e, ast.Seq):
        items = [_fmt(i, choose) for i in e.items]
        items = [t for t in items if t[0]]  # absent optional items vanish
        if not items:
            return "identity", _ATOM
        if len(items) == 1:
            return items[0]
        return " -> ".join(_wrap(t, _POST) for t in items), _SEQ
    if isinstance(e, ast.Scale):
        return f"{_wrap(_fmt(e.body, choose), _POST)}*{fmt_value(e.factor)}", _POST
    if isinstance(e, ast.Repeat):
        return f"{_wrap(_fmt(e.body, choose), _POST)}^{e.times}", _POST
    if isinstance(e, ast.Opt):
        if choose is None:
            return f"{_wrap(_fmt(e.body, choose), _POST)}?", _POST
        picked = choose(e)
        return _fmt(picked, choose) if picked is not None else ("", _ATOM)
    if isinstance(e, ast.Alt):
        if choose is None:
            return " | ".join(_wrap(_fmt(o, choose), _SEQ) for o in e.options), _ALT
        picked = choose(e)
        return _fmt(picked, choose) if picked is not None else ("", _ATOM)
    raise TypeError(type(e))


Chooser = Callable[[ast.Choice], "ast.Expr | None"]


def format_def(d: ast.Def, choose: Chooser | None = None) -> str:
    """`name(p, q=default) "Label" = body`."""
    head = d.name
    if d.params:
        ps = [p.name if p.default is None else f"{p.name}={format_expr(p.default)}" for p in d.params]
        head += "(" + ", ".join(ps) + ")"
    if d.label:
        head += f' "{d.label}"'
    return f"{head} = {format_expr(d.body, choose)}"


def format_module(mod: ast.Module) -> str:
    """A whole file as canonical text: input, definitions, network, training settings.
    Loading the result gives the same networks (the round-trip the property tests check)."""
    lines = []
    if mod.input is not None:
        lines.append("input " + "x".join(str(d) for d in mod.input.shape))
    lines += [f'use "{u.path}"' for u in mod.uses]
    lines += [format_def(d) for d in mod.defs]
    if mod.net is not None:
        lines.append(format_expr(mod.net.expr))
    if mod.settings:
        lines.append("train {")
        lines += [f"  {s.key} = {fmt_value(s.value)}" for s in mod.settings]
        lines.append("}")
    return "\n".join(lines) + "\n"
