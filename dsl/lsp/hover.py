"""Hover texts (Markdown): what the name under the cursor is and, from the expanded graph,
what it makes there: output shape (as `netc summary` prints it), parameters and MACs."""

from __future__ import annotations

import os

from dsl.core.graph import Block, Node
from dsl.core.ops import REGISTRY, Op, fmt_shape
from dsl.expand.choices import option_count
from dsl.expand.options import option_stats, shown_options
from dsl.front import ast
from dsl.front.printer import fmt_value, format_def, format_expr
from dsl.inspect.opdoc import signature
from dsl.lsp.analysis import Analysis
from dsl.lsp.index import Occurrence, block_stats, index_of
from dsl.lsp.positions import Range
from dsl.settings import TrainSettings

MAX_SHOWN = 8  # instances listed in one hover (a definition may be used a thousand times)
MAX_TEXT = 300  # characters of a definition's text shown


def hover(a: Analysis, pos: tuple[int, int]) -> tuple[str, Range] | None:
    """The Markdown hover for the position and the range it is about, or None."""
    o = index_of(a).at(pos)
    if o is None:
        return None
    text = {
        "def": _on_def,
        "ref": _on_ref,
        "op": _on_op,
        "param": _on_param,
        "kwarg": _on_kwarg,
        "setting": _on_setting,
        "choice": _on_choice,
        "use": _on_use,
    }[o.kind](a, o)
    return (text, o.range) if text else None


def _cut(s: str) -> str:
    return s if len(s) <= MAX_TEXT else s[:MAX_TEXT] + " …"


def comment(d: ast.Def) -> str:
    """The comment lines right above a definition (its documentation), without the `#`."""
    lines = d.span.text.split("\n")
    out: list[str] = []
    i = d.span.line - 2
    while 0 <= i < len(lines) and lines[i].lstrip().startswith("#"):
        out.append(lines[i].lstrip()[1:].strip())
        i -= 1
    return "\n".join(reversed(out))


def _where(a: Analysis, d: ast.Def) -> str:
    if d.file == a.path:
        return "this file"
    return os.path.basename(d.file) if d.file == "prelude.net" else os.path.relpath(d.file, os.path.dirname(a.path))


def _def_head(a: Analysis, d: ast.Def) -> str:
    lines = [f"```net\n{_cut(format_def(d))}\n```", f"definition `{d.name}` in {_where(a, d)}"]
    doc = comment(d)
    if doc:
        lines.append(doc)
    return "\n\n".join(lines)


def _args(block: Block) -> str:
    return ", ".join(f"{k}={fmt_value(v)}" for k, v in block.args)


def _block_line(a: Analysis, b: Block) -> str:
    st = block_stats(a, b.path)
    shape = fmt_shape(st.shape) if st.shape is not None else "its input, unchanged"
    args = f" ({_args(b)})" if b.args else ""
    return f"`{b.path}`{args}: output **{shape}**, {st.params:,} params, {st.macs:,} MACs, {st.ops:,} ops"


def _node_line(n: Node) -> str:
    params = ", ".join(f"{k}={fmt_value(v)}" for k, v in n.params.items())
    return f"`{n.name}`: output **{fmt_shape(n.shape)}**, {n.n_params:,} params, {n.macs:,} MACs" + (
        f" — {params}" if params else ""
    )


def _listed(lines: list[str], what: str) -> str:
    if not lines:
        return ""
    shown = lines[:MAX_SHOWN]
    more = len(lines) - len(shown)
    head = f"{len(lines):,} {what}s:" if len(lines) > 1 else ""
    tail = [f"… and {more:,} more"] if more else []
    return "\n".join(([head] if head else []) + [f"- {s}" if head else s for s in shown] + tail)


def _no_graph(a: Analysis) -> str:
    return "" if a.graph is not None else "_(shapes appear once the file checks without errors)_"


def _on_def(a: Analysis, o: Occurrence) -> str:
    assert isinstance(o.node, ast.Def)
    blocks = index_of(a).blocks_by_def.get(o.name, []) if a.graph is not None else []
    uses = _listed([_block_line(a, b) for b in blocks], "use")
    return "\n\n".join(p for p in (_def_head(a, o.node), uses or _no_graph(a)) if p)


