"""The hierarchy both views draw: which nodes belong to which block, what goes in and
out of a block, its role (residual / downsampling / plain), and runs of repeated blocks."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..graph import Block, Graph, Node
from ..ops import fmt_shape


@dataclass
class Part:
    """A set of nodes seen from outside: a block, a run of folded copies, or one bare node."""
    path: str                       # block path (or node name for a bare top-level node)
    nodes: list[str]                # members, topological order
    inputs: list[str]               # nodes outside the part feeding it, first use first
    output: str                     # the member the rest of the graph reads
    in_shape: tuple[int, ...] | None
    out_shape: tuple[int, ...]
    role: str                       # residual | downsample | plain | input
    block: Block | None = None
    scale: float | None = None      # the part ends in its own `mul` (what `fc*0.125` makes)
    copies: list[str] = field(default_factory=list)   # paths of the folded copies (first included)

    @property
    def local_name(self) -> str:
        return self.path.rpartition("/")[2]

    @property
    def count(self) -> int:
        return max(1, len(self.copies))

    @property
    def optional(self) -> bool:
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


def resolve_identity(graph: Graph, name: str) -> str:
    """Follow identity nodes back to the node they pass through."""
    seen = set()
    while graph.nodes[name].role == "identity" and graph.nodes[name].inputs and name not in seen:
        seen.add(name)
        name = graph.nodes[name].inputs[0]
    return name


def describe(graph: Graph, path: str, names: list[str], block: Block | None = None) -> Part:
    """Inputs, output, shapes and role of a set of nodes."""
    member = set(names)
    inputs: dict[str, None] = {}
    for n in names:
        for i in graph.nodes[n].inputs:
            if i not in member:
                inputs.setdefault(i, None)
    consumers = graph.consumers()
    output = names[-1]
    for n in names:
        if n == graph.output or any(c not in member for c in consumers[n]):
            output = n
    ins = list(inputs)
    in_shape = graph.nodes[ins[0]].shape if ins else None
    out_shape = graph.nodes[output].shape
    role = _role(graph, names, ins, in_shape, out_shape)
    scale = None
    out_node = graph.nodes[output]
    if out_node.role == "scale" and out_node.scope == path and len(names) > 1:
        scale = out_node.params.get("k")
    return Part(path, list(names), ins, output, in_shape, out_shape, role, block, scale)


def _role(graph: Graph, names, ins, in_shape, out_shape) -> str:
    if not ins:
        return "input" if all(graph.nodes[n].role == "input" for n in names) else "plain"
    sources = {resolve_identity(graph, i) for i in ins}
    if in_shape == out_shape and len(sources) == 1:
        x = sources.pop()
        for n in names:
            node = graph.nodes[n]
            if node.role == "sum" and any(resolve_identity(graph, i) == x for i in node.inputs):
                return "residual"
    if in_shape is not None and len(in_shape) == 3 and len(out_shape) == 3 and (
            out_shape[1] < in_shape[1] or out_shape[2] < in_shape[2]):
        return "downsample"
    return "plain"


def members(graph: Graph, path: str) -> list[str]:
    prefix = path + "/"
    return [n for n in graph.nodes if n.startswith(prefix) or n == path]


def units(graph: Graph, fold: bool = True) -> tuple[list[Part], dict[str, int]]:
    """The blocks view's units in order: top-level blocks, extension blocks as their own
    units after their parent (`layer1`, then its `res`), and bare top-level nodes (`gmp`).
    Returns the units and, for every node, the index of the unit that owns it."""
    unit_paths = {p for p in graph.blocks if "/" not in p}
    changed = True
    while changed:   # extension children of units are units too (an extension of an extension, ...)
        changed = False
        for p, b in graph.blocks.items():
            if b.extension and p not in unit_paths and p.rpartition("/")[0] in unit_paths:
                unit_paths.add(p)
                changed = True
    groups: dict[str, list[str]] = {}
    for name, node in graph.nodes.items():
        owner = name if "/" not in name else node.path[0]
        parts = node.path
        for k in range(len(parts) - 1, 0, -1):
            p = "/".join(parts[:k])
            if p in unit_paths:
                owner = p
                break
        groups.setdefault(owner, []).append(name)
    # a bare top-level identity is not drawn: whoever reads it reads what it passes through
    passthrough = [p for p, names in groups.items()
                   if p not in graph.blocks and all(graph.nodes[n].role == "identity" for n in names)]
    parts = [describe(graph, p, names, graph.blocks.get(p)) for p, names in groups.items() if p not in passthrough]
    for p in parts:
        p.copies = [p.path]
    if fold:
        parts = fold_runs(graph, parts)
    owner_of = {n: i for i, p in enumerate(parts) for n in p.nodes}
    for p in passthrough:
        for n in groups[p]:
            owner_of[n] = owner_of[resolve_identity(graph, n)]
    skipped = {n for p in passthrough for n in groups[p]}
    for p in parts:
        p.inputs = list(dict.fromkeys(resolve_identity(graph, i) if i in skipped else i for i in p.inputs))
    return parts, owner_of


def fold_runs(graph: Graph, parts: list[Part]) -> list[Part]:
    """Merge consecutive identical copies (`res^3`) into one part with `copies` set.
    A copy joins the run when it repeats the run's first block with the same shapes in and out."""
    out: list[Part] = []
    for p in parts:
        prev = out[-1] if out else None
        if (prev is not None and p.block is not None and p.block.repeat_of is not None
                and prev.block is not None and (prev.block.repeat_of or prev.path) == p.block.repeat_of
                and (prev.in_shape, prev.out_shape) == (p.in_shape, p.out_shape)
                and prev.output in p.inputs and len(p.inputs) == 1):
            merged = describe(graph, prev.path, prev.nodes + p.nodes, prev.block)
            merged.copies = prev.copies + [p.path]
            merged.role = prev.role
            merged.in_shape = prev.in_shape
            out[-1] = merged
        else:
            out.append(p)
    return out


def shape_text(shape) -> str:
    return fmt_shape(shape) if shape is not None else "?"


def op_call(node: Node) -> str:
    """`conv(c=64, k=3, stride=1, ...)`: the op and its resolved parameters."""
    def v(x):
        if isinstance(x, bool):
            return "true" if x else "false"
        return f"{x:g}" if isinstance(x, float) else str(x)
    args = ", ".join(f"{k}={v(x)}" for k, x in node.params.items())
    return f"{node.op}({args})"
