"""What the training loop reads its data from: a `BatchSource`, one per run.

Two kinds exist: `devicedata.DeviceEpochs` (the article's path: the whole dataset on the device,
one gather per epoch) and `stream.StreamEpochs` (a DataLoader decoding and augmenting batches in
worker processes). `Trainer` runs the same loop over either:

    source = data.source(settings, seed, channels_last)   # per run
    for x, y in source.train_epoch(epoch, steps): ...      # `steps` batches of `batch_size` (the last may be short)
    for x, y in source.train_epoch(epoch, steps, start=k): ...  # batches k.. of the same epoch (a resumed one)
    for x, y in source.test_batches(): ...                 # the test set in its stored order
    x, y = source.head("train", k)                         # the first k images, normalised, not augmented

Every batch is on the device, normalised, in the input dtype and the model's memory layout.
An epoch's order and augmentation are a function of (seed, epoch) alone, so a resumed run
redraws them, and a later data-parallel trainer can cut each global batch into per-rank shards.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal, Protocol

import torch

Split = Literal["train", "test"]


class BatchSource(Protocol):
    """One run's view of the data (see the module docstring)."""

    n_train: int
    n_test: int
    streamed: bool  # True on the streamed path: the trainer reports images/s in the progress display

    def train_epoch(self, epoch: int, steps: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches `start`..`steps`-1 of epoch `epoch` (0-based), shuffled and augmented; the epoch is
        drawn whole (from the random state at the first batch), as when it is trained from its start."""
        ...

    def test_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The test set in batches of `eval_batch_size`, evaluation transform applied."""
        ...

    def head(self, split: Split, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The first `k` images of `split` (stored order), normalised, not augmented, and their labels."""
        ...
