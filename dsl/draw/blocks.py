"""The blocks view: one node per top-level block (or per block at a chosen depth), coloured by kind as in the article
(residual pink, downsampling light green), the residual shortcut as a skip edge."""

from __future__ import annotations

import graphviz

from dsl.core.graph import Graph
from dsl.draw import style
from dsl.draw.structure import Part, bounded, copies_text, shape_text, two_lines, units


def blocks_dot(graph: Graph, fold: bool = True, dashed: bool = True, depth: int = 1) -> graphviz.Digraph:
    """The blocks view of `graph` as a graphviz Digraph (linear in the graph's size): one node
    per block at nesting level `depth` (1: the top-level blocks)."""
    parts, owner = units(graph, fold=fold, depth=depth)
    dot = graphviz.Digraph(name=graph.name or "net")
    dot.attr(rankdir="LR", nodesep="0.3", ranksep="0.35")
    dot.attr("node", **style.BLOCK_NODE)
    dot.attr("edge", **style.EDGE)
    for part in parts:
        dot.node(part.path, **_node_attrs(graph, part, dashed))
    edges: dict[tuple[int, int], None] = {}
    for j, part in enumerate(parts):
        for i in (owner[x] for x in part.inputs):
            if i != j:
                edges.setdefault((i, j), None)
    fed: dict[int, list[int]] = {}
    for i, j in edges:
        dot.edge(parts[i].path, parts[j].path)
        fed.setdefault(i, []).append(j)
    # The shortcut of a residual block: from the block feeding it to the blocks it feeds (the
    # drawn edges, so a block reading it through a bare identity counts too).
    for j, part in enumerate(parts):
        if part.kind != "residual" or not part.inputs:
            continue
        src = owner[part.inputs[0]]
        for k in fed.get(j, []):
            if k != src:
                dot.edge(
                    parts[src].path,
                    parts[k].path,
                    tooltip=bounded(f"identity shortcut around {part.title()}"),
                    **style.SKIP_EDGE,
                )
    return dot


def _node_attrs(graph: Graph, part: Part, dashed: bool) -> dict[str, str]:
    fill = style.KIND_FILL[part.kind]
    title = "input" if part.kind == "input" else part.title()
    if part.local_name.isdigit() and part.count == 1:
        # an item of a numbered list (`[whiten, gelu, group(64)]`): its number says little, so say what it is
        what = part.block.definition if part.block is not None else graph.nodes[part.output].op
        title = f"{title}: {what}"
    attrs = {
        "label": two_lines(title, shape_text(part.out_shape)),
        "fillcolor": fill,
        "tooltip": _tooltip(graph, part),
    }
    if dashed and part.optional:
        attrs["style"] = style.with_dashes(style.BLOCK_NODE["style"])
    return attrs


def _tooltip(graph: Graph, part: Part) -> str:
    lines = []
    b = part.block
    if b is not None:
        lines.append(b.definition + (f' "{b.label}"' if b.label else ""))
        if part.count > 1:
            lines.append(copies_text(part.copies))  # first and last copy and the count, never all
    else:
        lines.append(graph.nodes[part.output].op)
    if part.in_shape is not None:
        lines.append(f"{shape_text(part.in_shape)} -> {shape_text(part.out_shape)}")
    else:
        lines.append(shape_text(part.out_shape))
    lines.append(style.KIND_TEXT[part.kind])
    params = sum(graph.nodes[n].n_params for n in part.nodes)
    if params:
        lines.append(f"{params:,} params")
    if part.optional:
        lines.append("optional (search-space choice)")
    return bounded("\\n".join(lines))
