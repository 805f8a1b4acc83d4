"""Training data for `netc train`: one function, `load_dataset`, datasets by name or on-disk layouts.

The package: `dataset` (what a dataset is and the checks every layout's arrays go through),
`paths` (looking at a path before reading it), `named` (datasets by name: the cache folder and
torchvision's downloads), `cifar` (torchvision's CIFAR-10/100 pickles, the safe unpickler, the
CIFAR-10 download), `svhn` (SVHN's MATLAB files, read by netc's own bounded MAT-file reader),
`idx` (the IDX files of Fashion-MNIST and MNIST), `stl10` (STL-10's binaries), `npz` (netc's own
.npz reader, plain or encoded images) and `images` (decoding images, image folders).

    ds = load_dataset(None)                  # CIFAR-10, downloaded once into $NETC_DATA or ~/.cache/netc
    ds = load_dataset("cifar100")            # by name: cifar10, cifar100, svhn, fashion-mnist, mnist, stl10
    ds = load_dataset("path/to/DIR_or.npz")  # torchvision's copies, image folders, or an .npz

`Dataset` holds uint8 NCHW numpy arrays and int64 labels; nothing here imports torch (only the
downloads use torchvision). A name (case and '-', '_' ignored; `named.NAMED` lists the aliases) is
looked up in the cache folder in torchvision's layout and downloaded there with torchvision's
dataset classes when missing; a file or folder of that name in the working folder wins over the
name. Layouts accepted as a path (the folder itself, or a folder holding one of them):

* CIFAR-10: `cifar-10-batches-py/` with `data_batch_1..5`, `test_batch` and optionally `batches.meta`.
* CIFAR-100: `cifar-100-python/` with `train`, `test` and `meta`: the 100 fine labels and their names.
  Both CIFARs' pickles are read with `SafeUnpickler`, which builds only plain containers, numbers,
  strings, bytes and numeric numpy arrays: a data file can never run code.
* SVHN: `train_32x32.mat` and `test_32x32.mat` (MATLAB v5; label 10 is the digit 0), in a folder
  (the cache keeps them in `svhn/`).
* Fashion-MNIST / MNIST: the IDX files (`train-images-idx3-ubyte`, ..., plain or .gz) in
  torchvision's `FashionMNIST/raw/` or `MNIST/raw/` (the folder's name gives the class names);
  1x28x28 images.
* STL-10: `stl10_binary/` with `train_X.bin`, `train_y.bin`, `test_X.bin`, `test_y.bin` and
  `class_names.txt`; 3x96x96 images (the unlabeled set is not read).
* an image folder: `train/<class>/*.png|jpg|...` and `test/<class>/...` or `val/<class>/...`
  (ImageFolder's layout; classes are the sorted folder names of `train/`; any one image size).
  `open_dataset` lists it instead of decoding it: an `ImageFiles` (`folder`), read image by image
  by the streamed data path, so its images may have any sizes.
* an `.npz` (or a folder holding exactly one) with `train_x`, `train_y`, `test_x`, `test_y`;
  images uint8, NHWC or NCHW; or with encoded images `{split}_jpeg` + `{split}_offsets` +
  `{split}_y` (the layout of `shared/data/cifar10_jpeg.npz`, the JPEG copy), decoded on load.

A folder holding several of these is refused (which one is meant cannot be told). Anything but a
dataset's official release (checksums verified) is accepted with a one-line notice (`Dataset.notice`).
Every problem with the data raises `DataError` naming the file, and nothing is read before `stat`
says it is a regular file or a folder (a device, FIFO or socket is refused unopened); every size a
file states is checked against the file or this machine's memory before anything is allocated.
Labels are integers in [0, 2**31); images are non-empty uint8 arrays of one size per dataset.
"""

from __future__ import annotations

import functools
import os
import stat
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dsl.data.cifar import (
    CIFAR100_DIR,
    CIFAR_DIR,
    PickleRefused,
    SafeUnpickler,
    _download_cifar,
    _load_cifar100,
    _load_cifar_pickles,
    read_pickle,
)
from dsl.data.dataset import LABEL_LIMIT, USAGE, Dataset, _check, default_root
from dsl.data.folder import ImageFiles
from dsl.data.idx import IDX_DATASETS, _load_idx, has_idx
from dsl.data.images import _load_imagefolder, list_imagefolder
from dsl.data.named import NAMED, data_arg, dataset_name, load_named, named
from dsl.data.npz import _load_npz
from dsl.data.paths import _entries, _is_dir, _is_file, _stat, check_data_path
from dsl.data.stl10 import STL10_DIR, _load_stl10, has_stl10
from dsl.data.svhn import SVHN_FILES, _load_svhn
from dsl.errors import DataError

