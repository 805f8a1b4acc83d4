"""Documentation of the op registry: the tables `netc ops`, docs/language.md and docs/drawing.md show.

Generated from the registry itself, so they list plugins' ops too and can never go stale
(tests/test_docs.py compares the docs with these tables).
"""

from __future__ import annotations

from dsl.core.ops import AUTO, REGISTRY, Op, P
from dsl.front.printer import fmt_value


def _default(p: P) -> str:
    if p.required:
        return "required"
    if p.default == AUTO:
        return "auto"
    return fmt_value(p.default) if not isinstance(p.default, str) else p.default


def signature(op: Op) -> str:
    """`conv(c=auto, k=3, ...)`, or `add(branch, branch, ...)`; keyword-only parameters after a `*`."""
    if op.branches:
        return f"{op.name}(branch, branch, ...)"
    shown = [p for p in op.params if p.name not in op.generic]
    parts = [p.name if p.required else f"{p.name}={_default(p)}" for p in shown if not p.keyword]
    keywords = [f"{p.name}={_default(p)}" for p in shown if p.keyword]
    if keywords:
        parts += ["*", *keywords]
    return f"{op.name}({', '.join(parts)})" if parts else op.name


def ops_markdown() -> str:
    """The table of every op: signature, role, what it does (and its parameters' docs)."""
    lines = ["| op | role | what it does |", "| --- | --- | --- |"]
    for op in REGISTRY.values():
        if op.role == "input":
            continue
        docs = [f"`{p.name}`: {p.doc}" for p in op.params if p.doc and p.name not in op.generic]
        extra = "; ".join(docs)
        weights = " Also `frozen`, `init`, `init_std` (any op with weights)." if op.generic else ""
        text = (op.doc + (f" ({extra})" if extra else "") + weights).replace("|", "\\|")
        lines.append(f"| `{signature(op)}` | {op.role} | {text} |")
    return "\n".join(lines)


def palette_markdown() -> str:
    """The drawing palette: one row per op with its role and fill."""
    from dsl.draw.style import palette

    lines = ["| op | role | fill |", "| --- | --- | --- |"]
    lines += [f"| `{name}` | {role} | `{fill}` |" for name, role, fill in palette()]
    return "\n".join(lines)


def ops_text(name: str | None = None) -> str:
    """Plain text for `netc ops [NAME]`: every op in one line each, or one op in full."""
    if name is None:
        width = min(48, max(len(signature(op)) for op in REGISTRY.values()))
        return "\n".join(
            f"{signature(op):<{width}}  {op.role:<8} {op.doc}" for op in REGISTRY.values() if op.role != "input"
        )
    op = REGISTRY[name]
    lines = [signature(op), f"  {op.doc}", f"  role: {op.role}"]
    for p in op.params:
        choices = f"; or {', '.join(p.choices)}" if p.choices else ""
        rng = "".join([f", >= {p.min:g}" if p.min is not None else "", f", <= {p.max:g}" if p.max is not None else ""])
        lines.append(f"  {p.name}: {p.type}{rng}{choices}; default {_default(p)}" + (f" — {p.doc}" if p.doc else ""))
    return "\n".join(lines)
