"""The ops view: every primitive as a rounded box coloured by its op (from the registry),
nested translucent clusters per level of the hierarchy, left to right, identity nodes
removed. `depth` collapses deeper blocks into single nodes; repeated copies fold."""
from __future__ import annotations

import graphviz

from ..graph import Graph
from . import style
from .structure import Part, describe, members, op_call, shape_text


def _depth(path: str) -> int:
    return path.count("/") + 1


def fold_plan(graph: Graph) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Runs of identical sibling copies (`res^3`): ({dropped copy: first copy}, {first copy: all copies})."""
    by_parent: dict[str, list[str]] = {}
    for p in graph.blocks:
        by_parent.setdefault(p.rpartition("/")[0], []).append(p)
    dropped: dict[str, str] = {}
    runs: dict[str, list[str]] = {}
    info: dict[str, Part] = {}

    def part(p):
        if p not in info:
            info[p] = describe(graph, p, members(graph, p), graph.blocks[p])
        return info[p]

    for siblings in by_parent.values():
        run: list[str] = []
        for p in siblings:
            b = graph.blocks[p]
            if run and b.repeat_of is not None:
                first, prev = run[0], run[-1]
                root = graph.blocks[first].repeat_of or first
                a, c = part(prev), part(p)
                if (root == b.repeat_of and (a.in_shape, a.out_shape) == (c.in_shape, c.out_shape)
                        and c.inputs == [a.output]):
                    run.append(p)
                    continue
            if len(run) > 1:
                runs[run[0]] = run
            run = [p]
        if len(run) > 1:
            runs[run[0]] = run
    for first, copies in runs.items():
        for p in copies[1:]:
            dropped[p] = first
    return dropped, runs


def ops_dot(graph: Graph, depth: int | None = None, fold: bool = True, dashed: bool = True) -> graphviz.Digraph:
    dropped, runs = fold_plan(graph) if fold else ({}, {})
    blocks = graph.blocks
    memo: dict[str, str] = {}
    parts: dict[str, Part] = {}

    def block_part(p: str) -> Part:
        if p not in parts:
            names = members(graph, p)
            for q in runs.get(p, [p])[1:]:
                names += members(graph, q)
            part = describe(graph, p, names, blocks[p])
            part.copies = runs.get(p, [p])
            parts[p] = part
        return parts[p]

    def rep(name: str) -> str:
        """The drawn item standing for a node: itself, its collapsed block, or (for an
        identity or a node in a folded copy) what it passes through to."""
        if name in memo:
            return memo[name]
        node = graph.nodes[name]
        segs = node.path
        out = None
        for k in range(1, len(segs)):
            p = "/".join(segs[:k])
            if p in dropped:   # a later copy of a folded run: stands for the first copy's output
                first = dropped[p]
                out = rep(describe(graph, first, members(graph, first), blocks[first]).output)
                break
            if p in blocks and depth is not None and _depth(p) > depth:
                out = p
                break
        if out is None:
            out = rep(node.inputs[0]) if node.role == "identity" and node.inputs else name
        memo[name] = out
        return out

    def parent_cluster(item: str) -> str:
        p = item.rpartition("/")[0]
        while p and p not in blocks:
            p = p.rpartition("/")[0]
        return p

    # Items (drawn nodes and clusters) under each cluster, in order of first appearance.
    children: dict[str, dict[str, str]] = {"": {}}
    for name in graph.nodes:
        item = rep(name)
        if item != name and item not in blocks:
            continue          # removed identity or folded copy
        kind = "collapsed" if item in blocks else "node"
        chain = [item]
        p = parent_cluster(item)
        while p:
            chain.append(p)
            p = parent_cluster(p)
        chain.append("")
        for child, parent in zip(chain, chain[1:]):
            children.setdefault(parent, {}).setdefault(child, kind if child == item else "cluster")

    dot = graphviz.Digraph(name=graph.name or "net")
    dot.attr(rankdir="LR", nodesep="0.15", ranksep="0.25", fontname=style.FONT)
    dot.attr("node", **style.OP_DEFAULT)
    dot.attr("edge", **style.EDGE)

    def fill(container, path: str):
        for item, kind in children.get(path, {}).items():
            if kind == "node":
                container.node(item, **_op_node(graph, item))
            elif kind == "collapsed":
                container.node(item, **_collapsed_node(block_part(item), dashed))
            else:
                sub = graphviz.Digraph(name="cluster_" + item)
                sub.attr(**_cluster_attrs(graph, item, runs.get(item, [item]), dashed))
                fill(sub, item)
                container.subgraph(sub)

    fill(dot, "")
    edges: dict[tuple[str, str], None] = {}
    for name, node in graph.nodes.items():
        dst = rep(name)
        for i in node.inputs:
            src = rep(i)
            if src != dst:
                edges.setdefault((src, dst), None)
    for src, dst in edges:
        dot.edge(src, dst)
    return dot


def _op_node(graph: Graph, name: str) -> dict[str, str]:
    node = graph.nodes[name]
    attrs = style.op_style(node.op)     # only what differs from the defaults set on the graph
    attrs["label"] = node.local_name
    tip = [name] + ([op_call(node)] if node.role != "input" else []) + [f"-> {shape_text(node.shape)}"]
    if node.n_params:
        tip.append(f"{node.n_params:,} params")
    attrs["tooltip"] = "\\n".join(tip)
    return attrs


def _collapsed_node(part: Part, dashed: bool) -> dict[str, str]:
    attrs = dict(style.COLLAPSED_NODE)
    attrs["fillcolor"] = style.ROLE_FILL[part.role]
    attrs["label"] = f"{part.title()}\\n{shape_text(part.out_shape)}"
    b = part.block
    tip = [part.path if part.count == 1 else ", ".join(part.copies),
           b.definition + (f' "{b.label}"' if b.label else ""),
           f"{shape_text(part.in_shape)} -> {shape_text(part.out_shape)}", style.ROLE_TEXT[part.role]]
    if part.optional:
        tip.append("optional (search-space choice)")
    attrs["tooltip"] = "\\n".join(tip)
    if dashed and part.optional:
        attrs["style"] = style.with_dashes(attrs["style"])
        attrs.update(style.OPTIONAL_BORDER)
    return attrs


def _cluster_attrs(graph: Graph, path: str, copies: list[str], dashed: bool) -> dict[str, str]:
    b = graph.blocks[path]
    attrs = dict(style.CLUSTER)
    local = path.rpartition("/")[2]
    attrs["label"] = f"{b.definition} ×{len(copies)}" if len(copies) > 1 else local
    tip = path if len(copies) == 1 else ", ".join(copies)
    attrs["tooltip"] = f"{tip}: {b.definition}" + (f' "{b.label}"' if b.label else "")
    if b.optional:
        attrs["tooltip"] += "\\noptional (search-space choice)"
        if dashed:
            attrs["style"] = style.with_dashes(attrs["style"])
            attrs.update(style.OPTIONAL_BORDER)
    return attrs
