"""netc: a declarative model-graph language for neural networks.

import dsl
graph = dsl.load("nets/residual_l1_l3.net")     # framework-free graph, shapes inferred
model = dsl.build(graph)                          # torch.nn.Module (imports torch lazily)
dsl.draw(graph)                                   # the blocks view as a graphviz.Digraph
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .errors import NetError

if TYPE_CHECKING:
    import graphviz
    import torch

    from .graph import Graph
    from .ops import Op

__version__ = "0.1.0"
__all__ = ["load", "loads", "build", "draw", "variants", "register_op", "load_plugins", "NetError", "__version__"]


def load(path: str | os.PathLike[str], variant: str | None = None, **limits: Any) -> Graph:
    """Parse, resolve and shape-check a .net file; returns a `dsl.graph.Graph`."""
    from .loader import load as _load

    return _load(path, variant=variant, **limits)


def loads(text: str | bytes, variant: str | None = None, filename: str = "<string>", **limits: Any) -> Graph:
    """Like `load`, from a string (imports resolve relative to the current directory)."""
    from .loader import loads as _loads

    return _loads(text, variant=variant, filename=filename, **limits)


def variants(path: str | os.PathLike[str], **limits: Any) -> list[str]:
    """The variant names of a search-space file (['Backbone', 'Residual:L1', ...]); [] for a plain net."""
    from .loader import load_program

    return [v.name for v in load_program(path, **limits).variants()]


def register_op(op: Op) -> Op:
    """Add an op to the language (the API netc's own primitives use): see `dsl.ops`."""
    from .ops import register

    return register(op)


def load_plugins(modules: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Load op plugins: installed `netc.ops` entry points, $NETC_PLUGINS and `modules`."""
    from .plugins import load_plugins as _load

    return _load(modules)


def build(graph: Graph) -> torch.nn.Module:
    """Compile a graph into a torch.nn.Module (the only entry that imports torch)."""
    from .compile_torch import build as _build

    return _build(graph)


def draw(
    graph: Graph, level: str = "blocks", depth: int | None = None, direction: str = "LR", fold: bool = True
) -> graphviz.Digraph:
    """The diagram of a graph as a `graphviz.Digraph` (`.pipe(format="svg")`, `.render(...)`,
    shown inline in Jupyter); the views and options of `netc draw` (see `dsl.draw.to_graphviz`)."""
    from .draw import to_graphviz

    return to_graphviz(graph, level=level, depth=depth, fold=fold, direction=direction)
