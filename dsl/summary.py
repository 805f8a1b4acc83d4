"""Per-layer summary of a graph: path, op, output shape, parameters, MACs (no torch)."""

from __future__ import annotations

from typing import Any

from .graph import Graph
from .ops import fmt_shape


def rows(graph: Graph) -> list[dict[str, Any]]:
    """One dict per op: name, op, output shape, parameters, MACs."""
    return [
        {"name": n.name, "op": n.op, "shape": list(n.shape), "params": n.n_params, "macs": n.macs}
        for n in graph.nodes.values()
    ]


def as_dict(graph: Graph) -> dict[str, Any]:
    """The summary as JSON-ready data (what `netc summary --json` prints)."""
    return {
        "name": graph.name,
        "input": list(graph.input_shape),
        "output": list(graph.output_shape),
        "params": graph.params,
        "macs": graph.macs,
        "layers": rows(graph),
    }


def as_text(graph: Graph) -> str:
    """A fixed-width table, stable enough for golden files."""
    rs = rows(graph)
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
