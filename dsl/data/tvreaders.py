"""The datasets torchvision reads itself, read by its own code once netc has checked the files: torchvision
reads whole files and trusts the sizes they state, so every size is checked first against the file and this
machine's memory (a compressed one against zlib's ratio). SVHN's .mat files (MATLAB v5: `X` H x W x 3 x N
uint8, `y` N x 1, 10 for the digit 0) go to torchvision's `SVHN` (scipy.io.loadmat); the IDX files of
(Fashion-)MNIST, plain or .gz, are copied (inflated) into a temporary folder no further than their headers
say, for `read_image_file` / `read_label_file`; STL-10's binaries go to torchvision's `STL10`.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from dsl.data.dataset import USAGE, Dataset, release, require
from dsl.data.paths import check_memory, exc_text, is_file, open_file, reading, refuse, size_text
from dsl.errors import DataError

SVHN_FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat"}
IDX_FILES = {s: (f"{p}-images-idx3-ubyte", f"{p}-labels-idx1-ubyte") for s, p in (("train", "train"), ("test", "t10k"))}
IDX_DATASETS = {"FashionMNIST": "Fashion-MNIST", "MNIST": "MNIST"}  # torchvision's class: the title
STL10_DIR = "stl10_binary"
STL10_FILES = ("train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin")
ZLIB_RATIO = 1032  # deflate's greatest: n compressed bytes never inflate to more than 1032 n

_MATRIX, _COMPRESSED = 14, 15  # the two kinds of top-level MAT-file element that hold a variable
# array classes whose variable is flags, dimensions, name and one data part (char and the numbers): the others
# (cells, structs, sparse and complex arrays) hold nested parts that scipy would size unchecked
_PLAIN_CLASSES = {4, *range(6, 16)}
_IDX_TYPES = {0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "short", 0x0C: "int", 0x0D: "float", 0x0E: "double"}
_STL10_IMAGE = 3 * 96 * 96  # bytes an image


def has_svhn(folder: Path) -> bool:
    """`folder` holds SVHN's training or test file."""
    return any(is_file(folder / name) for name in SVHN_FILES.values())


def load_svhn(folder: Path) -> Dataset:
    """torchvision's SVHN layout: `train_32x32.mat` and `test_32x32.mat` in one folder ('extra' is not read)."""
    from torchvision.datasets import SVHN  # type: ignore[import-untyped]

    class Checked(SVHN):
        def _check_integrity(self) -> bool:
            return True  # netc checked the file itself; the checksum decides only the notice

    require(folder, SVHN_FILES.values(), "an SVHN copy has train_32x32.mat and test_32x32.mat")
    out = []
    for split, name in SVHN_FILES.items():
        path = folder / name
        _check(path)
        with reading(path):
            tv = Checked(str(folder), split=split, download=False)
        out.append((np.ascontiguousarray(tv.data), tv.labels.reshape(-1)))  # torchvision has mapped 10 to 0
    md5 = {name: digest for _, name, digest in SVHN.split_list.values() if name in SVHN_FILES.values()}
    return release(folder, out, [str(d) for d in range(10)], "svhn-mat", "SVHN", md5)


