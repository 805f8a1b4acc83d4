"""torchvision's CIFAR-10 and CIFAR-100 layouts: the pickles, read by an unpickler that can only build plain
data, and the CIFAR-10 download."""

from __future__ import annotations

import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from dsl.data.dataset import USAGE, Dataset, _class_names, _labels, default_root
from dsl.data.images import _exc
from dsl.data.paths import _entries, _is_file, _md5, _open_file, _stat
from dsl.errors import DataError

CIFAR_DIR = "cifar-10-batches-py"

CIFAR100_DIR = "cifar-100-python"

CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"

CIFAR_TGZ_MD5 = "c58f30108f718f92721af3b95e74349a"
# md5 of the official files (the same table torchvision checks)

CIFAR_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}

# torchvision's CIFAR100.train_list / test_list
CIFAR100_MD5 = {"train": "16019d7e3df5f24257cddd939b257f8d", "test": "f0ef6b0ae62326f3e7ffdfab6717acfc"}


class PickleRefused(pickle.UnpicklingError):
    """`SafeUnpickler` refused something a pickle asked for (a global, an object array): not plain data."""


class SafeUnpickler(pickle.Unpickler):
    """Builds plain containers, numbers, strings, bytes and numeric numpy arrays; nothing else.

    Any other global a pickle names (a function to call, a class to build) is refused with
    `PickleRefused`, so a data file cannot run code."""

    def find_class(self, module: str, name: str) -> Any:
        """The few numpy/codecs callables plain arrays and bytes need; `PickleRefused` for any other."""
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name == "_reconstruct":
            return _reconstruct
        if module in ("numpy.core.numeric", "numpy._core.numeric") and name == "_frombuffer":
            return _frombuffer
        if module == "numpy" and name == "ndarray":
            return np.ndarray
        if module == "numpy" and name == "dtype":
            return _plain_dtype
        if module == "_codecs" and name == "encode":  # how protocol 2 spells a bytes object
            return _latin1_bytes
        if module in ("__builtin__", "builtins") and name == "bytes":  # ... and an empty one
            return _empty_bytes
        raise PickleRefused(
            f"refused to load '{module}.{name}': data files may hold only plain values and numeric arrays"
        )


def _reconstruct(cls: Any, shape: Any, dtype: Any) -> np.ndarray:
    if cls is not np.ndarray:
        raise PickleRefused("refused an array subclass")
    return np.ndarray.__new__(np.ndarray, shape, _plain_dtype(dtype))


def _frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    return np.frombuffer(buf, dtype=_plain_dtype(dtype)).reshape(shape, order=order)


def _latin1_bytes(text: Any, encoding: str = "latin1") -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise PickleRefused("refused an unusual bytes encoding")
    return text.encode("latin1")


def _empty_bytes(*args: Any) -> bytes:
    if args:  # bytes(n) would allocate n bytes: only the b"" protocol 2 writes this way is plain data
        raise PickleRefused("refused a bytes() call with arguments")
    return b""


def _plain_dtype(spec: Any, align: bool = False, copy: bool = False) -> np.dtype:
    if isinstance(spec, np.dtype):
        d = spec
    elif isinstance(spec, (str, bytes)):
        d = np.dtype(spec.decode("latin1") if isinstance(spec, bytes) else spec, align, copy)
    else:
        raise PickleRefused("refused a non-plain array type")
    if d.hasobject or d.fields is not None:
        raise PickleRefused("refused an object array")
    return d


def read_pickle(path: Path) -> Any:
    """Read one pickle with `SafeUnpickler`; DataError (naming the file) on anything odd."""
    with _open_file(path) as f:
        try:
            return SafeUnpickler(f, encoding="latin1").load()
        except PickleRefused as err:
            raise DataError(
                f"'{path}' is not a plain data pickle: {err}. netc never runs code from data files", file=str(path)
            ) from None
        except MemoryError:
            raise DataError(f"'{path}' is too large to load into memory (or corrupt)", file=str(path)) from None
        # the unpickler and numpy fail on hostile bytes in many ways: all mean corrupt
        except Exception as err:  # noqa: BLE001
            raise DataError(f"'{path}' is corrupt or truncated ({_exc(err)})", file=str(path)) from None


def _get(d: dict, key: str) -> Any:
    """Value of `key` in a CIFAR dict whose keys are str (latin1) or bytes."""
    return d.get(key, d.get(key.encode()))


