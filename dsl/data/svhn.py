"""SVHN's `train_32x32.mat` / `test_32x32.mat`, read by netc's own MAT-file (v5) reader.

torchvision reads these with `scipy.io.loadmat`; netc reads the two variables it needs (`X`, the
H x W x 3 x N uint8 images, and `y`, the N x 1 labels with 10 meaning the digit 0) itself, so SVHN
needs no scipy, and the reader is bounded like the other layouts: every size a file states is checked
against the file (or, for a compressed variable, against this machine's memory) before anything is
allocated, compressed data is inflated no further than the size its header states, and variables
other than X and y are skipped unread.

The format (MathWorks, "MAT-File Format", version 5): a 128-byte header (text, version 0x0100, the
endian mark 'IM' or 'MI'), then data elements, each an 8-byte tag (type, byte count; a "small"
element packs both into 4 bytes and its data into the other 4) and its data padded to 8 bytes.
A variable is a miMATRIX element (array flags, dimensions, name, real part), or one zlib-packed
inside a miCOMPRESSED element. MATLAB may store a double array in a smaller integer type.
"""

from __future__ import annotations

import math
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from dsl.data.dataset import USAGE, Dataset
from dsl.data.paths import _check_memory, _is_file, _md5, _open_file, _read_into
from dsl.errors import DataError

SVHN_FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat"}

# torchvision's SVHN.split_list
SVHN_MD5 = {"train_32x32.mat": "e26dedcc434d2e4c54c9b2d4a06d8373", "test_32x32.mat": "eb5a983be6a315427106f1b164d9cef3"}

SVHN_CLASSES = [str(d) for d in range(10)]

_MI_MATRIX, _MI_COMPRESSED, _MI_INT32, _MI_UINT32 = 14, 15, 5, 6
# numeric data types: miINT8 .. miUINT64
_MI_DTYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 9: "f8", 12: "i8", 13: "u8"}
# array classes: 6..15 are numeric (double, single, int8, uint8, ..., uint64)
_CLASSES = {1: "cell", 2: "struct", 3: "object", 4: "char", 5: "sparse", 6: "double", 7: "single"}
_CLASSES.update({8 + i: t for i, t in enumerate(("int8", "uint8", "int16", "uint16", "int32", "uint32"))})
_CLASSES.update({14: "int64", 15: "uint64", 16: "function", 17: "opaque"})


_ZLIB_RATIO = 1032  # deflate's most: a compressed element can never inflate to more than this times its size


class _Broken(Exception):
    """A .mat file that is not what it should be; the message says how (the caller names the file)."""


class _Element:
    """The bytes of one top-level element: read from the file (miMATRIX) or inflated (miCOMPRESSED),
    never past what the element's tag states."""

    def __init__(self, f: BinaryIO, start: int, nbytes: int, compressed: bool, order: str):
        self.f, self.compressed, self.order = f, compressed, order
        self.left = nbytes  # bytes of the element (inflated: of its inner miMATRIX) not yet read
        self.size = nbytes
        self.packed = nbytes  # compressed bytes not yet fed to zlib
        self.z = zlib.decompressobj()
        f.seek(start)

    def read(self, n: int) -> bytes:
        if n > self.left:
            raise _Broken(f"a variable's parts overrun its element ({n:,} bytes wanted, {self.left:,} left)")
        self.left -= n
        if not self.compressed:
            data = self.f.read(n)
            if len(data) != n:
                raise _Broken("the file ends inside a variable")
            return data
        out = bytearray()
        while len(out) < n:
            if self.z.unconsumed_tail:
                chunk = self.z.unconsumed_tail
            elif self.z.eof:
                raise _Broken("a compressed variable's data ends early")
            else:
                if self.packed == 0:
                    raise _Broken("a compressed variable is truncated")
                chunk = self.f.read(min(self.packed, 1 << 20))
                if not chunk:
                    raise _Broken("the file ends inside a compressed variable")
                self.packed -= len(chunk)
            try:
                out += self.z.decompress(chunk, n - len(out))
            except zlib.error as err:
                raise _Broken(f"a compressed variable is corrupt (zlib: {err})") from None
        return bytes(out)

    def inner(self) -> None:
        """A compressed element holds one miMATRIX element: read its tag; its size bounds what follows."""
        self.left = 8
        t, n = _tag_pair(self.read(8), self.order)
        if t != _MI_MATRIX:
            raise _Broken(f"a compressed element holds data of type {t}, not a variable (miMATRIX)")
        if n > self.size * _ZLIB_RATIO + 4096:
            raise _Broken(f"a compressed element of {self.size:,} bytes claims to inflate to {n:,}, more than zlib can")
        self.left = n

    def readinto(self, view: memoryview) -> int:
        """Fill `view` (for `_read_into`); a short element raises `_Broken`."""
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)


def _tag_pair(raw: bytes, order: str) -> tuple[int, int]:
    first, second = struct.unpack(order + "II", raw)
    return first, second