def _check(path: Path) -> None:
    """Refuse, before scipy reads it, a file not MATLAB v5, with sizes that do not fit, or without SVHN's X and y."""
    try:
        import scipy.io  # torchvision's SVHN reads the files with it
    except ImportError:
        raise DataError("SVHN needs scipy: pip install 'netc[svhn]'", file=str(path.parent)) from None
    with open_file(path, "a .mat file") as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(128)
        if not head.startswith(b"MATLAB"):
            raise refuse(path, "is not a MATLAB .mat file (it does not start with a MAT-file header)")
        order = {b"IM": "<", b"MI": ">"}.get(head[126:128], "")  # none: a short or malformed header
        version = int.from_bytes(head[124:126], "little" if order == "<" else "big") if order else 0
        if version == 0x0200:
            again = "save it again with MATLAB's save(..., '-v7') or scipy.io.savemat"
            v5 = "netc reads MAT-files of version 5 (what SVHN ships)"
            raise refuse(path, f"is a MATLAB v7.3 (HDF5) file; {v5}", again)
        if version != 0x0100:
            raise refuse(path, "is not a MAT-file of version 5 (its header is malformed)")
        _walk(f, path, size, order)
    with reading(path):
        found = {name: (shape, kind) for name, shape, kind in scipy.io.whosmat(str(path))}
    missing = " or ".join(repr(n) for n in ("X", "y") if n not in found)
    if missing:
        held = ", ".join(repr(n) for n in found)
        raise refuse(path, f"has no variable {missing} ({f'it has {held}' if held else 'it is empty'})")
    (x, x_kind), (y, y_kind) = found["X"], found["y"]
    shown = "x".join(map(str, x))
    if x_kind != "uint8" or len(x) != 4 or x[2] != 3:
        raise refuse(path, f": 'X' must be H x W x 3 x N uint8 images (SVHN's layout), not {x_kind} {shown}")
    if math.prod(x) > ZLIB_RATIO * size:
        most = f"more than a file of {size:,} bytes can hold (zlib inflates at most {ZLIB_RATIO} times)"
        raise refuse(path, f": 'X' claims {shown} images ({size_text(math.prod(x))}), {most}")
    check_memory(math.prod(x), path, f"'X' ({shown})")
    if math.prod(y) != x[3] or len(y) > 2 or 1 not in y or y_kind == "char":
        y_shown = "x".join(map(str, y))
        raise refuse(path, f"has {x[3]} images in 'X' but 'y' is {y_kind} {y_shown}; it needs N x 1 labels")
    with reading(path):  # y is small; its values are checked before torchvision casts them to integers
        labels = scipy.io.loadmat(str(path), variable_names=["y"])["y"]
    if (bad := labels[~np.isin(labels, np.arange(11))]).size:
        raise refuse(path, f": 'y' holds the label {bad.flat[0]:g}; SVHN's labels are 1..10 (10 is the digit 0)")


def _walk(f: BinaryIO, path: Path, size: int, order: str) -> None:
    """Check each top-level element within the file, a compressed one within zlib's ratio and memory."""

    def broken(why: str) -> DataError:
        return refuse(path, f"is corrupt or truncated: {why}")

    pos = 128
    while pos < size:
        f.seek(pos)
        tag = f.read(8)
        if len(tag) < 8:
            raise broken(f"{len(tag)} stray bytes at its end")
        kind, n = struct.unpack(order + "II", tag)
        if n > size - pos - 8:
            raise broken(f"an element at byte {pos:,} claims {n:,} bytes but only {size - pos - 8:,} follow")
        pos += 8 + n + (0 if kind == _COMPRESSED else -n % 8)
        if kind == _MATRIX and n:
            head = tag + f.read(min(n, 4096))
        elif kind == _COMPRESSED and n:
            try:  # the variable's header is in its first bytes
                head = zlib.decompressobj().decompress(f.read(min(n, 1 << 16)), 4096)
            except zlib.error as err:
                raise broken(f"a compressed variable is corrupt (zlib: {err})") from None
            kind, m = struct.unpack(order + "II", head[:8].ljust(8, b"\0"))
            if kind != _MATRIX:
                raise broken(f"a compressed element holds data of type {kind}, not a variable (miMATRIX)")
            if m > n * ZLIB_RATIO:
                raise broken(f"a compressed element of {n:,} bytes claims to inflate to {m:,}, more than zlib can")
            check_memory(m, path, "a variable")
        else:
            continue  # not a variable (or an empty one): scipy's own checks refuse it
        flags = _parts(head, order, broken)
        if flags & 0x800 or flags & 0xFF not in _PLAIN_CLASSES:  # scipy would size their nested parts unchecked
            kind = "complex" if flags & 0x800 else "cell, struct or other non-numeric"
            raise refuse(path, f"holds a {kind} variable; netc reads SVHN files of real numeric arrays only")