def _cifar_batch(path: Path, key: str = "labels") -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR pickle: (N, 3, H, W) uint8 images and labels; `key` names the labels (CIFAR-10's
    'labels', falling back to 'fine_labels'; CIFAR-100's 'fine_labels' only)."""
    d = read_pickle(path)
    f = str(path)
    if not isinstance(d, dict):
        raise DataError(
            f"'{path}' holds a {type(d).__name__}, not a CIFAR batch (a dict with 'data' and '{key}')", file=f
        )
    data, labels = _get(d, "data"), _get(d, key)
    if labels is None and key == "labels":
        labels = _get(d, "fine_labels")
    if data is None or labels is None:
        raise DataError(
            f"'{path}' has no '{'data' if data is None else key}' entry; a CIFAR batch is a dict "
            f"with 'data' and '{key}'",
            file=f,
        )
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        got = f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"'{path}': 'data' must be a uint8 array of N x 3*H*W, not a {got}", file=f)
    side = math.isqrt(data.shape[1] // 3)
    if data.shape[1] == 0 or 3 * side * side != data.shape[1]:
        raise DataError(f"'{path}': rows of {data.shape[1]} bytes are not square 3-channel images", file=f)
    y = _labels(labels, f"'{path}': '{key}'", f)
    if len(y) != len(data):
        raise DataError(f"'{path}' has {len(data)} images but {len(y)} labels", file=f)
    return data.reshape(-1, 3, side, side), y


def _load_cifar_pickles(folder: Path) -> Dataset:
    train_files = [p for p in _entries(folder) if p.name.startswith("data_batch_")]
    test_file = folder / "test_batch"
    if not train_files:
        raise DataError(f"'{folder}' has no data_batch_1..5 files", file=str(folder), hint=USAGE)
    if _stat(test_file) is None:
        raise DataError(f"'{folder}' has no test_batch file", file=str(test_file), hint=USAGE)
    parts = [_cifar_batch(p) for p in train_files]
    tx, ty = _cifar_batch(test_file)
    sizes = {p[0].shape[1:] for p in parts} | {tx.shape[1:]}
    if len(sizes) != 1:
        shown = ", ".join(sorted(f"{h}x{w}" for _, h, w in sizes))
        raise DataError(f"the batches in '{folder}' hold images of different sizes ({shown})", file=str(folder))
    classes = []
    meta = folder / "batches.meta"
    if _stat(meta) is not None:
        d = read_pickle(meta)
        if not isinstance(d, dict):
            raise DataError(f"'{meta}' holds a {type(d).__name__}, not a dict with 'label_names'", file=str(meta))
        names = _get(d, "label_names")
        if names is not None:
            classes = _class_names(names, f"'{meta}': 'label_names'", str(meta))
    files = {p.name: p for p in train_files + [test_file]}
    official = set(files) == set(CIFAR_MD5) and all(_md5(p) == CIFAR_MD5[n] for n, p in files.items())
    return Dataset(
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        tx,
        ty,
        classes,
        str(folder),
        "cifar-pickle",
        official,
        None
        if official
        else f"note: '{folder}' is not the official CIFAR-10 release (checksums differ); using it as given",
    )


def _load_cifar100(folder: Path) -> Dataset:
    """torchvision's CIFAR-100 layout: `train` and `test` pickles (dicts with 'data', 'fine_labels' and
    'coarse_labels') and `meta` ('fine_label_names'); the 100 fine labels are the classes."""
    train, test, meta = folder / "train", folder / "test", folder / "meta"
    for p in (train, test):
        if not _is_file(p):
            raise DataError(
                f"'{folder}' has no '{p.name}' file; a CIFAR-100 copy has train, test and meta",
                file=str(p),
                hint=USAGE,
            )
    x, y = _cifar_batch(train, "fine_labels")
    tx, ty = _cifar_batch(test, "fine_labels")
    if x.shape[1:] != tx.shape[1:]:
        raise DataError(
            f"'{train}' holds {x.shape[2]}x{x.shape[3]} images but '{test}' holds {tx.shape[2]}x{tx.shape[3]}",
            file=str(folder),
        )
    classes = []
    if _stat(meta) is not None:
        d = read_pickle(meta)
        names = _get(d, "fine_label_names") if isinstance(d, dict) else None
        if names is None:
            raise DataError(
                f"'{meta}' holds no 'fine_label_names' (CIFAR-100's meta is a dict with 'fine_label_names')",
                file=str(meta),
            )
        classes = _class_names(names, f"'{meta}': 'fine_label_names'", str(meta))
    official = all(_md5(folder / n) == m for n, m in CIFAR100_MD5.items())
    return Dataset(
        x,
        y,
        tx,
        ty,
        classes,
        str(folder),
        "cifar100-pickle",
        official,
        None
        if official
        else f"note: '{folder}' is not the official CIFAR-100 release (checksums differ); using it as given",
    )


def _download_cifar(download: bool) -> Dataset:
    root = default_root()
    folder = root / CIFAR_DIR
    if _stat(folder / "test_batch") is None:
        if not download:
            raise DataError(f"CIFAR-10 is not in '{root}'", file=str(root), hint=USAGE)
        try:
            from torchvision.datasets.utils import download_and_extract_archive  # type: ignore[import-untyped]

            root.mkdir(parents=True, exist_ok=True)
            download_and_extract_archive(CIFAR_URL, str(root), filename="cifar-10-python.tar.gz", md5=CIFAR_TGZ_MD5)
        except Exception as err:  # offline, DNS, HTTP, disk: all mean "no data here"
            raise DataError(
                f"CIFAR-10 is not in '{root}' and downloading it failed ({type(err).__name__}: {err})",
                file=str(root),
                hint=USAGE + " (or set NETC_DATA to a folder holding cifar-10-batches-py/)",
            ) from None
    return _load_cifar_pickles(folder)
