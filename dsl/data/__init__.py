"""Training data for `netc train`: one function, `load_dataset`, three on-disk layouts.

The package: `dataset` (what a dataset is and the checks every layout's arrays go through),
`paths` (looking at a path before reading it), `cifar` (torchvision's pickles, the safe
unpickler, the download), `npz` (netc's own .npz reader, plain or encoded images) and
`images` (decoding images, image folders).

    ds = load_dataset(None)                  # CIFAR-10, downloaded once into $NETC_DATA or ~/.cache/netc
    ds = load_dataset("path/to/DIR_or.npz")  # torchvision pickles, image folders, or an .npz

`Dataset` holds uint8 NCHW numpy arrays and int64 labels; nothing here imports torch
(only the download path uses torchvision's downloader). Layouts accepted by `--data`:

* torchvision's CIFAR layout: `cifar-10-batches-py/` (or a folder holding it) with
  `data_batch_1..5`, `test_batch` and optionally `batches.meta`. The pickles are read with
  `SafeUnpickler`, which builds only plain containers, numbers, strings, bytes and numeric
  numpy arrays: a data file can never run code.
* an image folder: `train/<class>/*.png|jpg|...` and `test/<class>/...` (ImageFolder's layout;
  classes are the sorted folder names of `train/`).
* an `.npz` (or a folder holding exactly one) with `train_x`, `train_y`, `test_x`, `test_y`;
  images uint8, NHWC or NCHW; or with encoded images `{split}_jpeg` + `{split}_offsets` +
  `{split}_y` (the layout of `shared/data/cifar10_jpeg.npz`, the JPEG copy), decoded on load.

Anything but the official CIFAR-10 pickles is accepted with a one-line notice (`Dataset.notice`).
Every problem with the data raises `DataError` naming the file, and nothing is read before
`stat` says it is a regular file or a folder (a device, FIFO or socket is refused unopened).
Labels are integers in [0, 2**31); images are non-empty uint8 arrays of one size per dataset.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np

from ..errors import DataError
from .cifar import CIFAR_DIR, PickleRefused, SafeUnpickler, _download_cifar, _load_cifar_pickles, read_pickle
from .dataset import LABEL_LIMIT, USAGE, Dataset, _check, default_root
from .images import _load_imagefolder
from .npz import _load_npz
from .paths import _entries, _is_dir, _stat, check_data_path

__all__ = [
    "LABEL_LIMIT",
    "USAGE",
    "Dataset",
    "PickleRefused",
    "SafeUnpickler",
    "check_data_path",
    "default_root",
    "load_dataset",
    "read_pickle",
]


def load_dataset(
    data: str | os.PathLike | None = None,
    *,
    limit: int | None = None,
    limit_test: int | None = None,
    channels: int = 3,
    download: bool = True,
) -> Dataset:
    """Load a dataset (see the module docstring); `limit`/`limit_test` keep N images, a fixed
    random subset in the original order (some copies are sorted by class, so the first N would not do)."""
    ds = _download_cifar(download) if data is None else _load_path(Path(data), channels)
    _check(ds)
    if limit is not None:
        ds.train_x, ds.train_y = _subset(ds.train_x, ds.train_y, limit)
    if limit_test is not None:
        ds.test_x, ds.test_y = _subset(ds.test_x, ds.test_y, limit_test)
    # the file has images (checked above), so an empty set here is what --limit made of it
    if len(ds.train_y) == 0:
        raise DataError(f"--limit {limit} leaves no training images (it must be at least 1)", file=ds.source)
    if len(ds.test_y) == 0:
        raise DataError(f"--limit-test {limit_test} leaves no test images (it must be at least 1)", file=ds.source)
    return ds


def _subset(x: np.ndarray, y: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    if n >= len(y):
        return x, y
    keep = np.sort(np.random.default_rng(0).permutation(len(y))[: max(n, 0)])
    return x[keep], y[keep]


# ----------------------------------------------------------------------------- files


def _load_path(path: Path, channels: int) -> Dataset:
    check_data_path(path)
    if stat.S_ISREG(os.stat(path).st_mode):
        return _load_npz(path, channels)
    if _stat(path / "data_batch_1") is not None or _stat(path / "test_batch") is not None:
        return _load_cifar_pickles(path)
    if _is_dir(path / CIFAR_DIR):
        return _load_cifar_pickles(path / CIFAR_DIR)
    train, test = _is_dir(path / "train"), _is_dir(path / "test")
    if train and test:
        return _load_imagefolder(path, channels)
    npz = [p for p in _entries(path) if p.suffix.lower() == ".npz"]
    if len(npz) == 1:
        return _load_npz(npz[0], channels)
    if len(npz) > 1:
        raise DataError(
            f"'{path}' holds several .npz files ({', '.join(p.name for p in npz)}); pass the one to use", file=str(path)
        )
    if train or test:
        have, lack = ("train", "test") if train else ("test", "train")
        raise DataError(
            f"'{path}' has a {have}/ folder but no {lack}/ folder; an image folder needs both",
            file=str(path),
            hint=USAGE,
        )
    raise DataError(f"'{path}' holds no data in a layout netc reads", file=str(path), hint=USAGE)
