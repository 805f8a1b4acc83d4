"""The streamed data path: batches decoded and augmented per image by DataLoader worker processes.

    data = StreamData(dataset, settings, size=(H, W), device=..., precision=..., workers=2)
    source = data.source(settings, seed, channels_last)   # a batches.BatchSource, per run
    ...
    data.close()                                           # stops the workers

For data that does not fit on the device, or images of mixed sizes (an `ImageFiles` folder read
image by image), or `augment = imagenet`. The dataset is either a `Dataset` (uint8 arrays in memory)
or an `ImageFiles`; workers turn each image into a uint8 (C, H, W) array of the network's size with
`transforms` (the training augmentation, or the evaluation transform), the batch travels as uint8
(pinned on CUDA) and is normalised on the device exactly as `augment.prepare_images` normalises the
device-resident copy; the cutout square is zeroed there, after normalisation.

Reproducible whatever the worker count: an epoch's order is `transforms.epoch_order(seed, epoch)`
and each image's draws come from `transforms.sample_rng(seed, epoch, index)`, so equal seeds give
equal batches with 0 or 8 workers, and a resumed run redraws the epochs it continues. Every global
batch is known from (seed, epoch) alone, so data-parallel ranks can each take their shard of it.
A bad image raises `DataError` naming its file in the training process (never a worker traceback).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from dsl.data import Dataset, ImageFiles
from dsl.errors import DataError
from dsl.settings import TrainSettings
from dsl.train import transforms
from dsl.train.augment import base_flip_array, prepare_images
from dsl.train.batches import Split
from dsl.train.device import AMP_DTYPES, resolve_device, resolve_precision
from dsl.train.distributed import World

Key = tuple[str, bool, int, int, int]  # (split, augmented, seed, epoch, index)


def default_workers() -> int:
    """Worker processes when none are asked for: the CPUs but one (for the training process), 1..8."""
    return max(1, min(8, (os.cpu_count() or 2) - 1))


@dataclass(frozen=True)
class Recipe:
    """What a worker needs to make one image (the settings' augmentation, the network's size)."""

    augment: str
    size: tuple[int, int]  # (height, width) the network takes
    pad: int
    cutout: int
    flip: bool
    flip_mode: str
    crop_scale: tuple[float, float]
    crop_ratio: tuple[float, float]
    eval_crop: float

    @classmethod
    def of(cls, s: TrainSettings, size: tuple[int, int]) -> Recipe:
        """The recipe of settings `s` for a network taking `size` images."""
        article = s.augment == "article"
        return cls(
            s.augment,
            size,
            s.pad if article else 0,
            s.cutout if article else 0,
            s.flip,
            s.flip_mode,
            s.crop_scale,
            s.crop_ratio,
            s.eval_crop,
        )


@dataclass
class _Failed:
    """A worker's DataError, carried back to the training process as a value."""

    message: str
    file: str | None
    hint: str | None


