"""The IDX files of MNIST and Fashion-MNIST (`train-images-idx3-ubyte`, labels `idx1`, `t10k-...` for the
test set; plain or .gz), as torchvision keeps them in `FashionMNIST/raw/` and `MNIST/raw/`.

An IDX file is a 4-byte magic (two zero bytes, the value type, the number of dimensions), the
dimensions as big-endian 32-bit integers, then the values. netc reads unsigned-byte files only (what
both datasets ship) and checks the stated size against the file (or, gzipped, against this machine's
memory, inflating no more than that) before allocating.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from dsl.data.dataset import USAGE, Dataset
from dsl.data.images import _exc
from dsl.data.paths import _check_memory, _is_file, _md5, _open_file, _read_into
from dsl.errors import DataError

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# torchvision's FashionMNIST.classes / MNIST.classes, and the md5 of their .gz files (`resources`)
FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
MNIST_CLASSES = [
    "0 - zero",
    "1 - one",
    "2 - two",
    "3 - three",
    "4 - four",
    "5 - five",
    "6 - six",
    "7 - seven",
    "8 - eight",
    "9 - nine",
]

IDX_DATASETS = {
    "FashionMNIST": (
        "Fashion-MNIST",
        FASHION_CLASSES,
        {
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
    ),
    "MNIST": (
        "MNIST",
        MNIST_CLASSES,
        {
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
    ),
}

_TYPES = {0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "short", 0x0C: "int", 0x0D: "float", 0x0E: "double"}


def has_idx(folder: Path) -> bool:
    """`folder` holds a training or test image file (plain or .gz)."""
    return any(_is_file(folder / (IDX_FILES[s][0] + gz)) for s in IDX_FILES for gz in ("", ".gz"))


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """An unsigned-byte IDX file of `ndim` dimensions (plain, or gzipped when its name ends in .gz);
    DataError naming the file for anything else."""
    with _open_file(path, "an IDX file") as raw:
        if path.suffix.lower() != ".gz":
            return _read_idx(raw, path, ndim, os.fstat(raw.fileno()).st_size)
        try:
            with gzip.GzipFile(fileobj=raw, mode="rb") as f:
                return _read_idx(f, path, ndim, None)
        except DataError:
            raise
        except MemoryError:
            raise DataError(f"'{path}' is too large to load into memory (or corrupt)", file=str(path)) from None
        except (OSError, EOFError, zlib.error, struct.error) as err:  # BadGzipFile is an OSError
            raise DataError(
                f"'{path}' is not a valid gzip file or is truncated ({_exc(err)})", file=str(path)
            ) from None


def _read_idx(f: Any, path: Path, ndim: int, size: int | None) -> np.ndarray:
    """`size`: the plain file's size (None for a gzipped one, whose end is found by reading)."""
    head = f.read(4)
    if len(head) < 4 or head[:2] != b"\0\0":
        raise DataError(f"'{path}' is not an IDX file (it does not start with an IDX magic number)", file=str(path))
    kind, dims_n = head[2], head[3]
    if kind != 0x08:
        raise DataError(
            f"'{path}' holds IDX values of type {_TYPES.get(kind, hex(kind))}; netc reads unsigned-byte IDX files",
            file=str(path),
        )
    if dims_n != ndim:
        what = "images (N x H x W)" if ndim == 3 else "labels (N)"
        raise DataError(f"'{path}' has {dims_n} dimensions, but {what} have {ndim}", file=str(path))
    raw_dims = f.read(4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise DataError(f"'{path}' is truncated inside its header", file=str(path))
    dims = struct.unpack(f">{ndim}I", raw_dims)
    count = math.prod(dims)
    shown = "x".join(map(str, dims))
    if size is not None:
        held = size - 4 - 4 * ndim
        if held < count:
            raise DataError(
                f"'{path}' is truncated: its header promises {shown} = {count:,} bytes of values but it holds {held:,}",
                file=str(path),
            )
        if held > count:
            raise DataError(
                f"'{path}' has {held - count:,} bytes after the {shown} values its header promises", file=str(path)
            )
    _check_memory(count, path, f"{shown} values")
    out = np.empty(dims, np.uint8)
    _read_into(f, out, path, f"its {shown} values")
    if size is None and f.read(1):
        raise DataError(f"'{path}' has more data after the {shown} values its header promises", file=str(path))
    return out


def _pick(folder: Path, name: str) -> Path:
    """The .gz file when there is one (what torchvision downloads, and checks), else the plain file."""
    gz = folder / (name + ".gz")
    if _is_file(gz):
        return gz
    if _is_file(folder / name):
        return folder / name
    raise DataError(
        f"'{folder}' has no '{name}' (or '{name}.gz'); an MNIST-style copy has "
        + ", ".join(n for pair in IDX_FILES.values() for n in pair),
        file=str(folder / name),
        hint=USAGE,
    )


def idx_kind(folder: Path) -> str | None:
    """'FashionMNIST' or 'MNIST' when the folder is torchvision's `<Dataset>/raw/` (or `<Dataset>/`), else None."""
    parts = [p.lower() for p in folder.resolve().parts[-2:]]
    for kind in IDX_DATASETS:
        if kind.lower() in parts:
            return kind
    return None


def _load_idx(folder: Path, kind: str | None = None) -> Dataset:
    """MNIST-style IDX files in `folder`: (N, 1, H, W) images; class names from the dataset's name
    (`kind`, or the folder's: torchvision's `FashionMNIST/raw/`), else numbered classes."""
    kind = kind or idx_kind(folder)
    title, classes, md5 = IDX_DATASETS[kind] if kind else ("MNIST-style IDX data", [], {})
    xs, ys, used = {}, {}, []
    for split, (images, labels) in IDX_FILES.items():
        pi, pl = _pick(folder, images), _pick(folder, labels)
        used += [pi, pl]
        x, y = read_idx(pi, 3), read_idx(pl, 1)
        if len(x) != len(y):
            raise DataError(f"'{pi}' has {len(x)} images but '{pl}' has {len(y)} labels", file=str(pl))
        xs[split], ys[split] = x[:, None], y.astype(np.int64)
    official = bool(md5) and all(p.name in md5 and _md5(p) == md5[p.name] for p in used)
    return Dataset(
        xs["train"],
        ys["train"],
        xs["test"],
        ys["test"],
        list(classes),
        str(folder),
        "idx",
        official,
        None
        if official
        else f"note: '{folder}' is not the official {title} release (checksums differ or unchecked); using it as given",
    )
