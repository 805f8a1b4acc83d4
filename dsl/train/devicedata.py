"""A dataset put on the training device once: normalised, the training set reflect-padded."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..data import Dataset
from ..settings import TrainSettings
from .augment import prepare_images
from .device import AMP_DTYPES, oom_error, resolve_device, resolve_precision


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