def _on_ref(a: Analysis, o: Occurrence) -> str:
    assert isinstance(o.node, (ast.Ref, ast.Call))
    d = a.defs[o.name]
    blocks = index_of(a).blocks_at(o.node.span)
    nodes = index_of(a).nodes_at(o.node.span) if not blocks else []
    lines = [_block_line(a, b) for b in blocks] or [_node_line(n) for n in nodes]
    return "\n\n".join(p for p in (_def_head(a, d), _listed(lines, "use") or _no_graph(a)) if p)


def _op_head(op: Op) -> str:
    return f"```net\n{signature(op)}\n```\n\nop `{op.name}` ({op.role}): {op.doc}"


def _on_op(a: Analysis, o: Occurrence) -> str:
    assert isinstance(o.node, (ast.Ref, ast.Call))
    nodes = index_of(a).nodes_at(o.node.span)
    lines = [_node_line(n) for n in nodes]
    return "\n\n".join(p for p in (_op_head(REGISTRY[o.name]), _listed(lines, "use") or _no_graph(a)) if p)


def _on_param(a: Analysis, o: Occurrence) -> str:
    assert isinstance(o.node, ast.Param) and isinstance(o.owner, ast.Def)
    p, d = o.node, o.owner
    default = f", default `{format_expr(p.default)}`" if p.default is not None else " (required)"
    values = []
    if a.graph is not None:
        for b in index_of(a).blocks_by_def.get(d.name, []):
            v = dict(b.args).get(p.name)
            if v is not None:
                values.append(f"`{b.path}`: {p.name}={fmt_value(v)}")
    return "\n\n".join(x for x in (f"parameter `{p.name}` of `{d.name}`{default}", _listed(values, "value")) if x)


def _on_kwarg(a: Analysis, o: Occurrence) -> str:
    assert isinstance(o.owner, ast.Call)
    call = o.owner
    if call.name in a.defs:
        for p in a.defs[call.name].params:
            if p.name == o.name:
                default = f", default `{format_expr(p.default)}`" if p.default is not None else " (required)"
                return f"parameter `{p.name}` of `{call.name}`{default}"
        return ""
    op = REGISTRY.get(call.name)
    if op is None:
        return ""
    for q in op.params:
        if q.name == o.name:
            default = "required" if q.required else f"default `{fmt_value(q.default)}`"
            return f"parameter `{q.name}` of op `{op.name}`: {q.type}, {default}" + (f" — {q.doc}" if q.doc else "")
    return ""


def _on_setting(a: Analysis, o: Occurrence) -> str:
    docs = TrainSettings.docs()
    if o.name not in docs:
        return ""
    default, doc = docs[o.name]
    return f"training setting `{o.name}` (default `{fmt_value(default)}`): {doc}"


def _on_choice(a: Analysis, o: Occurrence) -> str:
    node = o.node
    assert isinstance(node, (ast.Alt, ast.Opt, ast.Range))
    prog = a.program
    if prog is None or a.graph is None:
        return f"search-space choice `{_cut(format_expr(node))}`"
    count = prog.count()
    by_option: dict[int, list[str]] = {}
    if prog.listable():
        for v in prog.variants():
            by_option.setdefault(v.assignment.get(node, 0), []).append(v.name)
    stats = option_stats(prog.defs, prog.net, prog.input_shape, prog.limits, node)
    n = option_count(node)
    lines = [f"search-space choice `{_cut(format_expr(node))}`: {n:,} options"]
    for i, st in zip(shown_options(node), stats):
        if st.error is not None:
            figures = f"does not build: {st.error}"
        else:
            where = {"option": "", "op": " (its op)", "network": " (the network)"}[st.what]
            shape = fmt_shape(st.shape) if st.shape is not None else "?"
            figures = f"→ {shape}, {st.params:,} params, {st.macs:,} MACs{where}"
        names = by_option.get(i, [])
        listed = ", ".join(names[:MAX_SHOWN]) + (f", … ({len(names):,} in all)" if len(names) > MAX_SHOWN else "")
        lines.append(f"- `{_cut(st.label)}` {figures}" + (f"; variants: {listed}" if names else ""))
    if n > len(stats):
        lines.append(f"({len(stats)} of its {n:,} values shown)")
    lines.append(f"{count:,} variants in the space")
    return "\n".join(lines)


def _on_use(a: Analysis, o: Occurrence) -> str:
    assert isinstance(o.node, ast.Use)
    target = os.path.normpath(os.path.join(os.path.dirname(a.path), o.node.path))
    return f"imports `{target}`"
