"""Expansion: definitions + one set of search-space decisions -> the parts of a flat `Graph`.

`bind` pairs arguments with parameters, `choices` holds decisions and variant naming,
`builder` creates the graph's nodes (shapes, limits, names), `expander` walks the text.
"""
from __future__ import annotations

from dataclasses import dataclass

from .. import ast
from ..graph import Block, Node
from ..limits import Limits
from .choices import Decisions, Part
from .expander import Expander


@dataclass
class Expansion:
    """The flat graph's parts for one set of decisions, and the name parts of the options taken."""
    nodes: dict[str, Node]
    blocks: dict[str, Block]
    output: str
    parts: list[Part]


def expand(defs: dict[str, ast.Def], net: ast.Expr, input_shape: tuple[int, ...], limits: Limits,
           decisions: Decisions) -> Expansion:
    """Expand `net` once under `decisions`."""
    ex = Expander(defs, input_shape, limits, decisions)
    out = ex.run(net)
    nodes, blocks, output = ex.builder.finish(out)
    return Expansion(nodes, blocks, output, list(decisions.parts))


__all__ = ["Decisions", "Expansion", "expand"]
