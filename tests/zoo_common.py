"""Pieces the zoo comparisons (test_zoo_a.py, test_zoo_b.py) share."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

import torch

T = TypeVar("T")


def built_once(make: Callable[[str], T]) -> Iterator[Callable[[str], T]]:
    """A module-scoped fixture's body: `make(name)` at most once per name, dropped after the module."""
    made: dict[str, T] = {}

    def get(name: str) -> T:
        if name not in made:
            made[name] = make(name)
        return made[name]

    yield get
    made.clear()


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """The largest absolute difference of two tensors of the same shape."""
    assert a.shape == b.shape
    return (a - b).abs().max().item()
