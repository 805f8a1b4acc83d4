"""Exporters: a graph (and its compiled module, with weights) to files that run without netc.

    from dsl.export import to_python
    source = to_python(graph)          # readable standalone PyTorch, state_dict keys as dsl.build's

`pysource` writes Python source, `modules` says how each torch module is written, `formats` saves
ONNX and torch.export programs. Every exporter imports torch (it reads the compiled module).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

    from dsl.core.graph import Graph
    from dsl.export.preprocessing import Preprocessing


def to_python(
    graph: Graph,
    model: nn.Module | None = None,
    origin: str = "",
    weights: str = "weights.pt",
    preprocessing: Preprocessing | None = None,
) -> str:
    """Standalone PyTorch source for `graph`: one class per definition, the network's class last.
    `model` is the module dsl.build made (built here if not given); the docstring names `origin`
    (the .net file or run folder) and `weights` (the weights file to load); with `preprocessing`,
    the module also holds INPUT_SHAPE, MEAN, STD, CLASSES and `preprocess(images)`."""
    from dsl.export.pysource import PythonWriter
    from dsl.nn.compile import build

    model = model if model is not None else build(graph)
    return PythonWriter(graph, model).source(origin, weights, preprocessing)
