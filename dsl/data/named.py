"""Datasets by name (`--data cifar100`; case, '-', '_' and spaces ignored): found in the cache folder
($NETC_DATA, else ~/.cache/netc) in torchvision's own layout, downloaded there with torchvision's URLs and
checksums when missing. An existing file or folder of that name wins over the name."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from dsl.data.cifar import load_cifar10, load_cifar100
from dsl.data.dataset import USAGE, Dataset, default_root
from dsl.data.paths import is_file, refuse, special, stat_path
from dsl.data.tvreaders import IDX_FILES, STL10_FILES, load_idx, load_stl10, load_svhn
from dsl.errors import DataError, did_you_mean


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


_IDX_FILES = tuple(f"{n}|{n}.gz" for pair in IDX_FILES.values() for n in pair)  # (Fashion-)MNIST's, plain or .gz
NAMED = [
    Named("cifar10", "CIFAR-10", (), "cifar-10-batches-py", ("test_batch",), "170 MB", "3x32x32", 10),
    Named("cifar100", "CIFAR-100", (), "cifar-100-python", ("train", "test", "meta"), "170 MB", "3x32x32", 100),
    Named("svhn", "SVHN", (), "svhn", ("train_32x32.mat", "test_32x32.mat"), "240 MB", "3x32x32", 10),
    Named("fashion-mnist", "Fashion-MNIST", ("fmnist",), "FashionMNIST/raw", _IDX_FILES, "30 MB", "1x28x28", 10),
    Named("mnist", "MNIST", (), "MNIST/raw", _IDX_FILES, "12 MB", "1x28x28", 10),
    Named("stl10", "STL-10", (), "stl10_binary", STL10_FILES, "2.6 GB", "3x96x96", 10),
]


def _key(text: str) -> str:
    return "".join(c for c in text.lower() if c not in "-_ ")


_BY_KEY = {_key(s): n for n in NAMED for s in (n.name, n.title, *n.aliases)}
NAMES = ", ".join(n.name for n in NAMED)


def named(data: str | os.PathLike[str] | None) -> Named | None:
    """The dataset `data` names; None for a path (anything with a '/' or that exists) or an unknown name."""
    text = os.fspath(data) if data is not None else None
    if not isinstance(text, str) or "/" in text or os.sep in text or "\0" in text or os.path.lexists(text):
        return None
    return _BY_KEY.get(_key(text))


def dataset_name(data: str | os.PathLike[str] | None) -> str | None:
    """The canonical name (e.g. 'cifar100') when `data` names a dataset rather than a path, else None."""
    return n.name if (n := named(data)) else None


def data_arg(data: str | os.PathLike[str] | None) -> str | None:
    """A --data argument as recorded, to mean the same from any folder: a canonical name or an absolute path."""
    return None if data is None else dataset_name(data) or str(Path(data).resolve())


def check_data_path(path: str | os.PathLike[str]) -> None:
    """Refuse, unread, a --data that cannot be data (missing, a device, a FIFO, a file not .npz); names pass."""
    if named(path) is not None:  # a dataset's name (cifar100, svhn, ...): found or downloaded when loaded
        return
    p = Path(path)
    st = stat_path(p)
    if st is None and ("/" in str(path) or os.sep in str(path)):
        raise DataError(f"data path '{p}' does not exist", file=str(p), hint=USAGE)
    if st is None:
        close = did_you_mean(str(path).lower(), [n.name for n in NAMED])
        hint = (f"{close} " if close else "") + USAGE
        raise refuse(p, f"is neither a dataset name ({NAMES}) nor a file or folder that exists", hint)
    if stat.S_ISREG(st.st_mode) and p.suffix.lower() != ".npz":
        raise refuse(p, "is not a data folder or an .npz file", USAGE)
    if not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode):
        only = "netc reads only regular files and folders"
        raise refuse(p, f"is {special(st)}, not a data file or folder; {only}", USAGE)


def _present(folder: Path, files: tuple[str, ...]) -> bool:
    return all(any(is_file(folder / f) for f in spec.split("|")) for spec in files)


def where(n: Named, root: Path) -> Path:
    """The folder of `n` in the cache `root` (SVHN: also `root` itself, where torchvision's SVHN puts it)."""
    held = n.name == "svhn" and not _present(root / n.folder, n.files) and _present(root, n.files)
    return root if held else root / n.folder


def load_named(n: Named, download: bool) -> Dataset:
    """Dataset `n` from the cache folder, downloaded there first when missing (and `download`)."""
    root = default_root()
    if not _present(where(n, root), n.files):
        hint = (
            f"netc downloads {n.title} ({n.size}) into {root} when it can reach the internet; "
            f"or set NETC_DATA to a folder holding {n.folder}/, or pass --data PATH to a copy"
        )
        if not download:
            looks = f"netc looks for '{root / n.folder}/'"
            raise DataError(f"{n.title} is not in '{root}' ({looks})", file=str(root), hint=hint)
        try:
            root.mkdir(parents=True, exist_ok=True)
            _fetch(n, root)
        except Exception as err:  # offline, DNS, HTTP, checksum, disk: all mean "no data here"
            failed = f"downloading it failed ({type(err).__name__}: {err})"
            raise DataError(f"{n.title} is not in '{root}' and {failed}", file=str(root), hint=hint) from None
    load = {"cifar10": load_cifar10, "cifar100": load_cifar100, "svhn": load_svhn, "stl10": load_stl10}.get(n.name)
    folder = where(n, root)
    return load(folder) if load else load_idx(folder, n.folder.split("/")[0])  # FashionMNIST/raw: FashionMNIST


def _fetch(n: Named, root: Path) -> None:
    """Download `n` into the cache folder `root` with torchvision's URLs and checksums."""
    import torchvision.datasets as tvd  # type: ignore[import-untyped]
    from torchvision.datasets.utils import download_and_extract_archive, download_url  # type: ignore[import-untyped]

    if n.name == "svhn":  # SVHN(download=True) would then load the files with scipy: its URLs and checksums suffice
        for split in ("train", "test"):
            url, filename, md5 = tvd.SVHN.split_list[split]
            download_url(url, str(root / "svhn"), filename, md5)
    elif n.name in ("fashion-mnist", "mnist"):  # every split's files, checked
        getattr(tvd, n.folder.split("/")[0])(str(root), train=True, download=True)
    else:
        cls = {"cifar10": tvd.CIFAR10, "cifar100": tvd.CIFAR100, "stl10": tvd.STL10}[n.name]
        download_and_extract_archive(cls.url, str(root), filename=cls.filename, md5=cls.tgz_md5)
