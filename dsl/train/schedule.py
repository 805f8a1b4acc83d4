"""The learning-rate schedule through (epoch, lr) knots, set every step.

`lr_at(knots, t, curve)` with t = epoch + step/steps (fractional epochs); flat outside the knots.
Between two knots the lr is linear (`curve="linear"`, the default), or with `curve="cosine"` a
half cosine from the higher lr down to the lower one wherever the lr falls (rising and flat
segments stay linear), so `[(0, 0), (5, 1e-3), (100, 0)]` is linear warm-up then cosine decay.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Knots = Sequence[tuple[float, float]]
CURVES = ("linear", "cosine")


def lr_at(knots: Knots, t: float, curve: str = "linear") -> float:
    """The lr through `knots` [(epoch, lr), ...] at fractional epoch `t`, along `curve`."""
    if curve not in CURVES:
        raise ValueError(f"unknown lr curve {curve!r} (known: {', '.join(CURVES)})")
    if t <= knots[0][0]:
        return float(knots[0][1])
    for (e0, v0), (e1, v1) in zip(knots, knots[1:]):
        if t <= e1:
            if curve == "cosine" and v1 < v0:
                return float(v1 + (v0 - v1) * 0.5 * (1.0 + math.cos(math.pi * (t - e0) / (e1 - e0))))
            return float(v0 + (v1 - v0) * (t - e0) / (e1 - e0))
    return float(knots[-1][1])


def epoch_lrs(knots: Knots, epoch: int, steps: int, curve: str = "linear") -> list[float]:
    """The lr of each of the `steps` steps of `epoch` (0-based): lr_at(epoch + i/steps, curve)."""
    return [lr_at(knots, epoch + i / steps, curve) for i in range(steps)]