def _parts(head: bytes, order: str, broken: Callable[[str], DataError]) -> int:
    """Check the parts of a variable (flags, dimensions, name, data; `head`: its first bytes) within its size."""
    end, at = 8 + struct.unpack(order + "I", head[4:8])[0], 8
    for part in ("array flags", "dimensions", "name", "data"):
        if at + 8 > len(head):
            raise broken(f"a variable ends inside its {part}")
        first, count = struct.unpack(order + "II", head[at : at + 8])
        small = first >> 16  # a small element: type and size in 4 bytes, the data in the other 4
        if not small and count > end - at - 8:
            holds = f"its element holds only {end - at - 8:,} more"
            raise broken(f"a variable's {part} part claims {count:,} bytes but {holds}")
        if part == "array flags":
            flags = struct.unpack(order + "I", head[at + (4 if small else 8) :][:4].ljust(4, b"\0"))[0]
        at += 8 if small else 8 + count + (-count % 8)
    return flags


def has_idx(folder: Path) -> bool:
    """`folder` holds a training or test image file (plain or .gz)."""
    return any(is_file(folder / (IDX_FILES[s][0] + gz)) for s in IDX_FILES for gz in ("", ".gz"))


def load_idx(folder: Path, kind: str | None = None) -> Dataset:
    """MNIST-style IDX files: (N, 1, H, W) images, classes named after `kind` or the folder (`FashionMNIST/raw/`)."""
    import torchvision.datasets  # type: ignore[import-untyped]
    from torchvision.datasets.mnist import read_image_file, read_label_file  # type: ignore[import-untyped]

    parts = [p.lower() for p in folder.resolve().parts[-2:]]  # torchvision's FashionMNIST/raw/, or FashionMNIST/
    kind = kind or next((k for k in IDX_DATASETS if k.lower() in parts), None)
    tv = getattr(torchvision.datasets, kind) if kind else None
    md5 = dict(tv.resources) if tv else {}  # the .gz files torchvision downloads
    out = []
    with tempfile.TemporaryDirectory(prefix="netc-idx-") as tmp:
        for images, labels in IDX_FILES.values():
            pi, pl = _pick(folder, images), _pick(folder, labels)
            x, y = _read(pi, 3, read_image_file, Path(tmp)), _read(pl, 1, read_label_file, Path(tmp))
            if len(x) != len(y):
                raise DataError(f"'{pi}' has {len(x)} images but '{pl}' has {len(y)} labels", file=str(pl))
            out.append((x[:, None], y.astype(np.int64)))
    title, classes = (IDX_DATASETS[kind], list(tv.classes)) if kind and tv else ("MNIST-style IDX data", [])
    return release(folder, out, classes, "idx", title, md5, "checksums differ or unchecked")


def _pick(folder: Path, name: str) -> Path:
    """The .gz file when there is one (what torchvision downloads, and checks), else the plain file."""
    for p in (folder / (name + ".gz"), folder / name):
        if is_file(p):
            return p
    copy = "an MNIST-style copy has " + ", ".join(n for pair in IDX_FILES.values() for n in pair)
    raise DataError(f"'{folder}' has no '{name}' (or '{name}.gz'); {copy}", file=str(folder / name), hint=USAGE)


def _read(path: Path, ndim: int, reader: Callable[[str], Any], tmp: Path) -> np.ndarray:
    """One IDX file read by torchvision's `reader` from a checked copy in `tmp` (a .gz one inflated)."""
    gz = path.suffix.lower() == ".gz"
    with open_file(path, "an IDX file") as raw, open(tmp / "idx", "wb") as copy:
        try:
            f = gzip.GzipFile(fileobj=raw, mode="rb") if gz else raw
            head, dims = _header(f, path, ndim)
            copy.write(head)
            count = left = math.prod(dims)
            while left and (chunk := f.read(min(left, 16 << 20))):  # in pieces, no further than the header says
                left -= copy.write(chunk)
            if left:
                promise = f"its header promises {'x'.join(map(str, dims))} = {count:,} bytes of values"
                raise refuse(path, f"is truncated: {promise} but it holds {count - left:,}")
            if f.read(1):
                raise refuse(path, "has more data after the values its header promises")
        except (OSError, EOFError, zlib.error) as err:  # BadGzipFile is an OSError
            why = "is not a valid gzip file or is truncated" if gz else "could not be read"
            raise refuse(path, f"{why} ({exc_text(err)})") from None
    with reading(path):
        return reader(str(tmp / "idx")).numpy()