class Images(torch.utils.data.Dataset):
    """The images of a dataset by key (split, augmented, seed, epoch, index), made by `recipe`."""

    def __init__(self, data: Dataset | ImageFiles, recipe: Recipe):
        self.data, self.recipe = data, recipe
        self._flips: tuple[int, np.ndarray] | None = None  # (seed, base flips), per process

    def __len__(self) -> int:
        return len(self.data.train_y)

    def __getitem__(self, key: Key) -> tuple[np.ndarray, int, int, int] | _Failed:
        split, augmented, seed, epoch, i = key
        try:
            image, label = self._image(split, i), int((self.data.train_y if split == "train" else self.data.test_y)[i])
            if augmented:
                chw, box = self._augment(image, seed, epoch, i)
            else:
                chw, box = self._plain(image, split, i), (-1, -1)
        except DataError as err:
            return _Failed(err.message, err.file, err.hint)
        return chw, label, box[0], box[1]

    def _image(self, split: str, i: int) -> Any:
        """Image `i` of `split`: a PIL image (files) or an (H, W, C) array (arrays)."""
        if isinstance(self.data, ImageFiles):
            return self.data.read(split, i)
        x = self.data.train_x if split == "train" else self.data.test_x
        return x[i].transpose(1, 2, 0)

    def _hwc(self, image: Any, split: str, i: int) -> np.ndarray:
        """An image for the article's recipe: (H, W, C) of the network's size, else DataError."""
        a = transforms.to_hwc(image)
        if a.shape[:2] != self.recipe.size:
            where = self._name(split, i)
            h, w = self.recipe.size
            raise DataError(
                f"{where} is {a.shape[1]}x{a.shape[0]} but the network takes {w}x{h} images",
                file=where.strip("'"),
                hint="augment = imagenet crops and resizes images of any size (docs/training.md)",
            )
        return a

    def _name(self, split: str, i: int) -> str:
        if isinstance(self.data, ImageFiles):
            return f"'{self.data.files(split)[i]}'"
        return f"{split} image {i} of {self.data.source}"

    def _pil(self, image: Any) -> Any:
        if isinstance(image, np.ndarray):
            from PIL import Image

            return Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image)
        return image

    def _flip(self, seed: int, epoch: int, i: int) -> bool | None:
        """The flip of training image `i`: None (drawn from its generator), or what `flip_mode` fixes."""
        r = self.recipe
        if not r.flip:
            return False
        if r.flip_mode == "random":
            return None
        if self._flips is None or self._flips[0] != seed:
            self._flips = (seed, base_flip_array(len(self.data.train_y), seed))
        return bool(self._flips[1][i]) != (epoch % 2 == 1)

    def _augment(self, image: Any, seed: int, epoch: int, i: int) -> tuple[np.ndarray, tuple[int, int]]:
        r, rng = self.recipe, transforms.sample_rng(seed, epoch, i)
        flip = self._flip(seed, epoch, i)
        if r.augment == "imagenet":
            return transforms.imagenet(self._pil(image), r.size, r.crop_scale, r.crop_ratio, flip, rng), (-1, -1)
        return transforms.article(self._hwc(image, "train", i), r.pad, flip, r.cutout, rng)

    def _plain(self, image: Any, split: str, i: int) -> np.ndarray:
        """The evaluation transform (also the un-augmented training image calibration sees)."""
        if self.recipe.augment == "imagenet":
            return transforms.evaluate(self._pil(image), self.recipe.size, self.recipe.eval_crop)
        return np.ascontiguousarray(self._hwc(image, split, i).transpose(2, 0, 1))


def _collate(items: list[Any]) -> Any:
    """Stack a batch in the worker: (uint8 images, labels, cutout corners), or its first failure."""
    for item in items:
        if isinstance(item, _Failed):
            return item
    x = torch.from_numpy(np.stack([it[0] for it in items]))
    y = torch.tensor([it[1] for it in items], dtype=torch.int64)
    box = torch.tensor([[it[2], it[3]] for it in items], dtype=torch.int64)
    return x, y, box


