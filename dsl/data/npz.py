""".npz files, read by netc's own zip/.npy reader (never np.load: no pickle fallback), plain or of encoded images."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np

from dsl.data.dataset import MODES, Dataset, class_names, images_array, labels_array
from dsl.data.images import decode_all
from dsl.data.paths import exc_text, memory_bytes, open_file, refuse, size_text
from dsl.errors import DataError

_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)
_ENCODED = ("train_jpeg", "train_offsets", "test_jpeg", "test_offsets")
_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


class _Npz:
    """An .npz read member by member with zipfile and numpy's .npy header reader, never np.load (which falls
    back to unpickling a non-zip file); every way a file can be wrong is told apart by an explicit check."""

    def __init__(self, path: Path):
        self.path, self.file = path, open_file(path, "an .npz file")
        try:
            head = self.file.read(8)
            if not head:
                raise refuse(path, "is empty (0 bytes), not an .npz (zip) archive")
            if head[:2] != b"PK":
                npy, pickled = head.startswith(b"\x93NUMPY"), head[:1] == b"\x80"
                what = "a single .npy array; save the arrays with np.savez" if npy else "a pickle" if pickled else None
                looks = f" (it looks like {what})" if what else ""
                hint = "an .npz is what np.savez writes: a zip of .npy arrays"
                raise refuse(path, f"is not an .npz (zip) archive{looks}", hint)
            self.file.seek(0)
            self.zip = zipfile.ZipFile(self.file)
        except Exception as err:  # noqa: BLE001  (zipfile fails on hostile bytes in many ways: all mean broken)
            self.file.close()
            if isinstance(err, DataError):
                raise
            raise refuse(path, f"is a truncated or corrupt zip archive ({exc_text(err)})") from None
        self.members = {i.filename[:-4]: i for i in self.zip.infolist() if i.filename.endswith(".npy")}

    def __enter__(self) -> _Npz:
        return self

    def __exit__(self, *exc: object) -> None:
        self.zip.close()
        self.file.close()

    def array(self, key: str) -> np.ndarray:
        """Member `key`; object arrays, damaged members and arrays larger than memory are refused unread."""
        info, path = self.members[key], self.path
        name = f"member '{info.filename}'"
        if info.flag_bits & 0x1:
            raise refuse(path, f"has an encrypted {name}; netc reads only plain .npz files")
        if info.compress_type not in _ZIP_METHODS:
            method = f"zip compression method {info.compress_type}, which netc cannot unpack"
            raise refuse(path, f"has a {name} packed with {method} (np.savez and np.savez_compressed use 0 and 8)")
        try:
            with self.zip.open(info) as f:
                version = np.lib.format.read_magic(f)
                read = _HEADERS.get(version)
                if read is None:
                    unread = f".npy format version {version[0]}.{version[1]}, which netc does not read"
                    raise refuse(path, f"has a {name} in {unread}")
                shape, fortran, dtype = read(f)
                if dtype.hasobject:
                    objects = f"stores Python objects (in {name}); netc reads only plain numeric arrays"
                    raise refuse(path, objects, "save numeric arrays (e.g. uint8 images, int64 labels) with np.savez")
                nbytes, held = math.prod(shape) * dtype.itemsize, info.file_size - f.tell()
                if nbytes != held:  # checked before allocating: a lying header must not size the allocation
                    promise = f"its header promises {nbytes:,} bytes of data but it holds {held:,}"
                    raise refuse(path, f"has a corrupt or truncated {name}: {promise}")
                limit = memory_bytes()
                if limit is not None and nbytes > limit:
                    memory = f"more than this machine's {size_text(limit)} of memory"
                    raise refuse(path, f"has a {name} of {size_text(nbytes)} unpacked, {memory}")
                out, pos = np.empty(math.prod(shape), dtype=dtype), 0
                view = out.view(np.uint8).data
                while pos < nbytes:  # in 16 MB pieces; zipfile checks the CRC as the last bytes come in
                    chunk = f.read(min(16 << 20, nbytes - pos))
                    if not chunk:
                        raise refuse(path, f"is truncated: {name} ends after {pos:,} of the {nbytes:,} bytes it needs")
                    view[pos : pos + len(chunk)], pos = chunk, pos + len(chunk)
                return out.reshape(shape, order="F" if fortran else "C")
        except DataError:
            raise
        except MemoryError:
            raise refuse(path, f"has a {name} too large to load into memory") from None
        except Exception as err:  # noqa: BLE001  (zipfile, zlib and numpy on hostile bytes: all mean corrupt)
            raise refuse(path, f"has a corrupt or truncated {name} ({exc_text(err)})") from None


def load_npz(path: Path, channels: int = 3) -> Dataset:
    """An .npz of `train_x`, `train_y`, `test_x`, `test_y` (or of encoded images), checked member by member."""
    with _Npz(path) as z:
        classes = class_names(z.array("classes"), path, "classes") if "classes" in z.members else []
        if any(k in z.members for k in _ENCODED):
            return _load_encoded(path, z, channels, classes)
        missing = ", ".join(k for k in ("train_x", "train_y", "test_x", "test_y") if k not in z.members)
        if missing:
            need = "an .npz needs train_x, train_y, test_x, test_y"
            raise refuse(path, f"lacks {missing} (it has {', '.join(z.members) or 'nothing'})", need)
        out = []
        for split in ("train", "test"):
            x = images_array(z.array(f"{split}_x"), path, f"{split}_x", channels)
            y = labels_array(z.array(f"{split}_y"), path, f"{split}_y")
            if len(y) != len(x):
                raise refuse(path, f"has {len(x)} {split} images but {len(y)} labels in {split}_y; {_ONE}")
            out.append((x, y))
    note = f"note: '{path}' is not the official CIFAR-10 release; using it as given"
    return Dataset(*out[0], *out[1], classes, str(path), "npz", False, note)


_ONE = "it needs one label per image"


def _load_encoded(path: Path, z: _Npz, channels: int, classes: list[str]) -> Dataset:
    """Encoded images (`{split}_jpeg` bytes cut at `{split}_offsets`, `{split}_y`): checked, then decoded."""
    missing = ", ".join(k for k in (*_ENCODED, "train_y", "test_y") if k not in z.members)
    if missing:
        need = "an encoded-image .npz needs {split}_jpeg, {split}_offsets and {split}_y for train and test"
        raise refuse(path, f"lacks {missing}", need)
    out = []
    for split in ("train", "test"):
        data, offs, where = z.array(f"{split}_jpeg"), z.array(f"{split}_offsets"), f": {split}_offsets"
        if data.dtype != np.uint8 or data.ndim != 1:
            raise refuse(path, f": {split}_jpeg must be a 1-D uint8 array of bytes, not {data.dtype} {data.shape}")
        if offs.dtype.kind not in "iu":
            raise refuse(path, f"{where} must hold integer byte positions, not {offs.dtype}")
        if offs.ndim != 1 or len(offs) == 0:
            raise refuse(path, f"{where} must be a 1-D array of N+1 byte positions, not shape {offs.shape}")
        pos, n = offs.tolist(), len(offs) - 1  # Python ints: exact for any integer dtype
        if pos[0] < 0:
            raise refuse(path, f"{where} starts at {pos[0]}; byte positions must be >= 0")
        down = next((i for i in range(n) if pos[i + 1] < pos[i]), None)
        if down is not None:
            went = f"goes down from {pos[down]} to {pos[down + 1]} at index {down + 1}"
            raise refuse(path, f"{where} {went}; byte positions must not decrease")
        if pos[-1] > len(data):
            raise refuse(path, f"{where} ends at {pos[-1]} but {split}_jpeg holds only {len(data)} bytes")
        empty = next((i for i in range(n) if pos[i + 1] == pos[i]), None)
        if empty is not None:
            both = f"{split}_offsets[{empty}] and [{empty + 1}] are both {pos[empty]}"
            raise refuse(path, f": {split} image {empty} is empty: {both}")
        y = labels_array(z.array(f"{split}_y"), path, f"{split}_y")
        if len(y) != n:
            raise refuse(path, f"has {n} {split} images ({split}_offsets) but {len(y)} labels in {split}_y; {_ONE}")
        blobs = [data[pos[i] : pos[i + 1]].tobytes() for i in range(n)]
        names = [f"{split} image {i}" for i in range(n)]
        out.append((decode_all(blobs, MODES.get(channels, "RGB"), names, [str(path)] * n, f"'{path}': "), y))
    note = f"note: '{path}' holds encoded (e.g. JPEG) images, not the official CIFAR-10 release; decoded as given"
    return Dataset(*out[0], *out[1], classes, str(path), "npz-encoded", False, note)
