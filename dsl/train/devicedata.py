"""A dataset put on the training device once: normalised, the training set reflect-padded
(`DeviceData`, the article's path), and a run's batches from it (`DeviceEpochs`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from dsl.data import Dataset
from dsl.settings import TrainSettings
from dsl.train.augment import base_flips, epoch_flips, prepare_images
from dsl.train.batches import Split
from dsl.train.device import AMP_DTYPES, oom_error, resolve_device, resolve_precision
from dsl.train.distributed import World


@dataclass
class DeviceData:
    """A dataset on the device, normalised (and the training set padded) once."""

    train: torch.Tensor  # (N, C, H+2p, W+2p), input dtype
    train_y: torch.Tensor  # (N,) int64
    test: torch.Tensor  # (M, C, H, W), input dtype (channels_last on CUDA)
    test_y: torch.Tensor  # (M,) int64
    image_shape: tuple[int, int, int]
    pad: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    num_classes: int

    @property
    def n_train(self) -> int:
        """Training images."""
        return int(self.train_y.shape[0])

    @property
    def n_test(self) -> int:
        """Test images."""
        return int(self.test_y.shape[0])

    def matches(self, settings: TrainSettings) -> bool:
        """Whether this copy was prepared with `settings`' padding and normalisation."""
        return (settings.pad, settings.mean, settings.std) == (self.pad, self.mean, self.std)

    def source(
        self,
        settings: TrainSettings,
        seed: int,
        channels_last: bool,
        augment: Callable[..., Any],
        world: World | None = None,
    ) -> DeviceEpochs:
        """One run's batches (a `batches.BatchSource`) for this process's shard of `world`; `augment`
        is `augment.augment_epoch` (the engine passes its own reference, which tests replace)."""
        return DeviceEpochs(self, settings, seed, channels_last, augment, world or World())


class DeviceEpochs:
    """The batches of one run from data on the device: each epoch one gather (`augment_epoch`)
    of the whole training set, cut into batches."""

    streamed = False

    def __init__(
        self,
        data: DeviceData,
        settings: TrainSettings,
        seed: int,
        channels_last: bool,
        augment: Callable[..., Any],
        world: World,
    ):
        self.data, self.s, self.channels_last, self.augment = data, settings, channels_last, augment
        self.world = world
        self.n_train, self.n_test = data.n_train, data.n_test
        alternate = settings.flip and settings.flip_mode == "alternate"
        # drawn from the seed by a generator of its own: the global RNG stream is untouched
        self.flips = base_flips(data.n_train, seed, data.train.device) if alternate else None

    def train_epoch(self, epoch: int, steps: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """A fresh crop/flip/cutout of the whole training set and a shuffle, then its batches
        `start`..`steps`-1 (the whole epoch is drawn, so a resumed epoch is the same epoch)."""
        d, s, bs = self.data, self.s, self.s.batch_size
        flip: bool | torch.Tensor = s.flip if self.flips is None else epoch_flips(self.flips, epoch)
        xs, ys = self.augment(
            d.train, d.train_y, d.image_shape[1:], flip=flip, cutout=s.cutout, channels_last=self.channels_last
        )
        for i in range(start, steps):
            xb, yb = xs[i * bs : (i + 1) * bs], ys[i * bs : (i + 1) * bs]
            if self.world.active:  # every process made the same epoch; each trains on its rows of each batch
                part = self.world.shard(len(yb))
                xb, yb = xb[part], yb[part]
            yield xb, yb

    def test_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The test set in its stored order, `eval_batch_size` at a time."""
        d, ebs = self.data, self.s.eval_batch_size
        rows = self.world.shard(d.n_test)  # each process tests its part; the engine sums the parts
        for j in range(rows.start, rows.stop, ebs):
            end = min(j + ebs, rows.stop)
            yield d.test[j:end], d.test_y[j:end]

    def head(self, split: Split, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The first `k` images of `split`, normalised, the training images' padding cut away."""
        d = self.data
        if split == "test":
            return d.test[:k], d.test_y[:k]
        h, w = d.image_shape[1:]
        p = d.pad
        return d.train[:k, :, p : p + h, p : p + w], d.train_y[:k]


def prepare_data(
    ds: Dataset, settings: TrainSettings, device: torch.device | str, precision: str = "auto"
) -> DeviceData:
    """Move a `dsl.data.Dataset` to the device once: normalise, reflect-pad the training set."""
    device = resolve_device(device)
    precision = resolve_precision(precision, device)
    dtype = AMP_DTYPES[precision] or torch.float32
    settings.check_data(ds.image_shape, ds.source)
    c = ds.image_shape[0]
    mean = tuple(settings.mean) * (c if len(settings.mean) == 1 else 1)
    std = tuple(settings.std) * (c if len(settings.std) == 1 else 1)
    cl = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    try:
        train = prepare_images(torch.from_numpy(ds.train_x).to(device), mean, std, settings.pad, dtype)
        test = prepare_images(torch.from_numpy(ds.test_x).to(device), mean, std, 0, dtype)
        test = test.contiguous(memory_format=cl)
        train_y = torch.from_numpy(np.ascontiguousarray(ds.train_y, dtype=np.int64)).to(device)
        test_y = torch.from_numpy(np.ascontiguousarray(ds.test_y, dtype=np.int64)).to(device)
    except torch.OutOfMemoryError:
        raise oom_error("loading the dataset onto it") from None
    return DeviceData(
        train, train_y, test, test_y, ds.image_shape, settings.pad, settings.mean, settings.std, ds.num_classes
    )
