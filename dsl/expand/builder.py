"""Building the flat graph: scopes, op nodes with concrete parameters and checked shapes, names.

`GraphBuilder.add_op` is where every op enters the graph: its `auto` parameters are
resolved from the input shapes, its shape rule runs, the absurd-size limits are checked
(before anything is allocated) and its parameters and MACs are counted. `finish` names
everything (`layer1/res/conv_bn_1/conv`) and returns the graph's nodes and blocks.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from dsl.core.graph import Block, Node, Record
from dsl.core.ops import Op, ParamError, Params, Shape, ShapeError, fmt_shape
from dsl.errors import NetError, Span
from dsl.front.deep import checkpoint
from dsl.front.limits import Limits
from dsl.front.names import reserved

Note = tuple[str, Span]


class Scope:
    """One level of the hierarchy being built: an instance of a definition.

    Scopes point to their children only (no parent pointers), so a discarded expansion is freed
    by reference counting at once, without waiting for the cycle collector."""

    __slots__ = (
        "base",
        "definition",
        "label",
        "span",
        "children",
        "optional",
        "repeat_of",
        "extension",
        "name",
        "explicit",
        "args",
    )

    def __init__(self, definition: str, label: str | None, span: Span | None, base: str | None = None):
        self.base = base or definition
        self.explicit = base is not None  # named by the user (`layer1: ...`, a list's index)
        self.definition = definition
        self.label = label
        self.span = span
        self.children: list[Scope | OpNode] = []
        self.optional = False
        self.repeat_of: Scope | None = None
        self.extension = False
        self.name = ""
        self.args: tuple[tuple[str, Any], ...] = ()  # the definition's value arguments at this call

    def location(self) -> str | None:
        """Where a choice inside this block is: its label, else its definition's name; None at the top."""
        return self.label or self.definition or None


class OpNode:
    """An op being built (named by `GraphBuilder.finish`)."""

    __slots__ = ("base", "op", "params", "inputs", "shape", "span", "n_params", "macs", "name", "explicit")

    def __init__(
        self, op: str, params: Params, inputs: list[OpNode], shape: Shape, span: Span | None, n_params: int, macs: int
    ):
        self.base = op
        self.op = op
        self.params = params
        self.inputs = inputs
        self.shape = shape
        self.span = span
        self.n_params = n_params
        self.macs = macs
        self.name = ""
        self.explicit = False


