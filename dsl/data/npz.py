""".npz files, read by netc's own zip/.npy reader (never np.load: no pickle fallback), plain or of encoded images."""

from __future__ import annotations

import functools
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from dsl.data.dataset import _MODES, Dataset, _class_names, _images, _labels, _memory_bytes, _size
from dsl.data.images import _decode_all, _exc, _nth
from dsl.data.paths import _open_file
from dsl.errors import DataError

_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)


class _Npz:
    """An .npz read member by member with zipfile and numpy's .npy header reader (never np.load,
    which falls back to unpickling a non-zip file and returns raw bytes for a non-.npy member).
    Every way a file can be wrong is told apart by an explicit check, not by exception text."""

    def __init__(self, path: Path):
        self.path = path
        self.file = _open_file(path, "an .npz file")
        try:
            self.zip = self._open_zip()
        except BaseException:
            self.file.close()
            raise
        self.members = {i.filename[:-4]: i for i in self.zip.infolist() if i.filename.endswith(".npy")}

    def __enter__(self) -> _Npz:
        return self

    def __exit__(self, *exc: object) -> None:
        self.zip.close()
        self.file.close()

    @property
    def files(self) -> list[str]:
        """The array names, as np.load lists them."""
        return list(self.members)

    def _error(self, message: str, hint: str | None = None) -> DataError:
        return DataError(f"'{self.path}' {message}", file=str(self.path), hint=hint)

    def _open_zip(self) -> zipfile.ZipFile:
        head = self.file.read(8)
        if not head:
            raise self._error("is empty (0 bytes), not an .npz (zip) archive")
        if head[:2] != b"PK":
            what = (
                "a single .npy array; save the arrays with np.savez"
                if head.startswith(b"\x93NUMPY")
                else "a pickle"
                if head[:1] == b"\x80"
                else None
            )
            raise self._error(
                "is not an .npz (zip) archive" + (f" (it looks like {what})" if what else ""),
                hint="an .npz is what np.savez writes: a zip of .npy arrays",
            )
        self.file.seek(0)
        try:
            return zipfile.ZipFile(self.file)
        except MemoryError:
            raise self._error("is too large to open (or its zip directory is corrupt)") from None
        # zipfile fails on hostile bytes in many ways: all mean a broken archive
        except Exception as err:  # noqa: BLE001
            raise self._error(f"is a truncated or corrupt zip archive ({_exc(err)})") from None

    def array(self, key: str) -> np.ndarray:
        """Member `key` as an array: object arrays, truncated or corrupt members and arrays larger
        than this machine's memory are refused (DataError) before their data is read."""
        info = self.members[key]
        name = f"member '{info.filename}'"
        if info.flag_bits & 0x1:
            raise self._error(f"has an encrypted {name}; netc reads only plain .npz files")
        if info.compress_type not in _ZIP_METHODS:
            raise self._error(
                f"has a {name} packed with zip compression method {info.compress_type}, which netc "
                "cannot unpack (np.savez and np.savez_compressed use 0 and 8)"
            )
        try:
            with self.zip.open(info) as f:
                version = np.lib.format.read_magic(f)
                header = None
                if version == (1, 0):
                    header = np.lib.format.read_array_header_1_0(f)
                elif version == (2, 0):
                    header = np.lib.format.read_array_header_2_0(f)
                start = f.tell()
                if header is not None:
                    shape, fortran, dtype = header
                    if not dtype.hasobject and all(d >= 0 for d in shape):
                        return self._read_data(f, info, name, shape, fortran, dtype, start)
        except DataError:
            raise
        except MemoryError:
            raise self._error(f"has a {name} too large to load into memory") from None
        # zipfile, zlib and numpy's header parser on hostile bytes: all mean corrupt
        except Exception as err:  # noqa: BLE001
            raise self._error(f"has a corrupt or truncated {name} ({_exc(err)})") from None
        if header is None:
            raise self._error(
                f"has a {name} in .npy format version {version[0]}.{version[1]}, which netc does not read"
            )
        if dtype.hasobject:
            raise self._error(
                f"stores Python objects (in {name}); netc reads only plain numeric arrays",
                hint="save numeric arrays (e.g. uint8 images, int64 labels) with np.savez",
            )
        raise self._error(f"has a corrupt {name} (negative shape {shape})")

    def _read_data(
        self,
        f: Any,
        info: zipfile.ZipInfo,
        name: str,
        shape: tuple[int, ...],
        fortran: bool,
        dtype: np.dtype,
        start: int,
    ) -> np.ndarray:
        count = math.prod(shape)
        nbytes = count * dtype.itemsize
        held = info.file_size - start
        if nbytes != held:  # checked before allocating: a lying header must not size the allocation
            raise self._error(
                f"has a corrupt or truncated {name}: its header promises {nbytes:,} bytes of data but it holds {held:,}"
            )
        limit = _memory_bytes()
        if limit is not None and nbytes > limit:
            raise self._error(
                f"has a {name} of {_size(nbytes)} unpacked, more than this machine's {_size(limit)} of memory"
            )
        out = np.empty(count, dtype=dtype)
        if nbytes:
            view = out.reshape(-1).view(np.uint8).data
            pos = 0
            while pos < nbytes:  # zipfile checks the CRC as the last bytes come in
                n = f.readinto(view[pos : pos + (16 << 20)])
                if not n:
                    raise self._error(f"has a truncated {name}: it ends after {pos:,} of {nbytes:,} bytes")
                pos += n
        return out.reshape(shape, order="F" if fortran else "C")


