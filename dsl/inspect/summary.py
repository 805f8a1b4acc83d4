"""Per-layer summary of a graph: path, op, output shape, parameters, MACs (no torch)."""

from __future__ import annotations

import html
from typing import Any

from dsl.core.graph import Graph
from dsl.core.ops import fmt_shape


def rows(graph: Graph, depth: int | None = None) -> list[dict[str, Any]]:
    """One dict per op (name, op, output shape, parameters, MACs); with `depth`, the ops nested deeper
    than `depth` levels are one row per block at that depth (op: the block's definition, shape: the
    output of its last op, parameters and MACs summed), in the order the blocks start."""
    if depth is None:
        return [
            {"name": n.name, "op": n.op, "shape": list(n.shape), "params": n.n_params, "macs": n.macs}
            for n in graph.nodes.values()
        ]
    out: dict[str, dict[str, Any]] = {}
    for n in graph.nodes.values():
        path = n.name.split("/")
        key = "/".join(path[:depth]) if len(path) > depth else n.name
        row = out.get(key)
        if row is None:
            block = graph.blocks.get(key) if key != n.name else None
            op = block.definition if block is not None else n.op
            out[key] = {"name": key, "op": op, "shape": list(n.shape), "params": n.n_params, "macs": n.macs}
        else:
            row["shape"] = list(n.shape)
            row["params"] += n.n_params
            row["macs"] += n.macs
    return list(out.values())


def as_dict(graph: Graph, depth: int | None = None) -> dict[str, Any]:
    """The summary as JSON-ready data (what `netc summary --json` prints)."""
    return {
        "name": graph.name,
        "input": list(graph.input_shape),
        "output": list(graph.output_shape),
        "params": graph.params,
        "macs": graph.macs,
        "layers": rows(graph, depth),
    }


def as_text(graph: Graph, depth: int | None = None) -> str:
    """A fixed-width table, stable enough for golden files (`depth`: see `rows`)."""
    rs = rows(graph, depth)
    w = max([len("layer")] + [len(r["name"]) for r in rs])
    o = max([8] + [len(r["op"]) for r in rs])
    head = f"{'layer':<{w}}  {'op':<{o}}  {'output':>12}  {'params':>12}  {'MACs':>14}"
    lines = [f"{graph.name}", head, "-" * len(head)]
    for r in rs:
        lines.append(
            f"{r['name']:<{w}}  {r['op']:<{o}}  {fmt_shape(r['shape']):>12}  {r['params']:>12,}  {r['macs']:>14,}"
        )
    lines.append("-" * len(head))
    lines.append(
        f"{'total':<{w}}  {'':<{o}}  {fmt_shape(graph.output_shape):>12}  {graph.params:>12,}  {graph.macs:>14,}"
    )
    return "\n".join(lines)


HTML_MAX_ROWS = 500  # a longer table shows its first and last HTML_MAX_ROWS // 2 rows
_ALIGN = ("left", "left", "right", "right", "right")  # layer, op | output, params, MACs


def as_html(graph: Graph, note: str | None = None) -> str:
    """An HTML table for notebooks (every text escaped, numbers with thousands separators),
    headed by `note` when given; over HTML_MAX_ROWS layers, the first and last rows only."""
    rs = rows(graph)
    half = HTML_MAX_ROWS // 2
    hidden = len(rs) - 2 * half if len(rs) > HTML_MAX_ROWS else 0
    shown = rs[:half] + rs[-half:] if hidden else rs

    def row(cells: list[str], tag: str = "td") -> str:
        tds = (f'<{tag} style="text-align:{a}">{html.escape(c)}</{tag}>' for a, c in zip(_ALIGN, cells, strict=True))
        return "<tr>" + "".join(tds) + "</tr>"

    body = [row([r["name"], r["op"], fmt_shape(r["shape"]), f"{r['params']:,}", f"{r['macs']:,}"]) for r in shown]
    if hidden:
        body.insert(
            half,
            f'<tr><td colspan="5" style="text-align:center">… {hidden:,} more {"row" if hidden == 1 else "rows"}</td></tr>',
        )
    parts = ['<div class="netc-summary">']
    if note:
        parts.append(f"<p>{html.escape(note)}</p>")
    parts += [
        "<table>",
        f'<caption style="text-align:left">{html.escape(graph.describe())}</caption>',
        "<thead>" + row(["layer", "op", "output", "params", "MACs"], "th") + "</thead>",
        "<tbody>",
        *body,
        "</tbody>",
        "<tfoot>"
        + row(["total", "", fmt_shape(graph.output_shape), f"{graph.params:,}", f"{graph.macs:,}"], "th")
        + "</tfoot>",
        "</table>",
        "</div>",
    ]
    return "\n".join(parts)
