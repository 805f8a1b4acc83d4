"""Names of value choices: `k` for `k = 3 | 5 | 7`, `c` for `conv(16 | 32)`, `blk^` for `blk^(1 | 2)`.

A variant's name shows each value it chose as `name=value` (`k=5 c=32`, `blk^2`), and a search
strategy asks for each choice by this name. The name comes from where the choice is written: the
definition it is the body of, the parameter it is passed to (a primitive's or a definition's),
the repeat it counts, the block it scales, the training setting it is. Names shared by several
choices are qualified with the block or definition around them (`stage1.c`), then numbered in the
order they are written (`c.1`, `c.2`), so every choice has its own.

Block choices (`relu?`, `a | b`) keep the article's names (`Residual:L1`): `choices.article_name`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from dsl.core.ops import REGISTRY
from dsl.errors import NetError, did_you_mean
from dsl.expand.values import FUNCTIONS
from dsl.front import ast
from dsl.front.printer import format_expr, setting_text

if TYPE_CHECKING:
    from dsl.expand.space import SpaceTree

ValueChoice = ast.Alt | ast.Range


def _param_names(call: ast.Call, defs: dict[str, ast.Def]) -> Sequence[str]:
    """The positional parameter names of what `call` calls (a definition's, else a primitive's)."""
    d = defs.get(call.name)
    if d is not None:
        return [p.name for p in d.params]
    op = REGISTRY.get(call.name)
    return op.positional if op is not None else ()


def _candidates(defs: dict[str, ast.Def], net: ast.Expr) -> dict[ValueChoice, tuple[str, str]]:
    """Each choice written in a value's place -> (its base name, the block or definition around it)."""
    found: dict[ValueChoice, tuple[str, str]] = {}
    roots: list[tuple[ast.Expr, str | None, str]] = [(net, None, "net")]
    for d in defs.values():
        if d.file == "prelude.net" or d.body is net:
            continue
        roots.append((d.body, d.name, d.name))
        roots.extend((p.default, p.name, d.name) for p in d.params if p.default is not None)
    for root, base, owner in roots:
        stack: list[tuple[ast.Expr, str | None, str]] = [(root, base, owner)]
        while stack:
            e, base, owner = stack.pop()
            if isinstance(e, (ast.Alt, ast.Range)) and base is not None and e not in found:
                found[e] = (base, owner)
            if isinstance(e, ast.Call) and e.name in FUNCTIONS and e.name not in defs and e.name not in REGISTRY:
                stack.extend((a, base, owner) for a in e.args)  # `max(16 | 32, c)`: named as the value it gives
            elif isinstance(e, ast.Call):
                names = _param_names(e, defs)
                stack.extend((a, names[i] if i < len(names) else None, owner) for i, a in enumerate(e.args))
                stack.extend((k.value, k.name, owner) for k in e.kwargs)
            elif isinstance(e, ast.Repeat):
                stack.append((e.body, None, owner))
                stack.append((e.times, f"{_tight(format_expr(e.body))}^", owner))
            elif isinstance(e, ast.BinOp) and e.op == "*" and not isinstance(e.right, (ast.Literal, ast.Ref)):
                stack.append((e.left, base, owner))
                stack.append((e.right, base or f"{_tight(format_expr(e.left))}*", owner))
            elif isinstance(e, ast.Named):
                stack.append((e.body, base, e.name))
            elif isinstance(e, (ast.Alt, ast.BinOp, ast.Neg, ast.Tuple)):
                stack.extend((c, base, owner) for c in ast.children(e))  # inner choices: the same name
            else:
                stack.extend((c, None, owner) for c in ast.children(e))
    return found