def _sub(el: _Element) -> tuple[int, int, bytes | None]:
    """A sub-element's tag: (type, byte count, its data when packed into the tag as a small element)."""
    raw = el.read(8)
    first, second = _tag_pair(raw, el.order)
    if first >> 16:  # small data element: the byte count in the upper half, the data in the last 4 bytes
        t, n = first & 0xFFFF, first >> 16
        if n > 4:
            raise _Broken(f"a small data element claims {n} bytes (at most 4 fit)")
        return t, n, raw[4 : 4 + n]
    return first, second, None


def _sub_data(el: _Element, n: int, small: bytes | None) -> bytes:
    if small is not None:
        return small
    data = el.read(n)
    el.read((-n) % 8)  # padding to 8 bytes
    return data


class _Var:
    """A variable's header: name, class, dimensions."""

    def __init__(self, name: str, cls: int, complex_: bool, dims: tuple[int, ...]):
        self.name, self.cls, self.complex, self.dims = name, cls, complex_, dims

    @property
    def kind(self) -> str:
        return ("complex " if self.complex else "") + _CLASSES.get(self.cls, f"class {self.cls}")

    @property
    def shape(self) -> str:
        return "x".join(map(str, self.dims))


def _header(el: _Element) -> _Var:
    t, n, small = _sub(el)
    if t != _MI_UINT32 or n != 8:
        raise _Broken("a variable's array flags are malformed")
    flags = struct.unpack(el.order + "I", _sub_data(el, n, small)[:4])[0]
    t, n, small = _sub(el)
    if t != _MI_INT32 or n % 4 or n < 8:
        raise _Broken("a variable's dimensions are malformed")
    dims = struct.unpack(el.order + f"{n // 4}i", _sub_data(el, n, small))
    if any(d < 0 for d in dims):
        raise _Broken(f"a variable has negative dimensions {dims}")
    t, n, small = _sub(el)
    if t not in (1, 2, 16):  # miINT8 (what MATLAB writes), miUINT8, miUTF8
        raise _Broken("a variable's name is malformed")
    name = _sub_data(el, n, small).decode("utf-8", "replace")
    return _Var(name, flags & 0xFF, bool(flags & 0x0800), dims)


def _values(el: _Element, var: _Var, path: Path) -> np.ndarray:
    """A numeric variable's real part as an array of its dimensions (MATLAB's column-major order)."""
    t, n, small = _sub(el)
    code = _MI_DTYPES.get(t)
    if code is None:
        raise _Broken(f"'{var.name}' holds data of type {t}, not numbers")
    dtype = np.dtype(el.order + code)
    count = math.prod(var.dims)
    if n > el.left:
        raise _Broken(f"'{var.name}' claims {n:,} bytes but its element holds only {el.left:,} more")
    if n != count * dtype.itemsize:
        raise _Broken(f"'{var.name}' ({var.shape}) holds {n:,} bytes of {dtype.name}, not {count * dtype.itemsize:,}")
    _check_memory(n, path, f"'{var.name}' ({var.shape})")
    if small is not None:
        out = np.frombuffer(small, dtype).copy()
    else:
        out = np.empty(count, dtype)
        _read_into(el, out, path, f"'{var.name}'")
    return out.astype(dtype.newbyteorder("="), copy=False).reshape(var.dims, order="F")


