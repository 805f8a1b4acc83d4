"""Expansion: definitions + one set of search-space decisions -> the parts of a flat `Graph`.

`bind` pairs arguments with parameters, `choices` holds decisions and variant naming,
`builder` creates the graph's nodes (shapes, limits, names), `expander` walks the text.
"""

from __future__ import annotations

from functools import cached_property

from dsl.core.graph import Block, Node, fingerprint_of
from dsl.expand.builder import GraphBuilder
from dsl.expand.choices import Decisions, Part
from dsl.expand.expander import Expander
from dsl.front import ast
from dsl.front.limits import Limits


class Expansion:
    """One expansion: the flat graph's parts (built on demand), its totals and fingerprint, and
    the name parts of the search-space options it took."""

    def __init__(self, builder: GraphBuilder, output: str, input_shape: tuple[int, ...], parts: list[Part]):
        self.builder, self.output, self.input_shape, self.parts = builder, output, input_shape, parts

    @cached_property
    def nodes(self) -> dict[str, Node]:
        """The graph's nodes."""
        return self.builder.nodes()

    @cached_property
    def blocks(self) -> dict[str, Block]:
        """The graph's blocks."""
        return self.builder.blocks()

    @cached_property
    def fingerprint(self) -> str:
        """The network's fingerprint (without building the nodes)."""
        return fingerprint_of(self.input_shape, self.builder.records(), self.output)

    @property
    def params(self) -> int:
        """Parameters in total."""
        return sum(n.n_params for n in self.builder.ops)

    @property
    def macs(self) -> int:
        """MACs in total."""
        return sum(n.macs for n in self.builder.ops)

    @property
    def size(self) -> int:
        """Ops in the graph."""
        return len(self.builder.ops)


def expand(
    defs: dict[str, ast.Def], net: ast.Expr, input_shape: tuple[int, ...], limits: Limits, decisions: Decisions
) -> Expansion:
    """Expand `net` once under `decisions`."""
    ex = Expander(defs, input_shape, limits, decisions)
    out = ex.run(net)
    ex.builder.name_all()
    return Expansion(ex.builder, out.name, tuple(input_shape), list(decisions.parts))


__all__ = ["Decisions", "Expansion", "expand"]
