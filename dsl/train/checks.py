"""Checks that a network can be trained, made before anything is allocated (no torch here)."""

from __future__ import annotations

from dsl.core.graph import Graph
from dsl.core.ops import describe
from dsl.errors import TrainError


def check_trainable(graph: Graph) -> None:
    """Refuse a network netc cannot train as a classifier (its output is not a vector)."""
    out = graph.output_shape
    if len(out) != 1:
        hint = (
            "end the network with token_pool (class or mean) and a linear layer, e.g. -> token_pool -> linear(10)"
            if len(out) == 2
            else "end the network with gmp (or gap, or flatten) and a linear layer, e.g. -> gmp -> linear(10)"
        )
        raise TrainError(
            f"the network's output is {describe(out)}; training needs one score per class (a vector)",
            graph.net_span,
            file=graph.file,
            hint=hint,
        )
