"""The ops view: every primitive as a rounded box coloured by its op (from the registry),
nested translucent clusters per level of the hierarchy, left to right, identity nodes
removed. `depth` collapses deeper blocks into single nodes; repeated copies fold.

Linear in the graph's size: one `Index` per drawing, each block described at most once,
and what a node is drawn as (`rep`) is resolved iteratively and memoised."""

from __future__ import annotations

import graphviz

from dsl.core.graph import Graph
from dsl.draw import style
from dsl.draw.structure import (
    Index,
    Part,
    bounded,
    copies_text,
    describe,
    extend_run,
    op_call,
    shape_text,
    two_lines,
)

# Above this many drawn nodes, cap the iterations of Graphviz's network simplex that places
# nodes across ranks (`nslimit`): on a 6,000-op chain the exact placement alone took seconds
# (~3.8 s of 5.3), for a picture read by zooming, not for its last point of alignment. The
# ranking pass (`nslimit1`) stays exact: capping it saved nothing and added edge crossings.
# Smaller drawings (all of the article's) keep dot's defaults.
LARGE = 1000
LARGE_GRAPH = {"nslimit": "0.05"}


class FoldPlan:
    """Runs of identical sibling copies (`res^3`), each copy described once."""

    def __init__(self, index: Index, enabled: bool = True):
        graph = index.graph
        self.dropped: dict[str, str] = {}  # a later copy -> the first copy of its run
        self.runs: dict[str, list[str]] = {}  # the first copy -> all copies, in order
        self.parts: dict[str, Part] = {}  # a block in a run -> its description
        if not enabled:  # --no-fold: no runs at all
            return
        by_parent: dict[str, list[str]] = {}
        for p in graph.blocks:
            by_parent.setdefault(p.rpartition("/")[0], []).append(p)

        def part(p: str) -> Part:
            if p not in self.parts:
                self.parts[p] = describe(index, p, index.members(p), graph.blocks[p])
            return self.parts[p]

        for siblings in by_parent.values():
            run: list[str] = []
            for p in siblings:
                b = graph.blocks[p]
                if run and b.repeat_of is not None:
                    root = graph.blocks[run[0]].repeat_of or run[0]
                    a, c = part(run[-1]), part(p)
                    if (
                        root == b.repeat_of
                        and (a.in_shape, a.out_shape) == (c.in_shape, c.out_shape)
                        and c.inputs == [a.output]
                    ):
                        run.append(p)
                        continue
                if len(run) > 1:
                    self.runs[run[0]] = run
                run = [p]
            if len(run) > 1:
                self.runs[run[0]] = run
        for first, copies in self.runs.items():
            for p in copies[1:]:
                self.dropped[p] = first

    def run_part(self, first: str) -> Part:
        """The whole run starting at `first` as one part (grown copy by copy)."""
        copies = self.runs[first]
        whole = self.parts[first]
        for p in copies[1:]:
            whole = extend_run(whole, self.parts[p])
        return whole