def read_mat(path: Path, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The numeric variables `names` of a MAT-file (v5), as arrays of their dimensions; DataError
    (naming the file) for anything else: another format, a truncated or corrupt file, a variable that
    is not a real numeric array, or one larger than this machine's memory."""
    with _open_file(path, "a .mat file") as f:
        try:
            return _read_mat(f, path, names)
        except _Broken as err:
            raise DataError(f"'{path}' is corrupt or truncated: {err}", file=str(path)) from None
        except MemoryError:
            raise DataError(f"'{path}' is too large to load into memory (or corrupt)", file=str(path)) from None


def _read_mat(f: BinaryIO, path: Path, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    size = os.fstat(f.fileno()).st_size
    head = f.read(128)
    if not head.startswith(b"MATLAB"):
        raise DataError(
            f"'{path}' is not a MATLAB .mat file (it does not start with a MAT-file header)", file=str(path)
        )
    if len(head) < 128:
        raise DataError(f"'{path}' is truncated: its 128-byte MAT-file header has only {len(head)}", file=str(path))
    order = {b"IM": "<", b"MI": ">"}.get(head[126:128])
    version = struct.unpack((order or "<") + "H", head[124:126])[0]
    if b"7.3" in head[:20] or version == 0x0200:
        raise DataError(
            f"'{path}' is a MATLAB v7.3 (HDF5) file; netc reads MAT-files of version 5 (what SVHN ships)",
            file=str(path),
            hint="save it again with MATLAB's save(..., '-v7') or scipy.io.savemat",
        )
    if order is None or version != 0x0100:
        raise DataError(f"'{path}' is not a MAT-file of version 5 (its header is malformed)", file=str(path))
    found: dict[str, np.ndarray] = {}
    pos = 128
    while pos < size:
        if size - pos < 8:
            raise _Broken(f"{size - pos} stray bytes at its end")
        f.seek(pos)
        t, n = _tag_pair(f.read(8), order)
        start = pos + 8
        if n > size - start:
            raise _Broken(f"an element at byte {pos:,} claims {n:,} bytes but only {size - start:,} follow")
        pos = start + n + (0 if t == _MI_COMPRESSED else (-n) % 8)
        if t not in (_MI_MATRIX, _MI_COMPRESSED) or n == 0:
            continue  # not a variable (or an empty one): skipped unread
        el = _Element(f, start, n, t == _MI_COMPRESSED, order)
        if el.compressed:
            el.inner()
        var = _header(el)
        if var.name not in names:
            continue
        if var.name in found:
            raise DataError(f"'{path}' holds the variable '{var.name}' twice", file=str(path))
        if var.complex or not 6 <= var.cls <= 15:
            raise DataError(
                f"'{path}': '{var.name}' is a {var.kind} array ({var.shape}), not real numbers", file=str(path)
            )
        found[var.name] = _values(el, var, path)
    missing = [n for n in names if n not in found]
    if missing:
        raise DataError(
            f"'{path}' has no variable {' or '.join(repr(n) for n in missing)}"
            + (f" (it has {', '.join(repr(n) for n in _listed(f, order, size))})" if size > 128 else " (it is empty)"),
            file=str(path),
        )
    return found


def _listed(f: BinaryIO, order: str, size: int) -> list[str]:
    """The names of a (readable) file's variables, for a message."""
    out: list[str] = []
    pos = 128
    try:
        while pos + 8 <= size and len(out) < 20:
            f.seek(pos)
            t, n = _tag_pair(f.read(8), order)
            start = pos + 8
            pos = start + n + (0 if t == _MI_COMPRESSED else (-n) % 8)
            if t in (_MI_MATRIX, _MI_COMPRESSED) and n and n <= size - start:
                el = _Element(f, start, n, t == _MI_COMPRESSED, order)
                if el.compressed:
                    el.inner()
                out.append(_header(el).name)
    except (_Broken, struct.error):
        pass
    return out


# ----------------------------------------------------------------------------- the SVHN layout


def _split(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One SVHN file: (N, 3, H, W) uint8 images and labels 0..9 (the file's 10 is the digit 0)."""
    v = read_mat(path, ("X", "y"))
    x, y, f = v["X"], v["y"], str(path)
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[2] != 3:
        raise DataError(
            f"'{path}': 'X' must be H x W x 3 x N uint8 images (SVHN's layout), not {x.dtype} "
            f"{'x'.join(map(str, x.shape))}",
            file=f,
        )
    n = x.shape[3]
    if y.size != n or (y.ndim == 2 and 1 not in y.shape) or y.ndim > 2:
        raise DataError(
            f"'{path}' has {n} images in 'X' but 'y' is {'x'.join(map(str, y.shape))}; it needs N x 1 labels",
            file=f,
        )
    y = y.reshape(-1)
    if y.dtype.kind == "f":
        bad = ~np.isfinite(y) | (y != np.round(y))
        if bad.any():
            raise DataError(f"'{path}': 'y' holds {y[bad][0]!r}, not a whole-number label", file=f)
    if n and (y.min() < 0 or y.max() > 10):
        bad_label = y.min() if y.min() < 0 else y.max()
        raise DataError(
            f"'{path}': 'y' holds the label {int(bad_label)}; SVHN's labels are 1..10 (10 is the digit 0)", file=f
        )
    labels = y.astype(np.int64)
    labels[labels == 10] = 0  # as torchvision does: class d is the digit d
    return np.ascontiguousarray(x.transpose(3, 2, 0, 1)), labels


def _load_svhn(folder: Path) -> Dataset:
    """torchvision's SVHN layout: `train_32x32.mat` and `test_32x32.mat` in one folder ('extra' is not read)."""
    paths = {split: folder / name for split, name in SVHN_FILES.items()}
    for p in paths.values():
        if not _is_file(p):
            raise DataError(
                f"'{folder}' has no '{p.name}'; an SVHN copy has train_32x32.mat and test_32x32.mat",
                file=str(p),
                hint=USAGE,
            )
    x, y = _split(paths["train"])
    tx, ty = _split(paths["test"])
    official = all(_md5(p) == SVHN_MD5[p.name] for p in paths.values())
    return Dataset(
        x,
        y,
        tx,
        ty,
        list(SVHN_CLASSES),
        str(folder),
        "svhn-mat",
        official,
        None
        if official
        else f"note: '{folder}' is not the official SVHN release (checksums differ); using it as given",
    )
