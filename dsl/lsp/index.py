"""Where each name of a document is and what it means: the occurrences of definitions,
primitives, parameters, settings and search-space choices, and the graph's blocks and ops
keyed by the source span they came from. Hover, go-to-definition, document symbols and inlay
hints read this; it is built once per analysis, in one pass over the syntax tree and the graph.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from dsl.core.graph import Block, Node
from dsl.core.ops import REGISTRY
from dsl.errors import Span
from dsl.front import ast
from dsl.lsp.analysis import Analysis, file_path
from dsl.lsp.positions import Range

SpanKey = tuple[str, int, int, int, int]


def span_key(span: Span) -> SpanKey:
    """A span as a dict key (its file and coordinates)."""
    return span.file, span.line, span.col, span.end_line, span.end_col


@dataclass(frozen=True)
class Occurrence:
    """One meaningful place in the document.

    kind: `def` (a definition's own name), `ref` (a name meaning a definition), `op` (a
    primitive), `param` (a definition's parameter, declared or used), `kwarg` (`name=` in a
    call), `setting` (in `train { }`), `choice` (`a | b`, `x?`), `use` (an import)."""

    range: Range
    kind: str
    name: str
    node: object  # the syntax node: Ref, Call, Def, Param, Kwarg, Setting, Alt, Opt or Use
    owner: object = None  # `param`: the Def; `kwarg`: the Call


def _size(r: Range) -> tuple[int, int]:
    return r.end[0] - r.start[0], r.end[1] - r.start[1] if r.end[0] == r.start[0] else 1 << 30


def _name_range(a: Analysis, span: Span, name: str) -> Range:
    """The range of `name` written at the start of `span` (names are ASCII: one unit a character)."""
    start = a.range_of(span).start
    return Range(start, (start[0], start[1] + len(name)))


class Index:
    """The occurrences of one analysed document and its graph's blocks and ops by span."""

    def __init__(self, a: Analysis):
        self.a = a
        self.occurrences: list[Occurrence] = []
        self.nodes_by_span: dict[SpanKey, list[Node]] = {}
        self.blocks_by_span: dict[SpanKey, list[Block]] = {}
        self.blocks_by_def: dict[str, list[Block]] = {}
        if a.module is not None:
            self._collect(a.module)
        if a.graph is not None:
            for n in a.graph.nodes.values():
                if n.span is not None:
                    self.nodes_by_span.setdefault(span_key(n.span), []).append(n)
            for b in a.graph.blocks.values():
                if b.span is not None:
                    self.blocks_by_span.setdefault(span_key(b.span), []).append(b)
                self.blocks_by_def.setdefault(b.definition, []).append(b)

    # ------------------------------------------------------------ building
    def _add(self, rng: Range, kind: str, name: str, node: object, owner: object = None) -> None:
        self.occurrences.append(Occurrence(rng, kind, name, node, owner))

    def _collect(self, module: ast.Module) -> None:
        a = self.a
        for u in module.uses:
            self._add(a.range_of(u.span), "use", u.path, u)
        for d in module.defs:
            self._add(a.range_of(d.name_span), "def", d.name, d)
            for p in d.params:
                self._add(_name_range(a, p.span, p.name), "param", p.name, p, d)
                if p.default is not None:
                    self._expr(p.default, None)
            self._expr(d.body, d)
        if module.net is not None:
            self._expr(module.net.expr, None)
        for s in module.settings:
            self._add(a.range_of(s.span), "setting", s.key, s)

    def _expr(self, e: ast.Expr, d: ast.Def | None) -> None:
        """The names of one expression, resolved as the expander does: parameter, definition, primitive."""
        a = self.a
        params = {p.name: p for p in d.params} if d is not None else {}
        for n in ast.walk(e):
            if isinstance(n, (ast.Ref, ast.Call)):
                rng = a.range_of(n.span if isinstance(n, ast.Ref) else n.name_span)
                if n.name in params:
                    self._add(rng, "param", n.name, params[n.name], d)
                elif n.name in a.defs:
                    self._add(rng, "ref", n.name, n)
                elif n.name in REGISTRY:
                    self._add(rng, "op", n.name, n)
                if isinstance(n, ast.Call):
                    for k in n.kwargs:
                        self._add(_name_range(a, k.span, k.name), "kwarg", k.name, k, n)
            elif isinstance(n, (ast.Alt, ast.Opt, ast.Range)):
                kind = "|" if isinstance(n, ast.Alt) else "?" if isinstance(n, ast.Opt) else ".."
                self._add(a.range_of(n.span), "choice", kind, n)

    # ------------------------------------------------------------ queries
    def at(self, pos: tuple[int, int]) -> Occurrence | None:
        """The innermost occurrence under the cursor."""
        hits = [o for o in self.occurrences if o.range.contains(pos)]
        return min(hits, key=lambda o: _size(o.range)) if hits else None

    def nodes_at(self, span: Span) -> list[Node]:
        """The graph's ops made by the text at `span` (one per use of the definition holding it)."""
        return self.nodes_by_span.get(span_key(span), [])

    def blocks_at(self, span: Span) -> list[Block]:
        """The graph's blocks made by the call at `span`."""
        return self.blocks_by_span.get(span_key(span), [])

    def definition(self, pos: tuple[int, int]) -> tuple[str, Range] | None:
        """Where the name under the cursor is defined: (file path, range)."""
        o = self.at(pos)
        a = self.a
        if o is None:
            return None
        if o.kind == "ref":
            d = a.defs[o.name]
            return file_path(d.name_span.file, a.path), a.range_of(d.name_span)
        if o.kind in ("def", "param"):
            span = o.node.name_span if isinstance(o.node, ast.Def) else o.node.span  # type: ignore[attr-defined]
            return a.span_path(span), _name_range(a, span, o.name)
        if o.kind == "kwarg" and isinstance(o.owner, ast.Call) and o.owner.name in a.defs:
            d = a.defs[o.owner.name]
            for p in d.params:
                if p.name == o.name:
                    return a.span_path(p.span), _name_range(a, p.span, p.name)
        if o.kind == "use" and isinstance(o.node, ast.Use):
            return file_path(_joined(a.path, o.node.path), a.path), Range((0, 0), (0, 0))
        return None


