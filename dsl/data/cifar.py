"""torchvision's CIFAR-10 and CIFAR-100 layouts: the pickles, read by an unpickler that builds only plain data."""

from __future__ import annotations

import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from dsl.data.dataset import USAGE, Dataset, class_names, labels_array, release, require
from dsl.data.paths import entries, is_file, open_file, reading, refuse, stat_path
from dsl.errors import DataError

CIFAR_DIR = "cifar-10-batches-py"
CIFAR100_DIR = "cifar-100-python"


class PickleRefused(pickle.UnpicklingError):
    """`SafeUnpickler` refused something a pickle asked for (a global, an object array): not plain data."""


class SafeUnpickler(pickle.Unpickler):
    """Builds plain containers, numbers, strings, bytes and numeric arrays only: a data file cannot run code."""

    def find_class(self, module: str, name: str) -> Any:
        """The few numpy/codecs callables plain arrays and bytes need; `PickleRefused` for any other."""
        found = _ALLOWED.get((module.replace("numpy._core.", "numpy.core."), name))  # numpy 2 renamed core
        if found is None:
            only = "data files may hold only plain values and numeric arrays"
            raise PickleRefused(f"refused to load '{module}.{name}': {only}")
        return found


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
    if not isinstance(spec, (np.dtype, str, bytes)):
        raise PickleRefused("refused a non-plain array type")
    d = np.dtype(spec.decode("latin1") if isinstance(spec, bytes) else spec, align, copy)
    if d.hasobject or d.fields is not None:
        raise PickleRefused("refused an object array")
    return d


_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _plain_dtype,
    ("_codecs", "encode"): _latin1_bytes,  # how protocol 2 spells a bytes object
    ("builtins", "bytes"): _empty_bytes,  # ... and an empty one
    ("__builtin__", "bytes"): _empty_bytes,
}


def read_pickle(path: Path) -> Any:
    """Read one pickle with `SafeUnpickler`; DataError (naming the file) on anything odd."""
    with open_file(path) as f, reading(path):
        try:
            return SafeUnpickler(f, encoding="latin1").load()
        except PickleRefused as err:
            raise refuse(path, f"is not a plain data pickle: {err}. netc never runs code from data files") from None


def _batch(path: Path, key: str) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR pickle: (N, 3, H, W) uint8 images and labels (under `key`; CIFAR-10's may be 'fine_labels')."""
    d = read_pickle(path)
    if not isinstance(d, dict):
        raise refuse(path, f"holds a {type(d).__name__}, not a CIFAR batch (a dict with 'data' and '{key}')")
    d = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in d.items()}  # keys: str or bytes
    data, labels = d.get("data"), d.get(key, d.get("fine_labels") if key == "labels" else None)
    if data is None or labels is None:
        lacking = "data" if data is None else key
        raise refuse(path, f"has no '{lacking}' entry; a CIFAR batch is a dict with 'data' and '{key}'")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        got = f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise refuse(path, f": 'data' must be a uint8 array of N x 3*H*W, not a {got}")
    side = math.isqrt(data.shape[1] // 3)
    if data.shape[1] == 0 or 3 * side * side != data.shape[1]:
        raise refuse(path, f": rows of {data.shape[1]} bytes are not square 3-channel images")
    y = labels_array(labels, path, f"'{key}'")
    if len(y) != len(data):
        raise refuse(path, f"has {len(data)} images but {len(y)} labels")
    return data.reshape(-1, 3, side, side), y


def has_cifar10(folder: Path) -> bool:
    """`folder` holds CIFAR-10's pickles."""
    return stat_path(folder / "data_batch_1") is not None or stat_path(folder / "test_batch") is not None


def has_cifar100(folder: Path) -> bool:
    """`folder` holds CIFAR-100's pickles."""
    return is_file(folder / "train") and (is_file(folder / "test") or is_file(folder / "meta"))


def load_cifar10(folder: Path) -> Dataset:
    """torchvision's CIFAR-10 layout: `data_batch_1..5`, `test_batch` and optionally `batches.meta`."""
    train = [p for p in entries(folder) if p.name.startswith("data_batch_")]
    if not train:
        raise refuse(folder, "has no data_batch_1..5 files", USAGE)
    if stat_path(folder / "test_batch") is None:
        raise DataError(f"'{folder}' has no test_batch file", file=str(folder / "test_batch"), hint=USAGE)
    return _load(folder, train, "test_batch", "labels", "batches.meta", "label_names", "CIFAR-10")


def load_cifar100(folder: Path) -> Dataset:
    """torchvision's CIFAR-100 layout: `train`, `test` and `meta`; the 100 fine labels are the classes."""
    require(folder, ("train", "test"), "a CIFAR-100 copy has train, test and meta")
    return _load(folder, [folder / "train"], "test", "fine_labels", "meta", "fine_label_names", "CIFAR-100")


def _load(folder: Path, train: list[Path], test: str, key: str, meta: str, names_key: str, title: str) -> Dataset:
    """The pickles `train` and `test` (labels under `key`), class names under `names_key` in `meta` if there."""
    parts = [_batch(p, key) for p in (*train, folder / test)]
    sizes = {x.shape[1:] for x, _ in parts}
    if len(sizes) != 1:
        shown = ", ".join(sorted(f"{h}x{w}" for _, h, w in sizes))
        raise DataError(f"the batches in '{folder}' hold images of different sizes ({shown})", file=str(folder))
    classes: list[str] = []
    if stat_path(folder / meta) is not None:
        d, f = read_pickle(folder / meta), folder / meta
        if not isinstance(d, dict):
            raise refuse(f, f"holds a {type(d).__name__}, not a dict with '{names_key}'")
        names = d.get(names_key, d.get(names_key.encode()))
        if names is None and title == "CIFAR-100":  # CIFAR-10's batches.meta may lack the names; CIFAR-100's is them
            raise refuse(f, f"holds no '{names_key}' (CIFAR-100's meta is a dict with '{names_key}')")
        classes = [] if names is None else class_names(names, f, f"'{names_key}'")
    from torchvision.datasets import CIFAR10, CIFAR100  # type: ignore[import-untyped]

    tv = CIFAR10 if title == "CIFAR-10" else CIFAR100  # their checksums are the release's
    md5 = dict(tv.train_list + tv.test_list) if {p.name for p in train} == {n for n, _ in tv.train_list} else {}
    x, y = (np.concatenate([p[i] for p in parts[:-1]]) for i in (0, 1))
    layout = "cifar-pickle" if title == "CIFAR-10" else "cifar100-pickle"
    return release(folder, [(x, y), parts[-1]], classes, layout, title, md5)
