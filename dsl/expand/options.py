"""What each option of one choice makes: its output shape, parameters and MACs (for editors' hovers).

Each option is expanded in a network where that choice takes it and every other choice its first
option. A block choice's figures are the ops its option makes (`(conv(64) | conv(128))` -> each
conv); a value choice's, the ops written around it (`conv(16 | 32)` -> that conv), else the whole
network's (`k = 3 | 5`, used all over)."""

from __future__ import annotations

from dataclasses import dataclass

from dsl.errors import NetError
from dsl.expand.choices import Decisions, option_count
from dsl.expand.expander import Expander
from dsl.front import ast
from dsl.front.limits import Limits
from dsl.front.printer import format_expr, setting_text

MAX_OPTIONS = 12  # options shown; a longer range is shown at evenly spaced values


@dataclass(frozen=True)
class OptionStats:
    """One option's figures (`error` instead, where that network does not build)."""

    label: str
    shape: tuple[int, ...] | None
    params: int
    macs: int
    what: str  # "option" (the ops it makes), "op" (the ops around a value) or "network"
    error: str | None = None


def shown_options(node: ast.Choice) -> list[int]:
    """The options a hover shows: all, or evenly spaced ones of a long range (its ends included)."""
    n = option_count(node)
    if n <= MAX_OPTIONS:
        return list(range(n))
    return sorted({round(i * (n - 1) / (MAX_OPTIONS - 1)) for i in range(MAX_OPTIONS)})


def option_stats(
    defs: dict[str, ast.Def], net: ast.Expr, input_shape: tuple[int, ...], limits: Limits, node: ast.Choice
) -> list[OptionStats]:
    """The figures of each shown option of `node`."""
    out = []
    for i in shown_options(node):
        label = _label(node, i)
        ex = Expander(defs, input_shape, limits, Decisions({node: i}))
        try:
            final = ex.run(net)
        except NetError as err:
            out.append(OptionStats(label, None, 0, 0, "network", err.message))
            continue
        ops = ex.builder.ops
        if node in ex.made:
            start, end, made_out = ex.made[node]
            mine = ops[start:end]
            out.append(OptionStats(label, made_out.shape, _sum(mine, "n_params"), _sum(mine, "macs"), "option"))
            continue
        around = [o for o in ops if o.span is not None and _inside(node.span, o.span)]
        if around:
            out.append(OptionStats(label, around[-1].shape, _sum(around, "n_params"), _sum(around, "macs"), "op"))
        else:
            out.append(OptionStats(label, final.shape, _sum(ops, "n_params"), _sum(ops, "macs"), "network"))
    return out


def _label(node: ast.Choice, i: int) -> str:
    if isinstance(node, ast.Opt):
        return format_expr(node.body) if i == 0 else "absent"
    if isinstance(node, ast.Range):
        return setting_text(node.value(i))
    o = node.options[i]
    return setting_text(o.value) if isinstance(o, ast.Literal) else format_expr(o)


def _sum(ops: list, field: str) -> int:
    return sum(getattr(o, field) for o in ops)


def _inside(inner: object, outer: object) -> bool:
    a, b = inner, outer
    return (
        getattr(a, "file", None) == getattr(b, "file", None)
        and (b.line, b.col) <= (a.line, a.col)  # type: ignore[attr-defined]
        and (a.end_line, a.end_col) <= (b.end_line, b.end_col)  # type: ignore[attr-defined]
    )
