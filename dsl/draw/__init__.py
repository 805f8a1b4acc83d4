"""Diagrams of a network, straight from the framework-free graph (no torch).

    from dsl.draw import to_dot
    source = to_dot(graph, level="blocks")            # the article's block picture
    source = to_dot(graph, level="ops", depth=2)       # every primitive, clusters per level

`structure` works out the hierarchy (units, block kinds, folded repeats) in time linear in
the graph, `blocks` and `ops_view` turn it into DOT with the `graphviz` binding, `render`
runs `dot` and writes the file atomically.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..graph import Graph

LEVELS = ("blocks", "ops")


DIRECTIONS = ("LR", "TB")


def to_dot(
    graph: Graph,
    level: str = "blocks",
    depth: int | None = None,
    fold: bool = True,
    dashed: bool = True,
    direction: str = "LR",
) -> str:
    """DOT source of `graph` in the given view, left to right (LR, the article's) or top to
    bottom (TB, for deep networks); deterministic (stable order, no timestamps)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}; expected one of {DIRECTIONS}")
    if level == "blocks":
        from .blocks import blocks_dot

        if depth is not None and depth < 1:
            raise ValueError("the blocks view's depth is 1 (top-level blocks) or more")
        dot = blocks_dot(graph, fold=fold, dashed=dashed, depth=depth or 1)
    elif level == "ops":
        from .ops_view import ops_dot

        dot = ops_dot(graph, depth=depth, fold=fold, dashed=dashed)
    else:
        raise ValueError(f"unknown level {level!r}; expected one of {LEVELS}")
    if direction != "LR":
        dot.attr(rankdir=direction)
    return str(dot.source)
    raise ValueError(f"unknown level {level!r}; expected one of {LEVELS}")
