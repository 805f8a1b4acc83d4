"""What a run leaves behind: `Snapshot` (everything needed to resume) and `RunResult`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from dsl.train.interrupt import StopRequest


@dataclass
class Snapshot:
    """Everything needed to resume a run after `epoch` completed epochs (CPU tensors)."""

    seed: int
    epoch: int
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    rng_cpu: torch.Tensor
    rng_cuda: torch.Tensor | None
    seconds: float
    rows: list[dict[str, Any]]
    ema: dict[str, torch.Tensor] | None = None  # the weight EMA (ema_every > 0) once it has started
    # saved inside an epoch (Ctrl-C, or every few minutes): `step` steps of epoch `epoch` (0-based)
    # are done; the epoch is redrawn from the random state it started with, the rest continues
    # from rng_cpu/rng_cuda (dropout), and the epoch's partial sums and seconds carry on
    step: int = 0
    rng_epoch_cpu: torch.Tensor | None = None
    rng_epoch_cuda: torch.Tensor | None = None
    partial_losses: torch.Tensor | None = None  # the summed loss of each step done this epoch
    partial_correct: int = 0
    partial_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (what the checkpoint file stores)."""
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Snapshot:
        """The inverse of `to_dict`; raises KeyError/TypeError on a malformed dict. Checkpoints
        written before a field with a default existed read as that default."""
        fields = cls.__dataclass_fields__
        optional = {k for k, f in fields.items() if f.default is not dataclasses.MISSING}
        return cls(**{k: d[k] for k in fields if k in d or k not in optional})


@dataclass
class RunResult:
    """One finished run."""

    seed: int
    epochs: int | float  # the setting (9.9 for a run whose last epoch was cut short)
    test_acc: float
    test_loss: float
    train_acc: float
    train_loss: float
    seconds: float  # calibration + training + test evaluations (per epoch, or the last only); not warm-up
    warmup_s: float = 0.0  # untimed warm-up done for this run (0 when cached)
    rows: list[dict[str, Any]] = field(default_factory=list)
    model: Any = field(default=None, repr=False)  # the trained module (on the device)

    def summary(self) -> dict[str, Any]:
        """The scalar fields."""
        return {
            k: getattr(self, k)
            for k in ("seed", "epochs", "test_acc", "test_loss", "train_acc", "train_loss", "seconds", "warmup_s")
        }


@dataclass
class MidEpochSaves:
    """Saving inside an epoch: when `stop` is requested (Ctrl-C; the trainer then raises
    KeyboardInterrupt once the snapshot is saved) and every `every` seconds of training (0: only
    on a stop). `save` receives the snapshot (the session checkpoints it)."""

    save: Callable[[Snapshot], None]
    stop: StopRequest
    every: float = 300.0