def ops_dot(graph: Graph, depth: int | None = None, fold: bool = True, dashed: bool = True) -> graphviz.Digraph:
    """The ops view of `graph` as a graphviz Digraph (linear in the graph's size)."""
    index = Index(graph)
    plan = FoldPlan(index, enabled=fold)
    dropped, runs = plan.dropped, plan.runs
    blocks = graph.blocks
    memo: dict[str, str] = {}
    collapsed_parts: dict[str, Part] = {}

    def block_part(p: str) -> Part:
        """A collapsed block (or folded run of blocks) as one part, described once."""
        if p not in collapsed_parts:
            if p in runs:
                part = plan.run_part(p)
            else:
                part = describe(index, p, index.members(p), blocks[p])
                part.copies = [p]
            collapsed_parts[p] = part
        return collapsed_parts[p]

    def first_output(first: str) -> str:
        return plan.parts[first].output

    def rep(name: str) -> str:
        """The drawn item standing for a node: itself, its collapsed block, or (for an
        identity or a node in a folded copy) what it passes through to. Iterative: a chain
        of identities or of folded copies thousands long must not hit the recursion limit."""
        chain: list[str] = []
        out = None
        while out is None:
            if name in memo:
                out = memo[name]
                break
            nxt = None
            cut = name.find("/")
            while cut != -1:  # the node's enclosing blocks, outermost first
                p = name[:cut]
                if p in dropped:  # a later copy of a folded run: the first copy's output
                    nxt = first_output(dropped[p])
                    break
                if depth is not None and p.count("/") + 1 > depth and p in blocks:
                    out = p
                    break
                cut = name.find("/", cut + 1)
            if out is not None:
                break
            if nxt is None:
                node = graph.nodes[name]
                if node.role == "identity" and node.inputs:
                    nxt = node.inputs[0]
                else:
                    out = name
                    break
            chain.append(name)
            name = nxt
        memo[name] = out
        for n in chain:
            memo[n] = out
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
            continue  # removed identity or folded copy
        kind = "collapsed" if item in blocks else "node"
        child, parent = item, parent_cluster(item)
        while True:
            siblings = children.setdefault(parent, {})
            if child in siblings:
                break  # its ancestors were registered with it
            siblings[child] = kind if child == item else "cluster"
            if not parent:
                break
            child, parent = parent, parent_cluster(parent)

    n_drawn = sum(1 for items in children.values() for k in items.values() if k != "cluster")
    dot = graphviz.Digraph(name=graph.name or "net")
    dot.attr(
        rankdir="LR", nodesep="0.15", ranksep="0.25", fontname=style.FONT, **(LARGE_GRAPH if n_drawn > LARGE else {})
    )
    dot.attr("node", **style.OP_DEFAULT)
    dot.attr("edge", **style.EDGE)

    def fill(path: str) -> None:
        """Build the clusters bottom-up into `dot`, with an explicit stack (nesting can be deep)."""
        built: dict[str, graphviz.Digraph] = {}
        stack: list[tuple[str, bool]] = [(path, False)]
        while stack:
            p, ready = stack.pop()
            if not ready:
                stack.append((p, True))
                for item, kind in reversed(list(children.get(p, {}).items())):
                    if kind == "cluster":
                        stack.append((item, False))
                continue
            container = dot if p == path else graphviz.Digraph(name="cluster_" + p)
            if p != path:
                container.attr(**_cluster_attrs(graph, p, runs.get(p, [p]), dashed))
            for item, kind in children.get(p, {}).items():
                if kind == "node":
                    container.node(item, **_op_node(graph, item))
                elif kind == "collapsed":
                    container.node(item, **_collapsed_node(block_part(item), dashed))
                else:
                    container.subgraph(built.pop(item))
            built[p] = container

    fill("")
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
    attrs = style.op_style(node.op)  # only what differs from the defaults set on the graph
    local = node.local_name
    # an item of a numbered list (`[linear, gelu, dropout]`): its number says little, so say what it is
    attrs["label"] = bounded(f"{local}: {node.op}" if local.isdigit() else local)
    tip = [name] + ([op_call(node)] if node.role != "input" else []) + [f"-> {shape_text(node.shape)}"]
    if node.n_params:
        tip.append(f"{node.n_params:,} params")
    attrs["tooltip"] = bounded("\\n".join(tip))
    return attrs


def _collapsed_node(part: Part, dashed: bool) -> dict[str, str]:
    attrs = dict(style.COLLAPSED_NODE)
    attrs["fillcolor"] = style.KIND_FILL[part.kind]
    attrs["label"] = two_lines(part.title(), shape_text(part.out_shape))
    b = part.block
    tip = [
        copies_text(part.copies or [part.path]),
        (b.definition + (f' "{b.label}"' if b.label else "")) if b is not None else part.path,
        f"{shape_text(part.in_shape)} -> {shape_text(part.out_shape)}",
        style.KIND_TEXT[part.kind],
    ]
    if part.optional:
        tip.append("optional (search-space choice)")
    attrs["tooltip"] = bounded("\\n".join(tip))
    if dashed and part.optional:
        attrs["style"] = style.with_dashes(attrs["style"])
        attrs.update(style.OPTIONAL_BORDER)
    return attrs


def _cluster_attrs(graph: Graph, path: str, copies: list[str], dashed: bool) -> dict[str, str]:
    b = graph.blocks[path]
    attrs = dict(style.CLUSTER)
    local = path.rpartition("/")[2]
    if len(copies) > 1:
        attrs["label"] = bounded(f"{b.definition} ×{len(copies)}")
    else:
        attrs["label"] = bounded(f"{local}: {b.definition}" if local.isdigit() else local)
    tip = f"{copies_text(copies)}: {b.definition}" + (f' "{b.label}"' if b.label else "")
    if b.optional:
        tip += "\\noptional (search-space choice)"
    attrs["tooltip"] = bounded(tip)
    if b.optional and dashed:
        attrs["style"] = style.with_dashes(attrs["style"])
        attrs.update(style.OPTIONAL_BORDER)
    return attrs