def _joined(importer: str, target: str) -> str:
    return os.path.normpath(os.path.join(os.path.dirname(importer), target))


def index_of(a: Analysis) -> Index:
    """The analysis's index (built on first use, then kept with it)."""
    got = a.cache.get("index")
    if got is None:
        got = a.cache["index"] = Index(a)
    assert isinstance(got, Index)
    return got


@dataclass(frozen=True)
class BlockStats:
    """A block's output shape (None: it passes its input through), parameters, MACs and ops."""

    shape: tuple[int, ...] | None
    params: int
    macs: int
    ops: int


def block_stats(a: Analysis, path: str) -> BlockStats:
    """Totals of the ops inside one block; its output is the last op made inside it (the
    expander returns the newest op of a block, or its input when it made none)."""
    got = a.cache.get("blocks")
    if got is None:
        got = a.cache["blocks"] = _all_block_stats(a)
    assert isinstance(got, dict)
    return got.get(path, BlockStats(None, 0, 0, 0))


def _all_block_stats(a: Analysis) -> dict[str, BlockStats]:
    """Every block's totals in one pass: a block's ops are made while its call is expanded, so
    they are one run of the graph's (topological) node order; a stack of open blocks finds the runs."""
    assert a.graph is not None
    nodes = list(a.graph.nodes.values())
    params, macs = [0], [0]
    for n in nodes:
        params.append(params[-1] + n.n_params)
        macs.append(macs[-1] + n.macs)
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    stack: list[str] = []  # the blocks open at the current op, outermost first
    for i, n in enumerate(nodes):
        scope = n.scope
        while stack and not (scope == stack[-1] or scope.startswith(stack[-1] + "/")):
            last[stack.pop()] = i - 1
        if scope and (not stack or scope != stack[-1]):
            base = stack[-1] + "/" if stack else ""
            for part in scope[len(base) :].split("/"):
                base += part
                stack.append(base)
                first.setdefault(base, i)
                base += "/"
    for path in stack:
        last[path] = len(nodes) - 1
    return {
        path: BlockStats(nodes[e].shape, params[e + 1] - params[b], macs[e + 1] - macs[b], e - b + 1)
        for path, b in first.items()
        for e in (last[path],)
    }
