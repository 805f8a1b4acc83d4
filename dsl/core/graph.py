"""The framework-free graph every consumer reads (compiler, summary, drawer, trainer).

A flat, topologically ordered dict of nodes, cifar10-fast style: each node has a
hierarchical path name (`layer1/res/conv_bn_1/conv`), an op from the registry, its
parameters (all concrete: no `auto` is left), the names of its inputs and its output shape.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from dsl.core.ops import REGISTRY, fmt_shape
from dsl.errors import Span


@dataclass(frozen=True)
class Node:
    """One primitive op of the network."""

    name: str  # full path, '/'-separated
    op: str
    params: dict[str, Any]
    inputs: tuple[str, ...]
    shape: tuple[int, ...]  # output shape for one sample
    span: Span | None = None
    n_params: int = 0
    macs: int = 0

    @property
    def path(self) -> tuple[str, ...]:
        """The name split into levels."""
        return tuple(self.name.split("/"))

    @property
    def scope(self) -> str:
        """The path of the block holding this node ('' at the top level)."""
        return self.name.rpartition("/")[0]

    @property
    def local_name(self) -> str:
        """The last level of the name (`conv`, `conv_bn_1`)."""
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
    optional: bool = False  # came from a search-space choice (`x?` or `a | b`): drawn dashed
    repeat_of: str | None = None  # set when this block is an identical repetition (`x^3`)
    extension: bool = False  # appended by an extension call, like `res` in `layer1(res)`
    span: Span | None = None
    args: tuple[tuple[str, Any], ...] = ()  # the definition's value parameters at this call: (("c", 128), ...)


@dataclass
class Graph:
    """One network, fully expanded: what every consumer reads."""

    name: str
    file: str
    source: str  # the text of the file it was loaded from
    canonical: str  # canonical text of the network (search choices resolved)
    input_shape: tuple[int, ...]
    nodes: dict[str, Node]
    output: str
    blocks: dict[str, Block] = field(default_factory=dict)
    variant_names: list[str] = field(default_factory=list)  # non-empty for a search space
    sources: dict[str, str] = field(default_factory=dict)  # every file read (as the user names it) -> text
    net_span: Span | None = None  # where the network expression is written
    classes: int | None = None  # the class count the file declares (`classes = 100`), if it does

    @cached_property
    def fingerprint(self) -> str:
        """A short stable hash of the network (see `fingerprint_of`)."""
        return fingerprint_of(
            self.input_shape, ((n.name, n.op, n.params, n.inputs, n.shape) for n in self.nodes.values()), self.output
        )

    @property
    def params(self) -> int:
        """Trainable parameters in total."""
        return sum(n.n_params for n in self.nodes.values())

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one forward pass of one sample."""
        return sum(n.macs for n in self.nodes.values())

    @property
    def output_shape(self) -> tuple[int, ...]:
        """The shape of the network's output for one sample."""
        return self.nodes[self.output].shape

    @property
    def num_classes(self) -> int:
        """The output size of a classifier (the first output dimension)."""
        return self.output_shape[0]

    @cached_property
    def _consumers(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {n: [] for n in self.nodes}
        for node in self.nodes.values():
            for i in node.inputs:
                out[i].append(node.name)
        return out

    def consumers(self) -> dict[str, list[str]]:
        """For every node, the nodes reading its output (computed once; do not modify)."""
        return self._consumers

    def describe(self) -> str:
        """One line: ops, parameters, MACs, input and output shapes."""
        return (
            f"{self.name}: {len(self.nodes)} nodes, {self.params:,} params, {self.macs:,} MACs, "
            f"{fmt_shape(self.input_shape)} -> {fmt_shape(self.output_shape)}"
        )

    def _repr_mimebundle_(
        self, include: Container[str] | None = None, exclude: Container[str] | None = None
    ) -> dict[str, str]:
        """What Jupyter shows: what the registered display gives (`dsl.inspect.notebook`: the
        blocks view above the summary table), else `describe()` as plain text."""
        if DISPLAY:
            return DISPLAY[0].bundle(self, include, exclude)
        return {"text/plain": self.describe()}

    def _repr_html_(self) -> str:
        """The summary as an HTML table, from the registered display (never runs Graphviz)."""
        if DISPLAY:
            return DISPLAY[0].table(self)
        return html.escape(self.describe())


class Display(Protocol):
    """How a notebook shows a graph (`dsl.inspect.notebook`)."""

    def bundle(self, graph: Graph, include: Container[str] | None, exclude: Container[str] | None) -> dict[str, str]:
        """Jupyter's mime bundle."""
        ...

    def table(self, graph: Graph) -> str:
        """The summary table as HTML."""
        ...


# How a notebook shows a graph: set by `dsl` on import (`dsl.inspect.notebook`), so that the core
# imports no consumer (drawing, summary) itself.
DISPLAY: list[Display] = []


Record = tuple[str, str, dict[str, Any], tuple[str, ...], tuple[int, ...]]  # name, op, params, inputs, shape


def fingerprint_of(input_shape: tuple[int, ...], records: Iterable[Record], output: str) -> str:
    """Two networks with the same fingerprint build the same module (same module tree, ops,
    concrete parameters, wiring and shapes), whatever their text. Identity ops build nothing,
    so they are looked through.

    Parameter values are ints, floats, bools and strings, whose repr is exact and stable; an
    op's parameters are always in its registry order, so their dict's repr is canonical too."""
    parts = [repr(tuple(input_shape))]
    alias: dict[str, str] = {}
    identity = {name for name, op in REGISTRY.items() if op.role == "identity"}
    for name, op, params, inputs, shape in records:
        if op in identity:
            alias[name] = alias.get(inputs[0], inputs[0])
            continue
        ins = ",".join(alias.get(i, i) for i in inputs)
        parts.append(f"{name}|{op}|{params!r}|{ins}|{shape!r}")
    parts.append(repr(alias.get(output, output)))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