__all__ = [
    "LABEL_LIMIT",
    "NAMED",
    "USAGE",
    "Dataset",
    "ImageFiles",
    "PickleRefused",
    "SafeUnpickler",
    "check_data_path",
    "data_arg",
    "dataset_name",
    "default_root",
    "load_dataset",
    "open_dataset",
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
    """Load a dataset (see the module docstring): None (CIFAR-10), a dataset's name or a path.
    `limit`/`limit_test` keep N images, a fixed random subset in the original order (some copies
    are sorted by class, so the first N would not do); `channels` (the net's) is what image folders
    and encoded images are decoded to; `download=False` refuses to download a missing named dataset."""
    ds = open_dataset(data, limit=limit, limit_test=limit_test, channels=channels, download=download, lazy=False)
    assert isinstance(ds, Dataset)
    return ds


def open_dataset(
    data: str | os.PathLike | None = None,
    *,
    limit: int | None = None,
    limit_test: int | None = None,
    channels: int = 3,
    download: bool = True,
    lazy: bool = True,
) -> Dataset | ImageFiles:
    """`load_dataset`, except that an image folder is listed, not decoded (an `ImageFiles`, read as
    batches need it) unless `lazy` is False."""
    n = named(data)
    if data is None:
        ds: Dataset | ImageFiles = _download_cifar(download)
    elif n is not None:
        ds = load_named(n, download)
    else:
        ds = _load_path(Path(data), channels, lazy)
    if isinstance(ds, ImageFiles):  # the listing checked its splits and labels
        for split, k in (("train", limit), ("test", limit_test)):
            if k is not None:
                ds.subset(split, _keep(len(ds.files(split)), k))
    else:
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
    keep = _keep(len(y), n)
    return x[keep], y[keep]


def _keep(total: int, n: int) -> np.ndarray:
    """The indices `--limit n` keeps of `total` images: a fixed random subset, sorted."""
    if n >= total:
        return np.arange(total)
    return np.sort(np.random.default_rng(0).permutation(total)[: max(n, 0)])


# ----------------------------------------------------------------------------- files


def _load_path(path: Path, channels: int, lazy: bool = False) -> Dataset | ImageFiles:
    check_data_path(path)
    if stat.S_ISREG(os.stat(path).st_mode):
        return _load_npz(path, channels)
    found = _layouts(path, channels, lazy) or _held_layouts(path, channels)
    if len(found) > 1:
        raise DataError(
            f"'{path}' holds several datasets ({', '.join(what for what, _ in found)}); pass the folder of the one to use",
            file=str(path),
        )
    if found:
        return found[0][1]()
    npz = [p for p in _entries(path) if p.suffix.lower() == ".npz"]
    if len(npz) == 1:
        return _load_npz(npz[0], channels)
    if len(npz) > 1:
        raise DataError(
            f"'{path}' holds several .npz files ({', '.join(p.name for p in npz)}); pass the one to use", file=str(path)
        )
    train, test = _is_dir(path / "train"), _is_dir(path / "test") or _is_dir(path / "val")
    if train or test:
        have = "train/" if train else ("test/" if _is_dir(path / "test") else "val/")
        lack = "test/" if train else "train/"
        raise DataError(
            f"'{path}' has a {have} folder but no {lack} folder; an image folder needs both"
            + (" (a val/ folder serves as test/)" if train else ""),
            file=str(path),
            hint=USAGE,
        )
    raise DataError(f"'{path}' holds no data in a layout netc reads", file=str(path), hint=USAGE)


Found = list[tuple[str, Callable[[], Dataset | ImageFiles]]]


def _image_folder(path: Path, channels: int, lazy: bool) -> Dataset | ImageFiles:
    if lazy:
        listing = list_imagefolder(path, channels)
        return ImageFiles(listing, listing.notice)
    return _load_imagefolder(path, channels)


def _layouts(path: Path, channels: int, lazy: bool = False) -> Found:
    """The layouts whose files lie in `path` itself: (what, its loader)."""
    found: Found = []
    if _stat(path / "data_batch_1") is not None or _stat(path / "test_batch") is not None:
        found.append(("CIFAR-10 pickles", lambda: _load_cifar_pickles(path)))
    if _is_file(path / "train") and (_is_file(path / "test") or _is_file(path / "meta")):
        found.append(("CIFAR-100 pickles", lambda: _load_cifar100(path)))
    if any(_is_file(path / name) for name in SVHN_FILES.values()):
        found.append(("SVHN .mat files", lambda: _load_svhn(path)))
    if has_stl10(path):
        found.append(("STL-10 binaries", lambda: _load_stl10(path)))
    if has_idx(path):
        found.append(("IDX files", lambda: _load_idx(path)))
    if _is_dir(path / "train") and (_is_dir(path / "test") or _is_dir(path / "val")):
        found.append(("an image folder (train/, test/)", lambda: _image_folder(path, channels, lazy)))
    return found


def _held_layouts(path: Path, channels: int) -> Found:
    """The datasets in torchvision's folders inside `path` (as in the cache folder): (what, its loader)."""
    found: Found = []
    if _is_dir(path / CIFAR_DIR):
        found.append((f"{CIFAR_DIR}/", lambda: _load_cifar_pickles(path / CIFAR_DIR)))
    if _is_dir(path / CIFAR100_DIR):
        found.append((f"{CIFAR100_DIR}/", lambda: _load_cifar100(path / CIFAR100_DIR)))
    if any(_is_file(path / "svhn" / name) for name in SVHN_FILES.values()):
        found.append(("svhn/", lambda: _load_svhn(path / "svhn")))
    if _is_dir(path / STL10_DIR):
        found.append((f"{STL10_DIR}/", lambda: _load_stl10(path / STL10_DIR)))
    for kind in IDX_DATASETS:
        for sub in (path / kind / "raw", path / kind):
            if has_idx(sub):
                found.append((f"{sub.relative_to(path)}/", functools.partial(_load_idx, sub, kind)))
                break
    if has_idx(path / "raw"):
        found.append(("raw/", lambda: _load_idx(path / "raw")))
    return found
