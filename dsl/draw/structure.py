"""The hierarchy both views draw: which nodes belong to which block, what goes in and
out of a block, its kind (residual / downsample / plain / input), and runs of repeated blocks.

Everything here is linear in the size of the graph: `Index` computes the consumers, the
members of every block and the identity pass-throughs once per drawing, `describe` looks
at each part's own nodes and edges only, and folded runs grow one copy at a time.
(An op's role, `Node.role`, is the registry's word for what the op does: conv, sum,
identity...; a part's `kind` is what the drawn block is.)
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from dsl.core.graph import Block, Graph, Node
from dsl.core.ops import REGISTRY, fmt_shape

KINDS = ("residual", "downsample", "plain", "input")
MAX_TEXT = 1000  # longest label or tooltip written (dot refuses strings over 16,384 characters)


@dataclass
class Part:
    """A set of nodes seen from outside: a block, a run of folded copies, or one bare node."""

    path: str  # block path (or node name for a bare top-level node)
    nodes: list[str]  # members, topological order
    inputs: list[str]  # nodes outside the part feeding it, first use first
    output: str  # the member the rest of the graph reads
    in_shape: tuple[int, ...] | None
    out_shape: tuple[int, ...]
    kind: str  # one of KINDS
    block: Block | None = None
    scale: float | None = None  # the part ends in its own `scale` op (what `fc*0.125` makes)
    copies: list[str] = field(default_factory=list)  # paths of the folded copies (first included)

    @property
    def local_name(self) -> str:
        """The last segment of the path (`res` for `layer1/res`)."""
        return self.path.rpartition("/")[2]

    @property
    def count(self) -> int:
        """How many copies the part stands for (1 unless folded)."""
        return max(1, len(self.copies))

    @property
    def optional(self) -> bool:
        """The part is a search-space choice (drawn dashed)."""
        return bool(self.block and self.block.optional)

    def title(self) -> str:
        """`layer1`, `fc×0.125`, `res ×3`."""
        if self.count > 1 and self.block is not None:
            name = f"{self.block.definition} ×{self.count}"
        else:
            name = self.local_name
        if self.scale is not None:
            name += f"×{self.scale:g}"
        return name


class Index:
    """What every drawing needs about a graph, built once in one pass over its nodes:
    the consumers of each node, the members of each block (by path prefix) and, lazily,
    where identity chains lead."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.nodes = graph.nodes
        self.consumers: dict[str, list[str]] = graph.consumers()
        self._members: dict[str, list[str]] = {}
        for name in graph.nodes:
            # a node belongs to every block its path passes through (and to a block named like
            # itself, which is what the old per-block scan did); nodes come in topological
            # order, so every member list is in topological order too
            i = name.find("/")
            while i != -1:
                self._members.setdefault(name[:i], []).append(name)
                i = name.find("/", i + 1)
            self._members.setdefault(name, []).append(name)
        self._through: dict[str, str] = {}

    def members(self, path: str) -> list[str]:
        """The nodes inside block `path`, in topological order (a shared list: do not modify)."""
        return self._members.get(path, [])

    def through(self, name: str) -> str:
        """Follow identity nodes back to the node they pass through (iteratively, memoised)."""
        chain: list[str] = []
        while name not in self._through:
            node = self.nodes[name]
            if node.role != "identity" or not node.inputs:
                break
            chain.append(name)
            name = node.inputs[0]
        else:
            name = self._through[name]
        for n in chain:
            self._through[n] = name
        return name


def describe(index: Index, path: str, names: list[str], block: Block | None = None) -> Part:
    """Inputs, output, shapes and kind of a set of nodes, in time linear in their edges."""
    nodes, consumers = index.nodes, index.consumers
    member = set(names)
    inputs: dict[str, None] = {}
    for n in names:
        for i in nodes[n].inputs:
            if i not in member:
                inputs.setdefault(i, None)
    # the output is the last member read from outside (or the graph's output)
    output = names[-1]
    for n in reversed(names):
        if n == index.graph.output or any(c not in member for c in consumers[n]):
            output = n
            break
    ins = list(inputs)
    in_shape = nodes[ins[0]].shape if ins else None
    out_shape = nodes[output].shape
    kind = _kind(index, names, ins, in_shape, out_shape)
    scale = None
    out_node = nodes[output]
    if out_node.role == "scale" and out_node.scope == path and len(names) > 1:
        scale = out_node.params.get("k")
    return Part(path, list(names), ins, output, in_shape, out_shape, kind, block, scale)


