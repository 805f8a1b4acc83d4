"""The learning-rate schedule: piecewise linear through (epoch, lr) knots, set every step.

`lr_at(knots, t)` with t = epoch + step/steps (fractional epochs); flat outside the knots.
"""

from __future__ import annotations

from collections.abc import Sequence

Knots = Sequence[tuple[float, float]]


def lr_at(knots: Knots, t: float) -> float:
    """Linear interpolation through `knots` [(epoch, lr), ...] at fractional epoch `t`."""
    if t <= knots[0][0]:
        return float(knots[0][1])
    for (e0, v0), (e1, v1) in zip(knots, knots[1:]):
        if t <= e1:
            return float(v0 + (v1 - v0) * (t - e0) / (e1 - e0))
    return float(knots[-1][1])


def epoch_lrs(knots: Knots, epoch: int, steps: int) -> list[float]:
    """The lr of each of the `steps` steps of `epoch` (0-based): lr_at(epoch + i/steps)."""
    return [lr_at(knots, epoch + i / steps) for i in range(steps)]
