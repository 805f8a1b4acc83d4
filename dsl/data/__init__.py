"""Training data for `netc train`: `load_dataset` (and `open_dataset`), datasets by name or on-disk layouts.

    ds = load_dataset(None)                  # CIFAR-10, downloaded once into $NETC_DATA or ~/.cache/netc
    ds = load_dataset("cifar100")            # by name (`named`): cifar10, cifar100, svhn, fashion-mnist, mnist, stl10
    ds = load_dataset("path/to/DIR_or.npz")  # a layout, or a folder holding one (docs/training.md, "Data layouts")

The layouts: CIFAR pickles (`cifar`), what torchvision reads itself (`tvreaders`), image folders (`images`),
.npz files (`npz`). `Dataset` holds uint8 NCHW arrays and int64 labels; importing this imports no torch.
Every problem with the data raises one `DataError` naming the file; nothing is read before `stat` says it
is a regular file or a folder, and every size a file states is checked before anything is allocated.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dsl.data import cifar, tvreaders
from dsl.data.cifar import PickleRefused, SafeUnpickler, read_pickle
from dsl.data.dataset import LABEL_LIMIT, USAGE, Dataset, check_dataset, default_root
from dsl.data.images import ImageFiles, list_imagefolder
from dsl.data.named import NAMED, check_data_path, data_arg, dataset_name, load_named, named
from dsl.data.npz import load_npz
from dsl.data.paths import entries, is_dir, is_file, refuse
from dsl.errors import DataError

__all__ = ["LABEL_LIMIT", "NAMED", "USAGE", "Dataset", "ImageFiles", "PickleRefused", "SafeUnpickler", "read_pickle"]
__all__ += ["check_data_path", "data_arg", "dataset_name", "default_root", "load_dataset", "open_dataset"]


def load_dataset(
    data: str | os.PathLike | None = None,
    *,
    limit: int | None = None,
    limit_test: int | None = None,
    channels: int = 3,
    download: bool = True,
) -> Dataset:
    """Load a dataset: None (CIFAR-10), a name or a path; `limit`/`limit_test` keep N images (a fixed random subset),
    `channels` (the net's) is what images are decoded to, `download=False` refuses to download a missing dataset."""
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
    """`load_dataset`, except that an image folder is listed as an `ImageFiles` unless `lazy` is False."""
    n = named(data)
    if data is None:
        ds: Dataset | ImageFiles = load_named(NAMED[0], download)  # CIFAR-10
    elif n is not None:
        ds = load_named(n, download)
    else:
        ds = _load_path(Path(data), channels, lazy)
    if isinstance(ds, Dataset):  # (an image folder's listing checked its splits and labels)
        check_dataset(ds)
    for split, k in (("train", limit), ("test", limit_test)):
        total = len(ds.train_y if split == "train" else ds.test_y)
        if k is not None and k < total:  # a fixed random subset, in the original order
            ds.subset(split, np.sort(np.random.default_rng(0).permutation(total)[: max(k, 0)]))
    # the file has images (checked above), so an empty set here is what --limit made of it
    if len(ds.train_y) == 0:
        raise DataError(f"--limit {limit} leaves no training images (it must be at least 1)", file=ds.source)
    if len(ds.test_y) == 0:
        raise DataError(f"--limit-test {limit_test} leaves no test images (it must be at least 1)", file=ds.source)
    return ds


def _load_path(path: Path, channels: int, lazy: bool = False) -> Dataset | ImageFiles:
    """The dataset at a path: an .npz, or a folder holding one layout (or one .npz)."""
    check_data_path(path)
    if is_file(path):
        return load_npz(path, channels)
    found = _layouts(path, channels, lazy)
    if len(found) > 1:
        several = ", ".join(what for what, _ in found)
        raise refuse(path, f"holds several datasets ({several}); pass the folder of the one to use")
    if found:
        return found[0][1]()
    npz = [p for p in entries(path) if p.suffix.lower() == ".npz"]
    if len(npz) == 1:
        return load_npz(npz[0], channels)
    if len(npz) > 1:
        raise refuse(path, f"holds several .npz files ({', '.join(p.name for p in npz)}); pass the one to use")
    train, test = is_dir(path / "train"), is_dir(path / "test") or is_dir(path / "val")
    if train or test:
        have = "train/" if train else ("test/" if is_dir(path / "test") else "val/")
        lack, val = ("test/", " (a val/ folder serves as test/)") if train else ("train/", "")
        raise refuse(path, f"has a {have} folder but no {lack} folder; an image folder needs both{val}", USAGE)
    raise refuse(path, "holds no data in a layout netc reads", USAGE)


# (what, torchvision's folder for it, whether a folder holds it, its loader)
_READERS = [
    ("CIFAR-10 pickles", cifar.CIFAR_DIR, cifar.has_cifar10, cifar.load_cifar10),
    ("CIFAR-100 pickles", cifar.CIFAR100_DIR, cifar.has_cifar100, cifar.load_cifar100),
    ("SVHN .mat files", "svhn", tvreaders.has_svhn, tvreaders.load_svhn),
    ("STL-10 binaries", tvreaders.STL10_DIR, tvreaders.has_stl10, tvreaders.load_stl10),
    ("IDX files", "raw", tvreaders.has_idx, tvreaders.load_idx),
]


def _layouts(path: Path, channels: int, lazy: bool) -> list[tuple[str, Callable[[], Dataset | ImageFiles]]]:
    """The layouts whose files lie in `path` itself, else those in torchvision's folders inside it: (what, loader)."""
    found: list[tuple[str, Callable[[], Dataset | ImageFiles]]]
    found = [(what, functools.partial(load, path)) for what, _, has, load in _READERS if has(path)]
    if is_dir(path / "train") and (is_dir(path / "test") or is_dir(path / "val")):
        listed = functools.partial(list_imagefolder, path, channels)
        found.append(("an image folder (train/, test/)", listed if lazy else lambda: listed().decode()))
    if found:
        return found
    for kind in tvreaders.IDX_DATASETS:  # torchvision's FashionMNIST/raw/ (or the files in FashionMNIST/ itself)
        sub = next((d for d in (path / kind / "raw", path / kind) if tvreaders.has_idx(d)), None)
        if sub is not None:
            found.append((f"{sub.relative_to(path)}/", functools.partial(tvreaders.load_idx, sub, kind)))
    return found + [(f"{d}/", functools.partial(load, path / d)) for _, d, has, load in _READERS if has(path / d)]