def _kind(
    index: Index, names: list[str], ins: list[str], in_shape: tuple[int, ...] | None, out_shape: tuple[int, ...]
) -> str:
    nodes = index.nodes
    if not ins:
        return "input" if all(nodes[n].role == "input" for n in names) else "plain"
    sources = {index.through(i) for i in ins}
    if in_shape == out_shape and len(sources) == 1:
        x = sources.pop()
        for n in names:
            node = nodes[n]
            if node.role == "sum" and any(index.through(i) == x for i in node.inputs):
                return "residual"
    if (
        in_shape is not None
        and len(in_shape) == 3
        and len(out_shape) == 3
        and (out_shape[1] < in_shape[1] or out_shape[2] < in_shape[2])
    ):
        return "downsample"
    return "plain"


def _unit_paths(graph: Graph, depth: int = 1) -> set[str]:
    """The blocks at nesting level `depth` (1: top level), the shallower blocks that hold no
    blocks, and extension blocks whose parent is a unit (an extension of an extension too).
    A shallower block that holds blocks is opened: its blocks and its own ops are drawn one by
    one. Parents are shorter than their children, so one pass by depth suffices."""
    holders = {p.rpartition("/")[0] for p in graph.blocks}
    units: set[str] = set()
    for p in sorted(graph.blocks, key=lambda q: q.count("/")):
        level = p.count("/") + 1
        parent = p.rpartition("/")[0]
        at_depth = level == depth or (level < depth and p not in holders)
        if at_depth or (parent and graph.blocks[p].extension and parent in units):
            units.add(p)
    if depth == 1:
        _open_dominant(graph, units, holders)
    return units


def _open_dominant(graph: Graph, units: set[str], holders: set[str]) -> None:
    """While the view has at most two blocks and one of them holds blocks and more than half of the
    network's ops (a torchvision `features` holding the whole backbone beside its classifier, a
    U-Net's outer level), draw the blocks inside it instead, in place: the blocks view then shows
    the network's real blocks rather than one box. A view of several blocks (the article's prep,
    layer1, layer2, layer3, fc) is left as it is. Linear: one pass counts each block's ops."""
    ops: dict[str, int] = {}
    for name in graph.nodes:
        i = name.find("/")
        while i != -1:
            ops[name[:i]] = ops.get(name[:i], 0) + 1
            i = name.find("/", i + 1)
    children: dict[str, list[str]] = {}
    for p in graph.blocks:
        children.setdefault(p.rpartition("/")[0], []).append(p)
    while 0 < len(units) <= 2:
        big = max(units, key=lambda u: ops.get(u, 0))
        if big not in holders or ops.get(big, 0) <= len(graph.nodes) / 2:
            return
        units.discard(big)
        units.update(children[big])


def units(
    graph: Graph, fold: bool = True, index: Index | None = None, depth: int = 1
) -> tuple[list[Part], dict[str, int]]:
    """The blocks view's units in order: the blocks at level `depth` (top-level blocks by
    default), extension blocks as their own units after their parent (`layer1`, then its
    `res`), and bare nodes outside any unit (`gmp`). Returns the units and, for every node,
    the index of the unit that owns it."""
    index = index or Index(graph)
    unit_paths = _unit_paths(graph, depth)
    groups: dict[str, list[str]] = {}
    for name in graph.nodes:
        # the owner is the deepest unit among the node's proper path prefixes, else the node
        owner = name
        cut = name.rfind("/")
        while cut > 0:
            if name[:cut] in unit_paths:
                owner = name[:cut]
                break
            cut = name.rfind("/", 0, cut)
        groups.setdefault(owner, []).append(name)
    # a bare top-level identity is not drawn: whoever reads it reads what it passes through
    passthrough = [
        p
        for p, names in groups.items()
        if p not in graph.blocks and all(graph.nodes[n].role == "identity" for n in names)
    ]
    skip = set(passthrough)
    parts = [describe(index, p, names, graph.blocks.get(p)) for p, names in groups.items() if p not in skip]
    for part in parts:
        part.copies = [part.path]
    if fold:
        parts = fold_runs(parts)
    owner_of = {n: i for i, part in enumerate(parts) for n in part.nodes}
    skipped = {n for p in passthrough for n in groups[p]}
    for n in skipped:
        owner_of[n] = owner_of[index.through(n)]
    for part in parts:
        part.inputs = list(dict.fromkeys(index.through(i) if i in skipped else i for i in part.inputs))
    return parts, owner_of


