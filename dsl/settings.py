"""The training-settings section of a .net file: known keys, defaults, checks.

Defaults are the article's 24-epoch recipe for Residual:L1+L3 (see docs/language.md).
A `train { ... }` block overrides them; `netc train` flags override the file.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Setting:
    default: Any
    check: Callable[[Any], str | None]  # returns a complaint, or None when the value is fine
    doc: str


def _int(lo, hi=None):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, int):
            return "an integer"
        if v < lo or (hi is not None and v > hi):
            return f"an integer in [{lo}, {hi}]" if hi is not None else f"an integer >= {lo}"
        return None
    return check


def _float(lo, hi=None):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return "a number"
        if v < lo or (hi is not None and v > hi):
            return f"a number in [{lo}, {hi}]" if hi is not None else f"a number >= {lo}"
        return None
    return check


def _bool(v):
    return None if isinstance(v, bool) else "true or false"


def _knots(v):
    want = "a list of (epoch, lr) pairs with increasing epochs, e.g. [(0, 0), (5, 0.4), (24, 0)]"
    if not isinstance(v, list) or len(v) < 2:
        return want
    last = None
    for pair in v:
        if not (isinstance(pair, tuple) and len(pair) == 2
                and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in pair)):
            return want
        if pair[1] < 0 or (last is not None and pair[0] <= last):
            return want
        last = pair[0]
    return None


def _triple(v):
    if (isinstance(v, (list, tuple)) and len(v) in (1, 3)
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)):
        return None
    return "a list of 1 or 3 numbers (one per channel)"


SETTINGS: dict[str, Setting] = {
    "epochs": Setting(24, _int(1, 100_000), "training epochs"),
    "batch_size": Setting(512, _int(1, 1 << 20), "training batch size (last partial batch kept)"),
    "eval_batch_size": Setting(512, _int(1, 1 << 20), "test-time batch size"),
    "lr": Setting([(0, 0.0), (5, 0.4), (24, 0.0)], _knots,
                  "piecewise-linear learning-rate knots (epoch, lr), set every step; for mean loss"),
    "momentum": Setting(0.9, _float(0.0, 1.0), "SGD momentum"),
    "nesterov": Setting(True, _bool, "Nesterov momentum"),
    "weight_decay": Setting(5e-4, _float(0.0, 1.0), "L2 weight decay (per mean loss), on all parameters"),
    "pad": Setting(4, _int(0, 64), "reflect padding before random crop (0: no crop)"),
    "flip": Setting(True, _bool, "random horizontal flip, p=0.5"),
    "cutout": Setting(8, _int(0, 4096), "cutout square side, zero-filled after normalisation (0: off)"),
    "mean": Setting([0.4914, 0.4822, 0.4465], _triple, "per-channel normalisation mean (on [0,1] pixels)"),
    "std": Setting([0.2471, 0.2435, 0.2616], _triple, "per-channel normalisation std (on [0,1] pixels)"),
    "label_smoothing": Setting(0.0, _float(0.0, 1.0), "cross-entropy label smoothing"),
    "target": Setting(0.94, _float(0.0, 1.0), "accuracy target reported as 'fraction >= target'"),
}


def defaults() -> dict[str, Any]:
    return {k: (list(s.default) if isinstance(s.default, list) else s.default) for k, s in SETTINGS.items()}


def scaled_knots(knots: list[tuple[float, float]], epochs: int) -> list[tuple[float, float]]:
    """Knots for a different training length: stretch so the last knot lands on `epochs`.

    Interior knots at whole epochs stay whole (rounded), as in the article's recipes (peak at
    epoch 5 of 24 becomes 4 of 20, as its 20-epoch runs used), unless rounding would make two
    knots meet; then the exact stretched epoch is kept."""
    last = knots[-1][0]
    if epochs == last or last <= 0:
        return [tuple(k) for k in knots]
    exact = [e * epochs / last for e, _ in knots]
    out: list[tuple[float, float]] = []
    for i, ((e, v), x) in enumerate(zip(knots, exact)):
        if 0 < i < len(knots) - 1 and float(e).is_integer():
            r = max(1, round(x))
            if out[-1][0] < r < exact[i + 1]:
                x = r
        out.append((int(x) if float(x).is_integer() else x, v))
    return out


class SettingsError(ValueError):
    """A resolved setting is out of range; the caller turns it into a located NetError."""


def resolve(file_settings: dict, epochs: int | None = None, **overrides) -> dict:
    """The settings of one run: the file's, then flag overrides (None = keep), with `epochs`
    also stretching the lr knots. Raises SettingsError naming the setting that is wrong."""
    s = {k: (list(v) if isinstance(v, list) else v) for k, v in file_settings.items()}
    for k, v in overrides.items():
        if v is not None:
            s[k] = v
    s["lr"] = [tuple(k) for k in s["lr"]]
    if epochs is not None:
        s["epochs"] = epochs
        s["lr"] = scaled_knots(s["lr"], epochs)
    for k, v in s.items():
        spec = SETTINGS.get(k)
        complaint = spec.check(v) if spec else f"one of {', '.join(SETTINGS)}"
        if complaint:
            raise SettingsError(f"training setting {k} = {v!r} must be {complaint}")
    return s