def _header(f: Any, path: Path, ndim: int) -> tuple[bytes, tuple[int, ...]]:
    """An unsigned-byte IDX header of `ndim` dimensions, checked against memory: (its bytes, the dimensions)."""
    head = f.read(4)
    if len(head) < 4 or head[:2] != b"\0\0":
        raise refuse(path, "is not an IDX file (it does not start with an IDX magic number)")
    if head[2] != 0x08:
        kind = _IDX_TYPES.get(head[2], hex(head[2]))
        raise refuse(path, f"holds IDX values of type {kind}; netc reads unsigned-byte IDX files")
    if head[3] != ndim:
        what = "images (N x H x W)" if ndim == 3 else "labels (N)"
        raise refuse(path, f"has {head[3]} dimensions, but {what} have {ndim}")
    head += f.read(4 * ndim)
    if len(head) < 4 + 4 * ndim:
        raise refuse(path, "is truncated inside its header")
    dims = struct.unpack(f">{ndim}I", head[4:])
    check_memory(math.prod(dims), path, "x".join(map(str, dims)) + " values")
    return head, dims


def has_stl10(folder: Path) -> bool:
    """`folder` holds STL-10's training or test images."""
    return is_file(folder / "train_X.bin") or is_file(folder / "test_X.bin")


def load_stl10(folder: Path) -> Dataset:
    """STL-10's labelled train (5,000) and test (8,000) images, 3x96x96, with class_names.txt's names."""
    from torchvision.datasets import STL10

    root, base = os.path.split(os.path.abspath(folder))

    class Checked(STL10):
        base_folder = base  # torchvision looks in root/stl10_binary; netc takes a folder of any name

        def _check_integrity(self) -> bool:
            return True  # netc checked the sizes itself; the checksums decide only the notice

    names = folder / "class_names.txt"
    if is_file(names) and os.path.getsize(names) > 1 << 20:
        raise refuse(names, "is over 1 MB; it should list the class names, one a line")
    require(folder, STL10_FILES, "an STL-10 copy has " + ", ".join(STL10_FILES))
    out, classes = [], []
    for split in ("train", "test"):
        px, py = folder / f"{split}_X.bin", folder / f"{split}_y.bin"
        size, n = os.path.getsize(px), os.path.getsize(px) // _STL10_IMAGE
        if size == 0 or size % _STL10_IMAGE:
            whole = f"not a whole number of 96x96x3 images ({_STL10_IMAGE:,} bytes each)"
            raise refuse(px, f"holds {size:,} bytes, {whole}: it is truncated or not STL-10's")
        if os.path.getsize(py) != n:
            labels = f"'{py}' holds {os.path.getsize(py)} labels (one byte each)"
            raise DataError(f"'{px}' holds {n} images but {labels}", file=str(py))
        check_memory(size, px, "the images")
        with reading(px):
            try:
                tv = Checked(root, split=split, download=False)
            except UnicodeDecodeError as err:
                raise refuse(names, f"is not text ({err})") from None
        classes = [c.strip() for c in getattr(tv, "classes", []) if c.strip()]
        labels = (tv.labels.astype(np.int64) + 1) % 256  # the file's bytes (torchvision subtracts 1 in uint8)
        bad = labels[(labels < 1) | (labels > (len(classes) or 10))]
        if bad.size:
            raise refuse(py, f"holds the label {int(bad[0])}; STL-10's labels are 1..{len(classes) or 10}")
        out.append((np.ascontiguousarray(tv.data), labels - 1))
    return release(folder, out, classes, "stl10-binary", "STL-10", dict(STL10.train_list[:2] + STL10.test_list))
