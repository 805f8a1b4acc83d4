"""Document symbols (imports, input, definitions, the network, the train section) and inlay
hints (the output shape after each block of a chain)."""

from __future__ import annotations

from dataclasses import dataclass, field

from dsl.core.ops import fmt_shape
from dsl.front import ast
from dsl.front.printer import format_expr, setting_text
from dsl.lsp.analysis import Analysis
from dsl.lsp.index import block_stats, index_of
from dsl.lsp.positions import Range

MAX_DETAIL = 80


@dataclass(frozen=True)
class Symbol:
    """One outline entry; kind is `file`, `constant`, `function`, `network`, `section` or `setting`."""

    name: str
    kind: str
    range: Range
    selection: Range
    detail: str = ""
    children: tuple[Symbol, ...] = field(default=())


def _short(s: str) -> str:
    return s if len(s) <= MAX_DETAIL else s[: MAX_DETAIL - 1] + "…"


def symbols(a: Analysis) -> list[Symbol]:
    """The document's outline, in source order."""
    m = a.module
    if m is None:
        return []
    out: list[Symbol] = []
    for u in m.uses:
        r = a.range_of(u.span)
        out.append(Symbol(u.path, "file", r, r, "use"))
    if m.input is not None:
        r = a.range_of(m.input.span)
        out.append(Symbol("input", "constant", r, r, fmt_shape(m.input.shape)))
    for d in m.defs:
        params = "(" + ", ".join(p.name for p in d.params) + ")" if d.params else ""
        detail = (f'"{d.label}" ' if d.label else "") + "= " + format_expr(d.body)
        out.append(Symbol(d.name + params, "function", a.range_of(d.span), a.range_of(d.name_span), _short(detail)))
    if m.net is not None:
        r = a.range_of(m.net.span)
        out.append(Symbol("network", "network", r, r, _short(format_expr(m.net.expr))))
    if m.settings:
        kids = tuple(
            Symbol(s.key, "setting", a.range_of(s.span), a.range_of(s.span), _short(setting_text(s.value)))
            for s in m.settings
        )
        whole = Range(kids[0].range.start, kids[-1].range.end)
        out.append(Symbol("train", "section", whole, kids[0].selection, f"{len(kids)} settings", kids))
    out.sort(key=lambda s: s.range.start)
    return out


@dataclass(frozen=True)
class Hint:
    """An inlay hint: text shown at a position."""

    position: tuple[int, int]
    label: str


def _chains(m: ast.Module) -> list[ast.Seq]:
    exprs = [d.body for d in m.defs] + ([m.net.expr] if m.net is not None else [])
    return [n for e in exprs for n in ast.walk(e) if isinstance(n, ast.Seq)]


def inlay_hints(a: Analysis, within: Range | None = None) -> list[Hint]:
    """After each block of a chain (`a -> b -> c`), the shape it outputs, where every use of the
    chain agrees on it (a definition used at several widths gets no hint)."""
    if a.module is None or a.graph is None:
        return []
    idx = index_of(a)
    hints: list[Hint] = []
    for seq in _chains(a.module):
        for item in seq.items:
            r = a.range_of(item.span)
            if within is not None and not (within.start <= r.end <= within.end):
                continue
            body = item.body if isinstance(item, ast.Named) else item
            shapes = {block_stats(a, b.path).shape for b in idx.blocks_at(body.span)}
            shapes |= {n.shape for n in idx.nodes_at(body.span)}
            if len(shapes) == 1:
                (shape,) = shapes
                if shape is not None:
                    hints.append(Hint(r.end, fmt_shape(shape)))
    return hints
