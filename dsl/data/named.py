"""Datasets by name (`--data cifar100`): found in the cache folder ($NETC_DATA, else ~/.cache/netc) in
torchvision's own on-disk layout, downloaded there with torchvision's dataset classes (their URLs and
checksums) when missing.

A name is matched case-insensitively with '-', '_' and spaces ignored (`CIFAR-100`, `cifar_100` and
`cifar100` are one name); an existing file or folder of that name wins over the name.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dsl.data.cifar import _download_cifar, _load_cifar100
from dsl.data.dataset import Dataset, default_root
from dsl.data.idx import _load_idx
from dsl.data.paths import _is_file
from dsl.data.stl10 import _load_stl10
from dsl.data.svhn import _load_svhn
from dsl.errors import DataError


@dataclass(frozen=True)
class Named:
    """A dataset netc knows by name."""

    name: str  # the canonical name, as `--data` takes it and config.json records it
    title: str  # as people write it
    aliases: tuple[str, ...]  # other spellings (after case and '-', '_', ' ' are ignored)
    folder: str  # where torchvision keeps it inside the cache folder
    files: tuple[str, ...]  # the files in `folder` that must be there ("a|b": either)
    size: str  # the download, roughly
    shape: str  # C x H x W of its images
    classes: int  # how many classes its labels name


# the four IDX files of (Fashion-)MNIST, plain or gzipped, as torchvision keeps them
_IDX_FILES = tuple(
    f"{n}|{n}.gz"
    for n in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
)

NAMED = [
    Named(
        "cifar10",
        "CIFAR-10",
        (),
        "cifar-10-batches-py",
        ("test_batch", *(f"data_batch_{i}" for i in range(1, 6))),
        "170 MB",
        "3x32x32",
        10,
    ),
    Named("cifar100", "CIFAR-100", (), "cifar-100-python", ("train", "test", "meta"), "170 MB", "3x32x32", 100),
    Named("svhn", "SVHN", (), "svhn", ("train_32x32.mat", "test_32x32.mat"), "240 MB", "3x32x32", 10),
    Named(
        "fashion-mnist",
        "Fashion-MNIST",
        ("fmnist",),
        "FashionMNIST/raw",
        _IDX_FILES,
        "30 MB",
        "1x28x28",
        10,
    ),
    Named(
        "mnist",
        "MNIST",
        (),
        "MNIST/raw",
        _IDX_FILES,
        "12 MB",
        "1x28x28",
        10,
    ),
    Named(
        "stl10",
        "STL-10",
        (),
        "stl10_binary",
        ("train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin"),
        "2.6 GB",
        "3x96x96",
        10,
    ),
]


def _key(text: str) -> str:
    return "".join(c for c in text.lower() if c not in "-_ ")


_BY_KEY = {_key(s): n for n in NAMED for s in (n.name, n.title, *n.aliases)}

NAMES = ", ".join(n.name for n in NAMED)


def named(data: str | os.PathLike[str] | None) -> Named | None:
    """The dataset `data` names, or None (a path, or no name netc knows). A name is never a path:
    it has no '/' and no file or folder of that name exists."""
    if data is None:
        return None
    text = os.fspath(data)
    if not isinstance(text, str) or "/" in text or os.sep in text or "\0" in text:
        return None
    n = _BY_KEY.get(_key(text))
    if n is None or os.path.lexists(text):
        return None
    return n


def dataset_name(data: str | os.PathLike[str] | None) -> str | None:
    """The canonical name (e.g. 'cifar100') when `data` names a dataset rather than a path, else None."""
    n = named(data)
    return n.name if n else None


def data_arg(data: str | os.PathLike[str] | None) -> str | None:
    """How to record a --data argument so that it means the same later, from any folder: a dataset's
    canonical name, a path made absolute, or None (CIFAR-10, downloaded)."""
    if data is None:
        return None
    name = dataset_name(data)
    return name if name else str(Path(data).resolve())


def _present(folder: Path, files: tuple[str, ...]) -> bool:
    return all(any(_is_file(folder / f) for f in spec.split("|")) for spec in files)


def where(n: Named, root: Path) -> Path:
    """The folder of `n` in the cache `root` (SVHN: also `root` itself, where torchvision's SVHN puts it)."""
    if n.name == "svhn" and not _present(root / n.folder, n.files) and _present(root, n.files):
        return root
    return root / n.folder


def load_named(n: Named, download: bool) -> Dataset:
    """Dataset `n` from the cache folder, downloaded there first when missing (and `download`)."""
    if n.name == "cifar10":
        return _download_cifar(download)
    root = default_root()
    folder = where(n, root)
    if not _present(folder, n.files):
        hint = (
            f"netc downloads {n.title} ({n.size}) into {root} when it can reach the internet; "
            f"or set NETC_DATA to a folder holding {n.folder}/, or pass --data PATH to a copy"
        )
        if not download:
            raise DataError(
                f"{n.title} is not in '{root}' (netc looks for '{root / n.folder}/')", file=str(root), hint=hint
            )
        try:
            root.mkdir(parents=True, exist_ok=True)
            _FETCH[n.name](root)
        except Exception as err:  # offline, DNS, HTTP, checksum, disk: all mean "no data here"
            raise DataError(
                f"{n.title} is not in '{root}' and downloading it failed ({type(err).__name__}: {err})",
                file=str(root),
                hint=hint,
            ) from None
        folder = where(n, root)
    return LOADERS[n.name](folder)


# ----------------------------------------------------------------------------- downloads (torchvision's classes)


def _fetch_cifar100(root: Path) -> None:
    from torchvision.datasets import CIFAR100  # type: ignore[import-untyped]
    from torchvision.datasets.utils import download_and_extract_archive  # type: ignore[import-untyped]

    download_and_extract_archive(CIFAR100.url, str(root), filename=CIFAR100.filename, md5=CIFAR100.tgz_md5)


def _fetch_svhn(root: Path) -> None:
    # SVHN(download=True) would load the files with scipy afterwards; its URLs and checksums are enough
    from torchvision.datasets import SVHN
    from torchvision.datasets.utils import download_url

    for split in ("train", "test"):
        url, filename, md5 = SVHN.split_list[split]
        download_url(url, str(root / "svhn"), filename, md5)


def _fetch_stl10(root: Path) -> None:
    from torchvision.datasets import STL10
    from torchvision.datasets.utils import download_and_extract_archive

    download_and_extract_archive(STL10.url, str(root), filename=STL10.filename, md5=STL10.tgz_md5)


def _fetch_idx(cls: str) -> Callable[[Path], None]:
    def fetch(root: Path) -> None:
        import torchvision.datasets  # type: ignore[import-untyped]

        getattr(torchvision.datasets, cls)(str(root), train=True, download=True)  # every split's files, checked

    return fetch


_FETCH: dict[str, Callable[[Path], None]] = {
    "cifar100": _fetch_cifar100,
    "svhn": _fetch_svhn,
    "fashion-mnist": _fetch_idx("FashionMNIST"),
    "mnist": _fetch_idx("MNIST"),
    "stl10": _fetch_stl10,
}


LOADERS: dict[str, Callable[[Path], Dataset]] = {
    "cifar100": _load_cifar100,
    "svhn": _load_svhn,
    "fashion-mnist": lambda f: _load_idx(f, "FashionMNIST"),
    "mnist": lambda f: _load_idx(f, "MNIST"),
    "stl10": _load_stl10,
}
