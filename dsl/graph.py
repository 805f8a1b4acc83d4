"""The framework-free graph every consumer reads (compiler, summary, drawer, trainer).

A flat, topologically ordered dict of nodes, cifar10-fast style: each node has a
hierarchical path name (`layer1/res/conv_bn_1/conv`), an op from the registry, its
resolved parameters, the names of its inputs and its inferred output shape.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .errors import Span
from .ops import REGISTRY, fmt_shape


@dataclass(frozen=True)
class Node:
    name: str                      # full path, '/'-separated
    op: str
    params: dict[str, Any]
    inputs: tuple[str, ...]
    shape: tuple[int, ...]         # output shape for one sample
    span: Span | None = None
    n_params: int = 0
    macs: int = 0

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.name.split("/"))

    @property
    def scope(self) -> str:
        return self.name.rpartition("/")[0]

    @property
    def local_name(self) -> str:
        return self.name.rpartition("/")[2]

    @property
    def role(self) -> str:
        """The op's role from the registry (consumers test roles, never op names)."""
        return REGISTRY[self.op].role


@dataclass(frozen=True)
class Block:
    """One level of the hierarchy: an instance of a definition (e.g. `layer1`, `layer1/res`)."""
    path: str
    definition: str
    label: str | None = None
    optional: bool = False      # came from a search-space choice (`x?` or `a | b`): drawn dashed
    repeat_of: str | None = None  # set when this block is an identical repetition (`x^3`)
    extension: bool = False     # appended by an extension call, like `res` in `layer1(res)`
    span: Span | None = None


@dataclass
class Graph:
    name: str
    file: str
    source: str
    canonical: str
    input_shape: tuple[int, ...]
    nodes: dict[str, Node]
    output: str
    blocks: dict[str, Block] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    variant_names: list[str] = field(default_factory=list)   # non-empty for a search space

    @cached_property
    def fingerprint(self) -> str:
        """A short stable hash of the expanded structure: two graphs with the same fingerprint
        build the same module (same ops, parameters, wiring and shapes), whatever their text."""
        h = hashlib.sha256(json.dumps(list(self.input_shape)).encode())
        for n in self.nodes.values():
            h.update(json.dumps([n.name, n.op, n.params, list(n.inputs), list(n.shape)],
                                sort_keys=True, default=repr, separators=(",", ":")).encode())
        h.update(self.output.encode())
        return h.hexdigest()[:12]

    @property
    def params(self) -> int:
        return sum(n.n_params for n in self.nodes.values())

    @property
    def macs(self) -> int:
        return sum(n.macs for n in self.nodes.values())

    @property
    def num_classes(self) -> int:
        return self.nodes[self.output].shape[0]

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.nodes[self.output].shape

    def consumers(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {n: [] for n in self.nodes}
        for node in self.nodes.values():
            for i in node.inputs:
                out[i].append(node.name)
        return out

    def top_level(self) -> list[str]:
        """Names of the top-level blocks and nodes in order (for the blocks view)."""
        seen: dict[str, None] = {}
        for node in self.nodes.values():
            seen.setdefault(node.path[0], None)
        return list(seen)

    def describe(self) -> str:
        return (f"{self.name}: {len(self.nodes)} nodes, {self.params:,} params, {self.macs:,} MACs, "
                f"{fmt_shape(self.input_shape)} -> {fmt_shape(self.output_shape)}")

    def op(self, node: Node):
        return REGISTRY[node.op]
