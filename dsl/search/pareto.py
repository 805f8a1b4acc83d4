"""The Pareto front of a search's results: the networks no other beats on every objective at once.

Objectives are results.csv columns with a direction (`study.OBJECTIVES`: acc is test accuracy,
higher is better; time, params and macs, lower is better). Each network (variant and training
length) is one point: the mean of its finished runs; pruned trials are counted, not ranked.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dsl.search.study import OBJECTIVES

ARROWS = {"maximize": "↑", "minimize": "↓"}


@dataclass(frozen=True)
class Point:
    """One network at one training length: its mean objective values over its finished runs."""

    name: str
    epochs: float
    values: tuple[float, ...]
    runs: int


def points(rows: Sequence[dict[str, Any]], objectives: Sequence[str]) -> list[Point]:
    """The networks of `rows` (pruned trials left out), each the mean of its runs."""
    groups: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for r in rows:
        if r.get("state") == "pruned":
            continue
        if any(r.get(OBJECTIVES[o][0]) is None for o in objectives):
            continue
        groups.setdefault((r["variant"], r["epochs"]), []).append(r)
    out = []
    for (name, epochs), rs in groups.items():
        values = tuple(statistics.mean(float(r[OBJECTIVES[o][0]]) for r in rs) for o in objectives)
        out.append(Point(name, epochs, values, len(rs)))
    return out


def _better(a: Point, b: Point, signs: Sequence[float]) -> bool:
    """Whether `a` dominates `b`: no worse on every objective, better on one."""
    pairs = [(s * x, s * y) for s, x, y in zip(signs, a.values, b.values)]
    return all(x <= y for x, y in pairs) and any(x < y for x, y in pairs)


def front(pts: Sequence[Point], objectives: Sequence[str]) -> list[Point]:
    """The points no other dominates, sorted by the first objective (best first)."""
    signs = [-1.0 if OBJECTIVES[o][1] == "maximize" else 1.0 for o in objectives]
    # sorted by the objectives, a point can only be dominated by one before it: one pass over the
    # front kept so far (the front is small), not all pairs
    ordered = sorted(pts, key=lambda p: tuple(s * v for s, v in zip(signs, p.values)))
    kept: list[Point] = []
    for p in ordered:
        if not any(_better(q, p, signs) for q in kept):
            kept.append(p)
    return kept


def best_by(pts: Sequence[Point], objectives: Sequence[str]) -> dict[str, Point]:
    """The best point by each objective alone."""
    out = {}
    for i, o in enumerate(objectives):
        sign = -1.0 if OBJECTIVES[o][1] == "maximize" else 1.0
        if pts:
            out[o] = min(pts, key=lambda p: (sign * p.values[i], p.name))
    return out


def _epochs(n: float) -> str:
    return f"{n:g} epoch{'s' * (n != 1)}"


def _shown(o: str, v: float) -> str:
    if o == "acc":
        return f"{v:.2%}"
    if o == "time":
        return f"{v:.1f}s"
    return f"{v:,.0f}"


def summary(rows: Sequence[dict[str, Any]], objectives: Sequence[str]) -> str:
    """The front, the best by each objective and the pruned trials, as text."""
    pts = points(rows, objectives)
    pruned = sum(1 for r in rows if r.get("state") == "pruned")
    heads = ", ".join(f"{o} {ARROWS[OBJECTIVES[o][1]]}" for o in objectives)
    lines = []
    if len(objectives) > 1:
        f = front(pts, objectives)
        lines.append(f"Pareto front ({heads}): {len(f)} of {len(pts)} networks")
        for p in f:
            vals = "  ".join(_shown(o, v) for o, v in zip(objectives, p.values))
            lines.append(f"  {vals}  {p.name} ({_epochs(p.epochs)}, {p.runs} run{'s' * (p.runs != 1)})")
    for o, p in best_by(pts, objectives).items():
        lines.append(f"best by {o}: {p.name} ({_shown(o, p.values[objectives.index(o)])}, {_epochs(p.epochs)})")
    if pruned:
        lines.append(f"pruned trials: {pruned} (stopped early; not ranked)")
    return "\n".join(lines)
