"""How an exported network's inputs are prepared: the record carried inside every export (no torch)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dsl.core.graph import Graph
from dsl.settings import TrainSettings


@dataclass(frozen=True)
class Preprocessing:
    """How an image becomes the network's input: uint8 pixels p -> (p/255 - mean) / std per channel,
    at `input_shape` (C, H, W); `classes` names the outputs when the data named them."""

    input_shape: tuple[int, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: list[str] | None

    @classmethod
    def of(cls, graph: Graph, settings: TrainSettings, classes: list[str] | None) -> Preprocessing:
        """The preprocessing of `graph` trained with `settings` (mean/std widened to its channels)."""
        c = int(graph.input_shape[0]) if graph.input_shape else 1
        mean, std = tuple(settings.mean), tuple(settings.std)
        return cls(
            tuple(int(v) for v in graph.input_shape),
            mean * c if len(mean) == 1 else mean,
            std * c if len(std) == 1 else std,
            classes,
        )

    def to_json(self) -> dict[str, Any]:
        """The record written into the exported files (`netc` metadata)."""
        return {
            "input_shape": list(self.input_shape),
            "pixels": "uint8 0..255; input = (pixels / 255 - mean) / std, per channel",
            "mean": list(self.mean),
            "std": list(self.std),
            "classes": self.classes,
        }
