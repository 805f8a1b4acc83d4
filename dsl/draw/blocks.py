"""The blocks view: one node per top-level block, coloured by role as in the article
(residual pink, downsampling light green), the residual shortcut as a skip edge."""
from __future__ import annotations

import graphviz

from ..graph import Graph
from . import style
from .structure import Part, shape_text, units


def blocks_dot(graph: Graph, fold: bool = True, dashed: bool = True) -> graphviz.Digraph:
    parts, owner = units(graph, fold=fold)
    dot = graphviz.Digraph(name=graph.name or "net")
    dot.attr(rankdir="LR", nodesep="0.3", ranksep="0.35")
    dot.attr("node", **style.BLOCK_NODE)
    dot.attr("edge", **style.EDGE)
    for i, part in enumerate(parts):
        dot.node(_id(i, part), **_node_attrs(graph, part, dashed))
    edges: dict[tuple[int, int], None] = {}
    for j, part in enumerate(parts):
        for i in (owner[x] for x in part.inputs):
            if i != j:
                edges.setdefault((i, j), None)
    for i, j in edges:
        dot.edge(_id(i, parts[i]), _id(j, parts[j]))
    # The shortcut of a residual block: from the block feeding it to the blocks it feeds.
    consumers = graph.consumers()
    for j, part in enumerate(parts):
        if part.role != "residual" or not part.inputs:
            continue
        src = owner[part.inputs[0]]
        succ: dict[int, None] = {}
        for c in consumers[part.output]:
            if owner[c] not in (j, src):
                succ.setdefault(owner[c], None)
        for k in succ:
            dot.edge(_id(src, parts[src]), _id(k, parts[k]),
                     tooltip=f"identity shortcut around {part.title()}", **style.SKIP_EDGE)
    return dot


def _id(i: int, part: Part) -> str:
    return part.path


def _node_attrs(graph: Graph, part: Part, dashed: bool) -> dict[str, str]:
    fill = style.ROLE_FILL[part.role]
    attrs = {"label": f"{part.title()}\\n{shape_text(part.out_shape)}", "fillcolor": fill,
             "tooltip": _tooltip(graph, part)}
    if part.role == "input":
        attrs["label"] = f"input\\n{shape_text(part.out_shape)}"
    if dashed and part.optional:
        attrs["style"] = style.with_dashes(style.BLOCK_NODE["style"])
    return attrs


def _tooltip(graph: Graph, part: Part) -> str:
    lines = []
    b = part.block
    if b is not None:
        head = b.definition + (f' "{b.label}"' if b.label else "")
        if part.count > 1:
            head += f" ×{part.count} ({', '.join(part.copies)})"
        lines.append(head)
    else:
        lines.append(graph.nodes[part.output].op)
    if part.in_shape is not None:
        lines.append(f"{shape_text(part.in_shape)} -> {shape_text(part.out_shape)}")
    else:
        lines.append(shape_text(part.out_shape))
    lines.append(style.ROLE_TEXT[part.role])
    params = sum(graph.nodes[n].n_params for n in part.nodes)
    if params:
        lines.append(f"{params:,} params")
    if part.optional:
        lines.append("optional (search-space choice)")
    return "\\n".join(lines)
