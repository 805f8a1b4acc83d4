"""Diagrams of a network, straight from the framework-free graph (no torch).

    from dsl.draw import to_dot
    source = to_dot(graph, level="blocks")            # the article's block picture
    source = to_dot(graph, level="ops", depth=2)       # every primitive, clusters per level
    picture = dsl.draw(graph)                          # the same, as a graphviz.Digraph

`structure` works out the hierarchy (units, block kinds, folded repeats) in time linear in
the graph, `blocks` and `ops_view` turn it into DOT with the `graphviz` binding, `render`
runs `dot` and writes the file atomically. `notebook_svg` is what a graph shows in Jupyter.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import graphviz

    from dsl.core.graph import Graph

LEVELS = ("blocks", "ops")


DIRECTIONS = ("LR", "TB")

# A graph with more ops than this shows no diagram inline (dot would take seconds):
# `dsl.draw(graph)` or `netc draw` still draw it.
NOTEBOOK_MAX_NODES = 2000


def to_graphviz(
    graph: Graph,
    level: str = "blocks",
    depth: int | None = None,
    fold: bool = True,
    dashed: bool = True,
    direction: str = "LR",
) -> graphviz.Digraph:
    """The drawing of `graph` in the given view as a `graphviz.Digraph`, left to right (LR, the
    article's) or top to bottom (TB, for deep networks); its source is deterministic."""
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}; expected one of {DIRECTIONS}")
    if level == "blocks":
        from dsl.draw.blocks import blocks_dot

        if depth is not None and depth < 1:
            raise ValueError("the blocks view's depth is 1 (top-level blocks) or more")
        dot = blocks_dot(graph, fold=fold, dashed=dashed, depth=depth or 1)
    elif level == "ops":
        from dsl.draw.ops_view import ops_dot

        dot = ops_dot(graph, depth=depth, fold=fold, dashed=dashed)
    else:
        raise ValueError(f"unknown level {level!r}; expected one of {LEVELS}")
    import graphviz

    # The name comes from the user's labels (a variant `<b>x</b>`): the binding would write a
    # name in angle brackets unquoted, as an HTML-like string, and `dot` would refuse it.
    dot.name = graphviz.nohtml(dot.name)
    if direction != "LR":
        dot.attr(rankdir=direction)
    return dot


def to_dot(
    graph: Graph,
    level: str = "blocks",
    depth: int | None = None,
    fold: bool = True,
    dashed: bool = True,
    direction: str = "LR",
) -> str:
    """DOT source of `graph` in the given view (the source of `to_graphviz`'s drawing)."""
    return str(to_graphviz(graph, level=level, depth=depth, fold=fold, dashed=dashed, direction=direction).source)


def notebook_svg(graph: Graph) -> tuple[str | None, str | None]:
    """The blocks view as an SVG document for a notebook, and why not when it cannot be made:
    (svg, None), or (None, a one-line reason): too many ops, no Graphviz, or `dot` failed.
    Never raises for a missing or failing `dot`."""
    n = len(graph.nodes)
    if n > NOTEBOOK_MAX_NODES:
        return None, (
            f"no diagram inline: {n:,} ops (more than {NOTEBOOK_MAX_NODES:,}); "
            "draw it with dsl.draw(graph) or netc draw"
        )
    import graphviz

    from dsl.draw.render import INSTALL

    source = to_graphviz(graph).source.encode("utf-8")
    try:
        svg = graphviz.pipe("dot", "svg", source)
    except graphviz.ExecutableNotFound:
        return None, f"no diagram: Graphviz `dot` was not found; {INSTALL}"
    except graphviz.CalledProcessError as err:
        detail = (err.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        return None, f"no diagram: Graphviz `dot` failed: {detail[-1] if detail else err}"
    except OSError as err:  # dot found but not runnable (permissions, a broken file)
        return None, f"no diagram: could not run Graphviz `dot`: {err}"
    return svg.decode("utf-8"), None


class _CallableModule(types.ModuleType):
    """Importing `dsl.draw` binds this package over the function `dsl.draw`: calling the
    package does what the function does, so `dsl.draw(graph)` works whatever was imported."""

    def __call__(
        self, graph: Graph, level: str = "blocks", depth: int | None = None, direction: str = "LR", fold: bool = True
    ) -> graphviz.Digraph:
        """`dsl.draw(graph)`: the drawing as a `graphviz.Digraph` (see `to_graphviz`)."""
        return to_graphviz(graph, level=level, depth=depth, fold=fold, direction=direction)


sys.modules[__name__].__class__ = _CallableModule