class GraphBuilder:
    """Collects scopes and ops in topological order, enforcing the limits as it goes."""

    def __init__(self, input_shape: Shape, limits: Limits):
        self.limits = limits
        self.root = Scope("", None, None)
        self.ops: list[OpNode] = []
        self.total_params = 0
        self.input = self._add(OpNode("input", {}, [], tuple(input_shape), None, 0, 0), self.root)

    def open_scope(
        self, definition: str, label: str | None, parent: Scope, span: Span | None, base: str | None = None
    ) -> Scope:
        """A new block inside `parent`, for one call of a definition (named `base` if given)."""
        child = Scope(definition, label, span, base)
        parent.children.append(child)
        return child

    def add_op(
        self,
        op: Op,
        params: Params,
        inputs: list[OpNode],
        span: Span,
        scope: Scope,
        branch_spans: list[Span] | None = None,
        name: str | None = None,
    ) -> OpNode:
        """Resolve, shape-check and count one op; raises a located NetError on any problem."""
        shapes = [i.shape for i in inputs]
        try:
            params = op.resolve(shapes, params)
        except ParamError as err:
            raise NetError(f"{op.name}: {err}", span) from None
        except ShapeError as err:
            raise NetError(f"shape mismatch at {op.name}: {err} (input {fmt_shape(shapes[0])})", span) from None
        try:
            shape = tuple(op.shape(shapes, params))
        except ShapeError as err:
            notes: list[Note] = []
            message = str(err)
            if branch_spans:
                notes = [(f"this branch gives {fmt_shape(s)}", bs) for s, bs in zip(shapes, branch_spans)]
            else:
                message += f" (input {fmt_shape(shapes[0])})"
            raise NetError(f"shape mismatch at {op.name}: {message}", span, notes=notes) from None
        size = math.prod(shape)
        if size > self.limits.max_activation:
            raise NetError(
                f"{op.name} would output {fmt_shape(shape)} = {size:,} values per sample, "
                f"over the limit of {self.limits.max_activation:,}",
                span,
            )
        n_params, macs = op.count(shapes, shape, params)
        self.total_params += n_params
        if self.total_params > self.limits.max_params:
            raise NetError(
                f"the network exceeds the parameter budget: {self.total_params:,} parameters at this "
                f"{op.name}, limit {self.limits.max_params:,}",
                span,
                hint="nothing was allocated; shrink the widths or raise the budget (--max-params)",
            )
        node = OpNode(op.name, params, inputs, shape, span, n_params, macs)
        if name is not None:
            node.base, node.explicit = name, True
        return self._add(node, scope)

    def _add(self, node: OpNode, scope: Scope) -> OpNode:
        if not len(self.ops) & 255:
            checkpoint()  # an editor may no longer want this result
        if len(self.ops) >= self.limits.max_nodes:
            raise NetError(f"the network expands to more than {self.limits.max_nodes:,} ops", node.span)
        scope.children.append(node)
        self.ops.append(node)
        return node

    def name_all(self) -> None:
        """Name every scope and op. A name the user gave (`conv1: conv`, a list's index) is kept
        as written and must be unique in its block; the others are their definition or op,
        numbered from 1 when repeated within a level and moved past any name the user took."""
        stack: list[tuple[Scope, str]] = [(self.root, "")]
        while stack:  # iterative: the hierarchy can be as deep as the nesting limit allows
            scope, prefix = stack.pop()
            taken: dict[str, Scope | OpNode] = {}
            for c in scope.children:
                if c.explicit:
                    why = reserved(c.base)
                    if why is not None:
                        raise NetError(
                            f"'{c.base}' cannot name a block or op: {why}",
                            c.span,
                            hint=f"choose another name, e.g. {c.base}_",
                        )
                    if c.base in taken:
                        other = taken[c.base]
                        raise NetError(
                            f"two blocks here are named '{c.base}'",
                            c.span,
                            notes=[("the other one", other.span)] if other.span else [],
                        )
                    taken[c.base] = c
            counts: dict[str, int] = {}
            for c in scope.children:
                if not c.explicit:
                    if reserved(c.base) is not None:  # a definition called `float`: its blocks are `float_`
                        c.base += "_"
                    counts[c.base] = counts.get(c.base, 0) + 1
            seen: dict[str, int] = {}
            for c in scope.children:
                if c.explicit:
                    local = c.base
                elif counts[c.base] > 1:
                    seen[c.base] = seen.get(c.base, 0) + 1
                    local = f"{c.base}_{seen[c.base]}"
                else:
                    local = c.base
                while not c.explicit and local in taken:  # the user took this name: number on
                    seen[c.base] = seen.get(c.base, counts[c.base] > 1) + 1
                    local = f"{c.base}_{seen[c.base]}"
                if not c.explicit:
                    taken[local] = c
                c.name = f"{prefix}{local}"
                if isinstance(c, Scope):
                    stack.append((c, c.name + "/"))

    def records(self) -> Iterator[Record]:
        """(name, op, params, input names, shape) of every op, in order (after `name_all`)."""
        for n in self.ops:
            yield n.name, n.op, n.params, tuple(i.name for i in n.inputs), n.shape

    def nodes(self) -> dict[str, Node]:
        """The graph's nodes, in topological order (after `name_all`)."""
        return {
            n.name: Node(n.name, n.op, n.params, tuple(i.name for i in n.inputs), n.shape, n.span, n.n_params, n.macs)
            for n in self.ops
        }

    def blocks(self) -> dict[str, Block]:
        """The graph's blocks, parents before children (after `name_all`)."""
        return {
            s.name: Block(
                s.name,
                s.definition,
                s.label,
                s.optional,
                s.repeat_of.name if s.repeat_of else None,
                s.extension,
                s.span,
                s.args,
            )
            for s in _scopes_in_order(self.root)
        }


def _scopes_in_order(root: Scope) -> list[Scope]:
    """Every scope below `root`, pre-order (parents before children, siblings in order)."""
    out: list[Scope] = []
    stack = list(reversed([c for c in root.children if isinstance(c, Scope)]))
    while stack:
        s = stack.pop()
        out.append(s)
        stack.extend(reversed([c for c in s.children if isinstance(c, Scope)]))
    return out