def choice_names(
    defs: dict[str, ast.Def], net: ast.Expr, settings: Iterable[tuple[str, object]] = ()
) -> dict[ValueChoice, str]:
    """A unique name for every choice written where a value goes, and for every training setting's choice."""
    found = _candidates(defs, net)
    for key, value in settings:
        inner = ast.setting_choices(value)
        for i, c in enumerate(inner, start=1):
            found[c] = (key if len(inner) == 1 else f"{key}.{i}", "train")
    by_base: dict[str, list[ValueChoice]] = {}
    for node, (base, _) in found.items():
        by_base.setdefault(base, []).append(node)
    names: dict[ValueChoice, str] = {}
    for base, nodes in by_base.items():
        if len(nodes) == 1:
            names[nodes[0]] = base
            continue
        qualified = {n: base if found[n][1] in ("net", "train") else f"{found[n][1]}.{base}" for n in nodes}
        shared: dict[str, list[ValueChoice]] = {}
        for n in sorted(nodes, key=lambda n: (n.span.line, n.span.col)):
            shared.setdefault(qualified[n], []).append(n)
        for q, group in shared.items():
            for i, n in enumerate(group, start=1):
                names[n] = q if len(group) == 1 else f"{q}.{i}"
    return names


def _tight(text: str) -> str:
    """`text` without spaces (a variant name's parts are separated by spaces, so none holds one):
    `res(3 | 5)` -> `res(3|5)`, `8..64 step 8` -> `8..64_step_8`."""
    text = re.sub(r"\s*([^\w\s])\s*", r"\1", text.strip())
    return re.sub(r"\s+", "_", text)


def value_part(name: str, shown: str) -> str:
    """How a chosen value reads in a variant's name: `k=5`, or `blk^2` for a repeat count."""
    shown = _tight(shown)
    return f"{name}{shown}" if name.endswith(("^", "*")) else f"{name}={shown}"


def shown_option(node: ast.Choice, i: int, choose: object = None) -> str:
    """How option i of a value choice reads in a name (`32`, `w*2`)."""
    if isinstance(node, ast.Range):
        return setting_text(node.value(i))
    if isinstance(node, ast.Alt):
        o = node.options[i]
        return setting_text(o.value) if isinstance(o, ast.Literal) else format_expr(o, choose)  # type: ignore[arg-type]
    return "present" if i == 0 else "absent"


def parse_variant_name(
    name: str, space: SpaceTree, names: Mapping[ValueChoice, str], file: str
) -> dict[ast.Choice, int]:
    """The decisions a variant name of values gives (`k=5 c.1=32 blk^2`), for a space too large to
    list; every choice the variant reaches must be given, and nothing else."""
    by_name = {n.lower(): node for node, n in names.items() if node in space.valued}
    decided: dict[ast.Choice, int] = {}
    for token in name.split():
        key, eq, shown = token.partition("=")
        if not eq:
            key = next((n for n in by_name if n.endswith(("^", "*")) and token.lower().startswith(n)), "")
            shown = token[len(key) :]
        node = by_name.get(key.lower())
        if node is None:
            raise NetError(
                f"no choice '{key or token}' in '{file}'",
                file=file,
                hint=" ".join(
                    x for x in (did_you_mean(key, list(by_name)), f"its choices: {', '.join(sorted(by_name))}") if x
                ),
            )
        count = node.count if isinstance(node, ast.Range) else len(node.options)
        picks = [i for i in _candidates_of(node, count, shown)]
        if not picks:
            raise NetError(f"'{shown}' is not an option of '{key}' in '{file}'", file=file)
        decided[node] = picks[0]
    reached = space.reached(decided)
    missing = [c for c in reached if c not in decided]
    if missing:
        unnamed = [c for c in missing if c not in names or c not in space.valued]
        if unnamed:
            raise NetError(
                f"'{file}' is too large a space to list its variants, and a name of values cannot pick its "
                f"block choices (line {unnamed[0].span.line})",
                file=file,
                hint="train a variant a search found from its run folder, or make that choice a value",
            )
        raise NetError(
            f"the variant '{name}' does not say " + ", ".join(names[c] for c in missing),  # type: ignore[index]
            file=file,
            hint="a variant of a space too large to list is named by every value it chooses",
        )
    extra = [c for c in decided if c not in reached]
    if extra:
        raise NetError(f"the variant '{name}' does not reach '{names[extra[0]]}'", file=file)  # type: ignore[index]
    return decided


def _candidates_of(node: ValueChoice, count: int, shown: str) -> list[int]:
    if isinstance(node, ast.Range):
        try:
            v = float(shown)
        except ValueError:
            return []
        step = node.step if node.step is not None else 1
        i = round((v - node.lo) / step)
        return [i] if 0 <= i < count and float(node.value(i)) == v else []
    return [i for i in range(count) if _tight(shown_option(node, i)) == _tight(shown)]