class _Plan(Sampler[list[Key]]):
    """The batches of the next pass over the loader, set before each pass (the workers persist)."""

    def __init__(self) -> None:
        self.batches: list[list[Key]] = []

    def __iter__(self) -> Iterator[list[Key]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class StreamData:
    """A dataset read through DataLoader workers (see the module docstring); one per session."""

    def __init__(
        self,
        ds: Dataset | ImageFiles,
        settings: TrainSettings,
        size: tuple[int, int],
        device: torch.device | str,
        precision: str = "auto",
        workers: int | None = None,
    ):
        self.device = resolve_device(device)
        self.dtype = AMP_DTYPES[resolve_precision(precision, self.device)] or torch.float32
        self.recipe = Recipe.of(settings, size)
        self.mean, self.std = settings.mean, settings.std
        self.ds = ds
        self.n_train, self.n_test = len(ds.train_y), len(ds.test_y)
        self.workers = default_workers() if workers is None else workers
        self.channels = ds.channels if isinstance(ds, ImageFiles) else ds.image_shape[0]
        self._plan = _Plan()
        self._loader: DataLoader[Any] | None = None

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the images the network is fed."""
        return (self.channels, *self.recipe.size)

    def matches(self, settings: TrainSettings) -> bool:
        """Whether this data was set up with `settings`' augmentation and normalisation."""
        return Recipe.of(settings, self.recipe.size) == self.recipe and (settings.mean, settings.std) == (
            self.mean,
            self.std,
        )

    def source(
        self, settings: TrainSettings, seed: int, channels_last: bool, world: World | None = None
    ) -> StreamEpochs:
        """One run's batches (a `batches.BatchSource`) for this process's shard of `world`."""
        return StreamEpochs(self, settings, seed, channels_last, world or World())

    def loader(self) -> DataLoader[Any]:
        """The DataLoader (made once; its workers persist between passes)."""
        if self._loader is None:
            w = self.workers
            self._loader = DataLoader(
                Images(self.ds, self.recipe),
                batch_sampler=self._plan,
                num_workers=w,
                collate_fn=_collate,
                pin_memory=self.device.type == "cuda",
                persistent_workers=w > 0,
                prefetch_factor=4 if w > 0 else None,
            )
        return self._loader

    def batches(
        self, plan: Sequence[list[Key]], cutout: int, channels_last: bool
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The batches of `plan`, on the device, normalised (cutout squares zeroed), in the model's layout."""
        self._plan.batches = list(plan)
        for got in self.loader():
            if isinstance(got, _Failed):
                raise DataError(got.message, file=got.file, hint=got.hint)
            x, y, box = got
            x = prepare_images(x.to(self.device, non_blocking=True), self.mean, self.std, 0, self.dtype)
            if cutout:
                x = _cut(x, box.to(self.device, non_blocking=True), cutout)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, y.to(self.device, non_blocking=True)

    def close(self) -> None:
        """Stop the worker processes."""
        loader, self._loader = self._loader, None
        if loader is not None and getattr(loader, "_iterator", None) is not None:
            loader._iterator._shutdown_workers()  # type: ignore[union-attr]


def _cut(x: torch.Tensor, box: torch.Tensor, side: int) -> torch.Tensor:
    """Zero a side x side square at each image's corner `box` (rows, columns) of normalised images."""
    h, w = x.shape[-2:]
    ar_h, ar_w = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    cy, cx = box[:, :1], box[:, 1:]
    mask = ((ar_h >= cy) & (ar_h < cy + side))[:, :, None] & ((ar_w >= cx) & (ar_w < cx + side))[:, None, :]
    return x.masked_fill_(mask[:, None], 0)


class StreamEpochs:
    """One run's batches from a `StreamData`."""

    streamed = True

    def __init__(self, data: StreamData, settings: TrainSettings, seed: int, channels_last: bool, world: World):
        self.data, self.seed, self.channels_last, self.world = data, seed, channels_last, world
        self.batch_size, self.eval_batch_size = settings.batch_size, settings.eval_batch_size
        self.n_train, self.n_test = data.n_train, data.n_test

    def train_plan(self, epoch: int, steps: int) -> list[list[Key]]:
        """The keys of this process's shard of epoch `epoch`'s first `steps` global batches (every
        process computes the same global batches and decodes only its rows of each)."""
        order, bs = transforms.epoch_order(self.seed, epoch, self.n_train).tolist(), self.batch_size
        batches = [order[b * bs : (b + 1) * bs] for b in range(steps)]
        return [[("train", True, self.seed, epoch, i) for i in rows[self.world.shard(len(rows))]] for rows in batches]

    def train_epoch(self, epoch: int, steps: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches `start`..`steps`-1 of epoch `epoch`, augmented by the workers (each image's draws
        depend on (seed, epoch, index) only, so the batches skipped are not decoded)."""
        return self.data.batches(self.train_plan(epoch, steps)[start:], self.data.recipe.cutout, self.channels_last)

    def _plain(self, split: Split, n: int, part: slice = slice(None)) -> list[list[Key]]:
        ebs = self.eval_batch_size
        start, stop, _ = part.indices(n)
        return [
            [(split, False, self.seed, 0, i) for i in range(j, min(j + ebs, stop))] for j in range(start, stop, ebs)
        ]

    def test_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The test set in its stored order, evaluation transform applied."""
        # each process tests its part of the test set; the engine sums the parts
        return self.data.batches(self._plain("test", self.n_test, self.world.shard(self.n_test)), 0, self.channels_last)

    def head(self, split: Split, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The first `k` images of `split` with the evaluation transform, normalised."""
        parts = list(self.data.batches(self._plain(split, k), 0, self.channels_last))
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
