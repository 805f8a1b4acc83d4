"""AST -> canonical .net text (used for variant texts, hashing and round-trip tests)."""

from __future__ import annotations

from collections.abc import Callable

from dsl.front import ast

# Binding strength, loosest first (the grammar's precedence levels).
_ALT, _SEQ, _NAMED, _SUM, _PRODUCT, _UNARY, _POST, _ATOM = range(8)
_BINARY = {"+": _SUM, "-": _SUM, "*": _PRODUCT, "/": _PRODUCT, "//": _PRODUCT}


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


def name_text(name: str) -> str:
    """A block's given name as written: bare (`conv1`, `2`), or quoted when it is neither a name
    nor a whole number (`"block1-0"`)."""
    return name if name.isidentifier() or name.isdigit() else f'"{name}"'


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
        text = fmt_value(e.value)
        return text, (_UNARY if text.startswith("-") else _ATOM)
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
        return " -> ".join(_wrap(t, _NAMED) for t in items), _SEQ
    if isinstance(e, ast.BinOp):
        prec = _BINARY[e.op]
        # left-associative: the right operand of the same level needs brackets (a - (b - c))
        op = f" {e.op} " if prec == _SUM else e.op  # fc*0.125 and c//4 read best tight, a + b spaced
        return f"{_wrap(_fmt(e.left, choose), prec)}{op}{_wrap(_fmt(e.right, choose), prec + 1)}", prec
    if isinstance(e, ast.Neg):
        return f"-{_wrap(_fmt(e.operand, choose), _UNARY)}", _UNARY
    if isinstance(e, ast.Tuple):
        texts = [format_expr(i, choose) for i in e.items]
        return "(" + ", ".join(texts) + ("," if len(texts) == 1 else "") + ")", _ATOM
    if isinstance(e, ast.BlockList):
        texts = [format_expr(i, choose) for i in e.items]
        return "[" + ", ".join(t for t in texts if t) + "]", _ATOM
    if isinstance(e, ast.Named):
        body = _fmt(e.body, choose)
        if not body[0]:
            return body
        return f"{name_text(e.name)}: {_wrap(body, _SUM)}", _NAMED
    if isinstance(e, ast.Repeat):
        return f"{_wrap(_fmt(e.body, choose), _POST)}^{_wrap(_fmt(e.times, choose), _ATOM)}", _POST
    if isinstance(e, ast.Opt):
        if choose is None:
            return f"{_wrap(_fmt(e.body, choose), _POST)}?", _POST
        picked = choose(e)
        return _fmt(picked, choose) if picked is not None else ("", _ATOM)
    if isinstance(e, ast.Range):
        if choose is None:
            return range_text(e), _NAMED
        picked = choose(e)
        return _fmt(picked, choose) if picked is not None else ("", _ATOM)
    if isinstance(e, ast.Alt):
        if choose is None:
            return " | ".join(_wrap(_fmt(o, choose), _SEQ) for o in e.options), _ALT
        picked = choose(e)
        return _fmt(picked, choose) if picked is not None else ("", _ATOM)
    raise TypeError(type(e))


def range_text(e: ast.Range) -> str:
    """`16..256 step 16`."""
    step = f" step {fmt_value(e.step)}" if e.step is not None else ""
    return f"{fmt_value(e.lo)}..{fmt_value(e.hi)}{step}"


def setting_text(v: object) -> str:
    """A training setting's value as written: values, choices of values (`a | b`) and ranges."""
    if isinstance(v, ast.Range):
        return range_text(v)
    if isinstance(v, ast.Alt):
        return " | ".join(setting_text(o.value) for o in v.options if isinstance(o, ast.Literal))
    if isinstance(v, tuple):
        return "(" + ", ".join(setting_text(x) for x in v) + ")"
    if isinstance(v, list):
        return "[" + ", ".join(setting_text(x) for x in v) + "]"
    return fmt_value(v)


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
        lines += [f"  {s.key} = {setting_text(s.value)}" for s in mod.settings]
        lines.append("}")
    return "\n".join(lines) + "\n"