_ENCODED = ("train_jpeg", "train_offsets", "test_jpeg", "test_offsets")

_PLAIN = ("train_x", "train_y", "test_x", "test_y")


def _load_npz(path: Path, channels: int = 3) -> Dataset:
    with _Npz(path) as z:
        if any(k in z.members for k in _ENCODED):
            return _load_encoded_npz(path, z, channels)
        missing = [k for k in _PLAIN if k not in z.members]
        if missing:
            raise DataError(
                f"'{path}' lacks {', '.join(missing)} (it has {', '.join(z.files) or 'nothing'})",
                file=str(path),
                hint="an .npz needs train_x, train_y, test_x, test_y",
            )
        f, xs, ys = str(path), {}, {}
        for split in ("train", "test"):
            xs[split] = _images(z.array(f"{split}_x"), f"'{path}': {split}_x", f, channels)
            ys[split] = _labels(z.array(f"{split}_y"), f"'{path}': {split}_y", f)
            if len(ys[split]) != len(xs[split]):
                raise DataError(
                    f"'{path}' has {len(xs[split])} {split} images but {len(ys[split])} labels in "
                    f"{split}_y; it needs one label per image",
                    file=f,
                )
        classes = _class_names(z.array("classes"), f"'{path}': classes", f) if "classes" in z.members else []
    return Dataset(
        xs["train"],
        ys["train"],
        xs["test"],
        ys["test"],
        classes,
        str(path),
        "npz",
        False,
        f"note: '{path}' is not the official CIFAR-10 release; using it as given",
    )


def _load_encoded_npz(path: Path, z: _Npz, channels: int) -> Dataset:
    """An .npz of encoded images (`{split}_jpeg` bytes cut at `{split}_offsets`, `{split}_y`), such
    as the JPEG copy of CIFAR-10: checked, then decoded with Pillow, in threads."""
    f = str(path)
    missing = [k for k in (*_ENCODED, "train_y", "test_y") if k not in z.members]
    if missing:
        raise DataError(
            f"'{path}' lacks {', '.join(missing)}",
            file=f,
            hint="an encoded-image .npz needs {split}_jpeg, {split}_offsets and {split}_y for train and test",
        )
    mode = _MODES.get(channels, "RGB")
    out = {}
    for split in ("train", "test"):
        data, offs = z.array(f"{split}_jpeg"), z.array(f"{split}_offsets")
        where = f"'{path}': {split}_offsets"
        if data.dtype != np.uint8 or data.ndim != 1:
            raise DataError(
                f"'{path}': {split}_jpeg must be a 1-D uint8 array of bytes, not {data.dtype} {data.shape}", file=f
            )
        if offs.dtype.kind not in "iu":
            raise DataError(f"{where} must hold integer byte positions, not {offs.dtype}", file=f)
        if offs.ndim != 1 or len(offs) == 0:
            raise DataError(f"{where} must be a 1-D array of N+1 byte positions, not shape {offs.shape}", file=f)
        if offs[0] < 0:
            raise DataError(f"{where} starts at {int(offs[0])}; byte positions must be >= 0", file=f)
        down = np.flatnonzero(offs[1:] < offs[:-1])
        if len(down):
            i = int(down[0])
            raise DataError(
                f"{where} goes down from {int(offs[i])} to {int(offs[i + 1])} at index {i + 1}; "
                "byte positions must not decrease",
                file=f,
            )
        if offs[-1] > len(data):
            raise DataError(f"{where} ends at {int(offs[-1])} but {split}_jpeg holds only {len(data)} bytes", file=f)
        empty = np.flatnonzero(offs[1:] == offs[:-1])
        if len(empty):
            i = int(empty[0])
            raise DataError(
                f"'{path}': {split} image {i} is empty: {split}_offsets[{i}] and [{i + 1}] are both {int(offs[i])}",
                file=f,
            )
        y = _labels(z.array(f"{split}_y"), f"'{path}': {split}_y", f)
        n = len(offs) - 1
        if len(y) != n:
            raise DataError(
                f"'{path}' has {n} {split} images ({split}_offsets) but {len(y)} labels in {split}_y; "
                "it needs one label per image",
                file=f,
            )
        pos = offs.tolist()  # Python ints: exact for any integer dtype
        blobs = [data[pos[i] : pos[i + 1]].tobytes() for i in range(n)]
        out[split] = (
            _decode_all(blobs, mode, functools.partial(_nth, f"{split} image"), lambda i: f, f"'{path}': "),
            y,
        )
    classes = _class_names(z.array("classes"), f"'{path}': classes", f) if "classes" in z.members else []
    return Dataset(
        *out["train"],
        *out["test"],
        classes,
        str(path),
        "npz-encoded",
        False,
        f"note: '{path}' holds encoded (e.g. JPEG) images, not the official CIFAR-10 release; decoded as given",
    )
