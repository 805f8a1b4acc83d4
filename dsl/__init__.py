"""netc: a declarative model-graph language for neural networks.

import dsl
graph = dsl.load("nets/residual_l1_l3.net")     # framework-free graph, shapes inferred
model = dsl.build(graph)                          # torch.nn.Module (imports torch lazily)
dsl.draw(graph)                                   # the blocks view as a graphviz.Digraph
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from dsl.core import graph as _graph
from dsl.errors import NetError

if TYPE_CHECKING:
    from collections.abc import Mapping

    import graphviz
    import torch

    from dsl.core.graph import Graph
    from dsl.core.ops import Op
    from dsl.job import Job
    from dsl.train.trained import TrainedRun

__version__ = "0.1.0"


class _LazyNotebook:
    """`dsl.core.graph.Display`, importing `dsl.inspect.notebook` (and Graphviz) only when a
    notebook shows a graph."""

    def bundle(self, graph: Graph, include: Any, exclude: Any) -> dict[str, str]:
        from dsl.inspect.notebook import bundle

        return bundle(graph, include, exclude)

    def table(self, graph: Graph) -> str:
        from dsl.inspect.notebook import table

        return table(graph)


_graph.DISPLAY[:] = [_LazyNotebook()]  # notebooks show a graph's diagram and summary (the core imports no consumer)
__all__ = [
    "load",
    "loads",
    "load_job",
    "loads_job",
    "build",
    "draw",
    "load_run",
    "variants",
    "register_op",
    "load_plugins",
    "NetError",
    "__version__",
]


def load(path: str | os.PathLike[str], variant: str | None = None, **limits: Any) -> Graph:
    """Parse, resolve and shape-check a .net file; returns a `dsl.core.graph.Graph`."""
    from dsl.front.loader import load as _load

    return _load(path, variant=variant, **limits)


def loads(text: str | bytes, variant: str | None = None, filename: str = "<string>", **limits: Any) -> Graph:
    """Like `load`, from a string (imports resolve relative to the current directory)."""
    from dsl.front.loader import loads as _loads

    return _loads(text, variant=variant, filename=filename, **limits)


def load_job(path: str | os.PathLike[str], variant: str | None = None, **limits: Any) -> Job:
    """The network of a .net file with its training recipe (`.graph`, `.settings`, `.sources`); a
    search space needs `variant`."""
    from dsl.front.loader import load_job as _load_job

    return _load_job(path, variant, **limits)


def loads_job(text: str | bytes, variant: str | None = None, filename: str = "<string>", **limits: Any) -> Job:
    """Like `load_job`, from a string."""
    from dsl.front.loader import loads_job as _loads_job

    return _loads_job(text, variant, filename, **limits)


def variants(path: str | os.PathLike[str], **limits: Any) -> list[str]:
    """The variant names of a search-space file (['Backbone', 'Residual:L1', ...]); [] for a plain net."""
    from dsl.front.loader import load_program

    return [v.name for v in load_program(path, **limits).variants()]


def register_op(op: Op) -> Op:
    """Add an op to the language (the API netc's own primitives use): see `dsl.core.ops`."""
    from dsl.core.ops import register

    return register(op)


def load_plugins(modules: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Load op plugins: installed `netc.ops` entry points, $NETC_PLUGINS and `modules`."""
    from dsl.plugins import load_plugins as _load

    return _load(modules)


def build(graph: Graph, weights: str | os.PathLike[str] | Mapping[str, torch.Tensor] | None = None) -> torch.nn.Module:
    """Compile a graph into a torch.nn.Module (imports torch); `weights` (a state dict, or a file
    saved by netc or torch.save, read with weights_only=True) are loaded exactly (strict)."""
    from dsl.nn.compile import build as _build

    model = _build(graph)
    if weights is not None:
        from dsl.train.weights import apply_weights, load_weights, size_bound

        if isinstance(weights, (str, os.PathLike)):  # checked against its .sha256 file when it has one
            apply_weights(model, load_weights(weights, size_bound(model)), str(weights))
        else:
            apply_weights(model, weights, "the given state dict")
    return model


def load_run(run_dir: str | os.PathLike[str], run: int = 0) -> TrainedRun:
    """A trained run of `netc train`: `.model` (eval mode), `.graph`, `.settings`, `.classes`."""
    from dsl.train.trained import load_run as _load_run

    return _load_run(run_dir, run)


def draw(
    graph: Graph, level: str = "blocks", depth: int | None = None, direction: str = "LR", fold: bool = True
) -> graphviz.Digraph:
    """The diagram of a graph as a `graphviz.Digraph` (`.pipe(format="svg")`, `.render(...)`,
    shown inline in Jupyter); the views and options of `netc draw` (see `dsl.draw.to_graphviz`)."""
    from dsl.draw import to_graphviz

    return to_graphviz(graph, level=level, depth=depth, fold=fold, direction=direction)
