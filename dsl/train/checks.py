"""Checks that a network can be trained, made before anything is allocated (no torch here)."""

from __future__ import annotations

from ..errors import TrainError
from ..graph import Graph
from ..ops import fmt_shape


def check_trainable(graph: Graph) -> None:
    """Refuse a network netc cannot train as a classifier (its output is not a vector)."""
    if len(graph.output_shape) != 1:
        raise TrainError(
            f"the network's output is a {fmt_shape(graph.output_shape)} map; training needs one score "
            "per class (a vector)",
            graph.net_span,
            file=graph.file,
            hint="end the network with gmp (or gap, or flatten) and a linear layer, e.g. -> gmp -> linear(10)",
        )
