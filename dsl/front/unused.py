"""Names in definitions the network never uses: the expansion never reaches them, so a misspelt
block or op there would go unnoticed until the definition is used. The editor shows them as
warnings, not errors: such a file is still a valid network (or a library being written).

Only places that must name a block or an op are checked (a call's name, a chain's items, the
branches of `add(...)`, a repeated or scaled block): an argument may be a value or a symbol that
only the op can judge (`token_pool(class)`), so it is left alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from dsl.core.ops import REGISTRY
from dsl.errors import Span, did_you_mean
from dsl.expand.values import FUNCTIONS
from dsl.front import ast


@dataclass(frozen=True)
class Unknown:
    """A name that names nothing, in a definition the network does not use."""

    name: str
    span: Span
    definition: str
    hint: str | None

    @property
    def message(self) -> str:
        """The warning's text."""
        text = (
            f"unknown name '{self.name}' in '{self.definition}' (the network does not use '{self.definition}', "
            "so netc check does not expand it)"
        )
        return text + (f"\nhint: {self.hint}" if self.hint else "")


def used_definitions(net: ast.Expr | None, defs: Mapping[str, ast.Def]) -> set[str]:
    """The definitions the network reaches, directly or through other definitions (and defaults)."""
    todo = [net] if net is not None else []
    seen: set[str] = set()
    while todo:
        for node in ast.walk(todo.pop()):
            name = node.name if isinstance(node, (ast.Ref, ast.Call)) else None
            d = defs.get(name) if name is not None else None
            if d is not None and d.name not in seen:
                seen.add(d.name)
                todo.append(d.body)
                todo.extend(p.default for p in d.params if p.default is not None)
    return seen


def unknown_names(module: ast.Module, defs: Mapping[str, ast.Def]) -> list[Unknown]:
    """The unknown block and op names in the module's definitions the network does not use."""
    net = module.net.expr if module.net is not None else None
    if net is None and "net" in defs:
        net = defs["net"].body
    used = used_definitions(net, defs)
    if net is None:  # a library of definitions: each stands on its own, all are checked here
        used = set()
    known = set(defs) | set(REGISTRY) | set(FUNCTIONS)  # `w = max(16, c)`: a value definition's call
    out: list[Unknown] = []
    for d in module.defs:
        if d.name in used or d.name == "net":
            continue
        local = known | {p.name for p in d.params}
        for name, span in _block_names(d.body):
            if name not in local:
                out.append(Unknown(name, span, d.name, did_you_mean(name, sorted(local))))
    return sorted(out, key=lambda u: (u.span.line, u.span.col))


def _block_names(e: ast.Expr) -> Iterator[tuple[str, Span]]:
    """(name, span) of every name in a place that must name a block or an op, iteratively."""
    stack: list[tuple[ast.Expr, bool]] = [(e, True)]
    while stack:
        node, block = stack.pop()
        if isinstance(node, ast.Ref):
            if block:
                yield node.name, node.span
        elif isinstance(node, ast.Call):
            yield node.name, node.name_span
            op = REGISTRY.get(node.name)
            branches = op is not None and bool(op.branches)
            stack.extend((a, branches) for a in node.args)
            stack.extend((k.value, False) for k in node.kwargs)
        elif isinstance(node, (ast.Seq, ast.BlockList)):
            stack.extend((i, True) for i in node.items)
        elif isinstance(node, ast.Alt):
            stack.extend((o, block) for o in node.options)
        elif isinstance(node, (ast.Opt, ast.Named)):
            stack.append((node.body, block))
        elif isinstance(node, ast.Repeat):
            stack.extend([(node.body, block), (node.times, False)])
        elif isinstance(node, ast.BinOp):
            stack.extend([(node.left, block and node.op == "*"), (node.right, False)])
        elif isinstance(node, ast.Neg):
            stack.append((node.operand, False))
        elif isinstance(node, ast.Tuple):
            stack.extend((i, False) for i in node.items)