def joins_run(run: Part, p: Part) -> bool:
    """`p` continues the folded run `run`: it repeats the run's first block, has the same
    shapes in and out, and reads only the run's output."""
    return (
        p.block is not None
        and p.block.repeat_of is not None
        and run.block is not None
        and (run.block.repeat_of or run.path) == p.block.repeat_of
        and (run.in_shape, run.out_shape) == (p.in_shape, p.out_shape)
        and p.inputs == [run.output]
    )


def extend_run(run: Part, p: Part) -> Part:
    """`run` with copy `p` appended, in time proportional to `p` alone. The run keeps its
    first copy's inputs, input shape and kind; its output is the last copy's. The first
    call makes a new Part, later calls grow it in place (so a run of n copies costs O(n))."""
    if run.count == 1:
        run = Part(
            run.path,
            list(run.nodes),
            list(run.inputs),
            run.output,
            run.in_shape,
            run.out_shape,
            run.kind,
            run.block,
            run.scale,
            [run.path],
        )
    run.nodes.extend(p.nodes)
    run.copies.append(p.path)
    run.output, run.out_shape, run.scale = p.output, p.out_shape, p.scale
    return run


def fold_runs(parts: list[Part]) -> list[Part]:
    """Merge consecutive identical copies (`res^3`) into one part with `copies` set."""
    out: list[Part] = []
    for p in parts:
        if out and joins_run(out[-1], p):
            out[-1] = extend_run(out[-1], p)
        else:
            out.append(p)
    return out


def copies_text(copies: list[str]) -> str:
    """The copies of a folded run, bounded whatever their number: `res_1 … res_2000 (2,000 copies)`."""
    if len(copies) == 1:
        return copies[0]
    return f"{copies[0]} … {copies[-1]} ({len(copies):,} copies)"


def bounded(text: str, limit: int = MAX_TEXT) -> str:
    """`text` cut to `limit` characters (with `…`): a last guard so that no label or tooltip,
    however long the names in a file, trips Graphviz's string limit or bloats the SVG."""
    if len(text) <= limit:
        return text
    # never end on a lone backslash: it would escape the closing quote of the DOT string
    return text[: limit - 1].rstrip("\\") + "…"


def two_lines(title: str, detail: str) -> str:
    """A node label: `title` above `detail` (a shape), as a Graphviz HTML-like label whose second row
    sits a little lower, so that a name's underscores never touch the line below; both texts
    bounded and escaped."""
    e = html.escape
    return (
        '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="0">'
        f'<TR><TD>{e(bounded(title))}</TD></TR><TR><TD CELLPADDING="2">{e(bounded(detail))}</TD></TR></TABLE>>'
    )


def shape_text(shape: tuple[int, ...] | None) -> str:
    """`128×16×16`, or `?` when unknown."""
    return fmt_shape(shape) if shape is not None else "?"


def op_call(node: Node) -> str:
    """`conv(c=64, k=3, stride=1, ...)`: the op and its resolved parameters (the generic weight
    parameters `frozen`, `init`, `init_std` only when they are not at their defaults)."""

    def v(x: object) -> str:
        if isinstance(x, bool):
            return "true" if x else "false"
        return f"{x:g}" if isinstance(x, float) else str(x)

    op = REGISTRY.get(node.op)
    defaults = {p.name: p.default for p in op.params if p.name in op.generic} if op else {}
    args = ", ".join(f"{k}={v(x)}" for k, x in node.params.items() if k not in defaults or defaults[k] != x)
    return f"{node.op}({args})"
