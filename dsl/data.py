"""Training data for `netc train`: one function, `load_dataset`, three on-disk layouts.

    ds = load_dataset(None)                  # CIFAR-10, downloaded once into $NETC_DATA or ~/.cache/netc
    ds = load_dataset("path/to/DIR_or.npz")  # torchvision pickles, image folders, or an .npz

`Dataset` holds uint8 NCHW numpy arrays and int64 labels; nothing here imports torch
(only the download path uses torchvision's downloader). Layouts accepted by `--data`:

* torchvision's CIFAR layout: `cifar-10-batches-py/` (or a folder holding it) with
  `data_batch_1..5`, `test_batch` and optionally `batches.meta`. The pickles are read with
  `SafeUnpickler`, which builds only plain containers, numbers, strings, bytes and numeric
  numpy arrays: a data file can never run code.
* an image folder: `train/<class>/*.png|jpg|...` and `test/<class>/...` (ImageFolder's layout;
  classes are the sorted folder names of `train/`).
* an `.npz` (or a folder holding exactly one) with `train_x`, `train_y`, `test_x`, `test_y`;
  images uint8, NHWC or NCHW; or with encoded images `{split}_jpeg` + `{split}_offsets` +
  `{split}_y` (the layout of `shared/data/cifar10_jpeg.npz`, the JPEG copy), decoded on load.

Anything but the official CIFAR-10 pickles is accepted with a one-line notice (`Dataset.notice`).
Every problem with the data raises `DataError` naming the file, and nothing is read before
`stat` says it is a regular file or a folder (a device, FIFO or socket is refused unopened).
Labels are integers in [0, 2**31); images are non-empty uint8 arrays of one size per dataset.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import os
import pickle
import stat
import warnings
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .errors import DataError
from .fileio import describe_os_error

CIFAR_DIR = "cifar-10-batches-py"
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
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".gif", ".webp", ".tif", ".tiff"}
USAGE = (
    "pass --data pointing at a CIFAR-10 copy: a cifar-10-batches-py/ folder, an image folder "
    "(train/<class>/*.png, test/<class>/...) or an .npz with train_x, train_y, test_x, test_y"
)
LABEL_LIMIT = 2**31  # labels are class indices in [0, LABEL_LIMIT)
_MODES = {1: "L", 3: "RGB"}  # Pillow mode for a net's input channels


@dataclass
class Dataset:
    """A loaded dataset: uint8 NCHW images and int64 labels for the training and test sets."""

    train_x: np.ndarray  # (N, C, H, W) uint8
    train_y: np.ndarray  # (N,) int64
    test_x: np.ndarray  # (M, C, H, W) uint8
    test_y: np.ndarray  # (M,) int64
    classes: list[str] = field(default_factory=list)
    source: str = ""  # where it came from (a path)
    layout: str = ""  # "cifar-pickle", "imagefolder", "npz" or "npz-encoded"
    official: bool = False  # the official CIFAR-10 files, checksums verified
    notice: str | None = None  # one line for the user when not official

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image."""
        c, h, w = (int(v) for v in self.train_x.shape[1:])
        return c, h, w

    def describe(self) -> str:
        """One line: counts, image size, classes, layout and source."""
        c, h, w = self.image_shape
        return (
            f"{len(self.train_y)} train / {len(self.test_y)} test images, {c}x{h}x{w}, "
            f"{self.num_classes} classes ({self.layout}: {self.source})"
        )

    @property
    def num_classes(self) -> int:
        """The number of classes: the class names when the data names them, else max label + 1."""
        if self.classes:
            return len(self.classes)
        return int(max(self.train_y.max(initial=-1), self.test_y.max(initial=-1))) + 1

    def check_fits(self, graph: Any) -> None:
        """Refuse data a network cannot take: other image shape, more classes than outputs."""
        fmt = "x".join
        if tuple(self.image_shape) != tuple(graph.input_shape):
            raise DataError(
                f"the images are {fmt(map(str, self.image_shape))} but '{graph.name}' takes input "
                f"{fmt(map(str, graph.input_shape))}",
                file=self.source,
                hint="change the file's 'input' line or pass other --data",
            )
        if self.num_classes > graph.num_classes:
            raise DataError(
                f"the data has {self.num_classes} classes but '{graph.name}' has {graph.num_classes} outputs",
                file=self.source,
                hint=f"end the net with a linear({self.num_classes})",
            )


def default_root() -> Path:
    """The download/cache folder: $NETC_DATA, else ~/.cache/netc."""
    return Path(os.environ.get("NETC_DATA") or Path.home() / ".cache" / "netc")


def load_dataset(
    data: str | os.PathLike | None = None,
    *,
    limit: int | None = None,
    limit_test: int | None = None,
    channels: int = 3,
    download: bool = True,
) -> Dataset:
    """Load a dataset (see the module docstring); `limit`/`limit_test` keep N images, a fixed
    random subset in the original order (some copies are sorted by class, so the first N would not do)."""
    ds = _download_cifar(download) if data is None else _load_path(Path(data), channels)
    _check(ds)
    if limit is not None:
        ds.train_x, ds.train_y = _subset(ds.train_x, ds.train_y, limit)
    if limit_test is not None:
        ds.test_x, ds.test_y = _subset(ds.test_x, ds.test_y, limit_test)
    # the file has images (checked above), so an empty set here is what --limit made of it
    if len(ds.train_y) == 0:
        raise DataError(f"--limit {limit} leaves no training images (it must be at least 1)", file=ds.source)
    if len(ds.test_y) == 0:
        raise DataError(f"--limit-test {limit_test} leaves no test images (it must be at least 1)", file=ds.source)
    return ds


def _subset(x: np.ndarray, y: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    if n >= len(y):
        return x, y
    keep = np.sort(np.random.default_rng(0).permutation(len(y))[: max(n, 0)])
    return x[keep], y[keep]


# ----------------------------------------------------------------------------- files
def _stat(path: Path) -> os.stat_result | None:
    """`os.stat(path)` (links followed), None when nothing is there; DataError when it cannot be looked at."""
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as err:
        raise DataError(f"cannot read '{path}': {describe_os_error(err)}", file=str(path)) from None
    except ValueError:  # an embedded NUL byte in the path
        shown = str(path).replace("\0", "\\0")
        raise DataError(f"'{shown}' is not a valid path (it holds a NUL byte)", file=shown) from None


def _special(st: os.stat_result) -> str:
    """What a non-regular, non-folder file is, in words."""
    mode = st.st_mode
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _is_dir(path: Path) -> bool:
    st = _stat(path)
    return st is not None and stat.S_ISDIR(st.st_mode)


def _entries(folder: Path) -> list[Path]:
    """The sorted entries of a folder; DataError when it cannot be listed."""
    try:
        return sorted(folder.iterdir(), key=lambda p: p.name)
    except OSError as err:
        raise DataError(f"cannot list the folder '{folder}': {describe_os_error(err)}", file=str(folder)) from None


def _open_file(path: Path, what: str = "a data file") -> BinaryIO:
    """Open a regular file for reading; folders, devices, FIFOs and sockets are refused before a byte is read."""
    st = _stat(path)
    if st is None:
        raise DataError(f"'{path}' does not exist", file=str(path))
    if stat.S_ISDIR(st.st_mode):
        raise DataError(f"'{path}' is a folder, not {what}", file=str(path))
    if not stat.S_ISREG(st.st_mode):  # /dev/zero would never end, a FIFO would block: refuse unopened
        raise DataError(f"'{path}' is {_special(st)}, not {what}; netc reads only regular files", file=str(path))
    try:
        # O_NONBLOCK: if the path was swapped for a FIFO since the stat, opening it must not hang
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as err:
        raise DataError(f"cannot read '{path}': {describe_os_error(err)}", file=str(path)) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise DataError(f"'{path}' is {_special(st)}, not {what}; netc reads only regular files", file=str(path))
    return os.fdopen(fd, "rb")


def _memory_bytes() -> int | None:
    """This machine's physical memory, or None where it cannot be told."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _size(n: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


# ----------------------------------------------------------------------------- values
def _labels(values: object, where: str, file: str) -> np.ndarray:
    """(N,) int64 labels from an integer array or list, refusing floats, bools and values outside
    [0, 2**31) before any cast (a cast would show 2**63+5 as a negative number)."""
    if isinstance(values, np.ndarray):
        if values.dtype.kind not in "iu":  # "b" (bool) and "f" are refused: labels are class indices
            raise DataError(f"{where} must hold integer class labels, not {values.dtype}", file=file)
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim != 1:
            raise DataError(
                f"{where} must be a 1-D array of integer labels, one per image, not shape {values.shape}",
                file=file,
                hint="one-hot labels? store the class indices (labels.argmax(1))" if values.ndim == 2 else None,
            )
        if values.size:
            lo, hi = values.min(), values.max()
            if lo < 0 or hi >= LABEL_LIMIT:
                bad = int(lo) if lo < 0 else int(hi)
                raise DataError(
                    f"{where} holds the label {bad}; labels must be integers in [0, {LABEL_LIMIT})", file=file
                )
        return values.astype(np.int64)
    if isinstance(values, (list, tuple)):
        for v in values:
            if type(v) is not int:  # bool is an int subclass; True/False are not class labels
                raise DataError(
                    f"{where} must hold integer class labels, not {type(v).__name__} ({v!r:.40})", file=file
                )
        if values:
            lo, hi = min(values), max(values)
            if lo < 0 or hi >= LABEL_LIMIT:
                raise DataError(
                    f"{where} holds the label {lo if lo < 0 else hi}; labels must be integers in [0, {LABEL_LIMIT})",
                    file=file,
                )
        return np.array(values, dtype=np.int64).reshape(-1)
    raise DataError(f"{where} must be a list or array of integer labels, not {type(values).__name__}", file=file)


def _class_names(values: object, where: str, file: str) -> list[str]:
    """Class names from a list of str/bytes or a 1-D string array."""
    if isinstance(values, np.ndarray):
        if values.ndim != 1 or values.dtype.kind not in "US":
            raise DataError(
                f"{where} must be a 1-D array of class names (strings), not {values.dtype} {values.shape}", file=file
            )
        values = values.tolist()
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, (str, bytes)) for v in values):
        raise DataError(f"{where} must be a list of class names (strings)", file=file)
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in values]


def _images(x: np.ndarray, where: str, file: str, channels: int) -> np.ndarray:
    """(N, C, H, W) uint8 from uint8 images stored (N,H,W), (N,H,W,C) or (N,C,H,W)."""
    if x.dtype != np.uint8:
        hint = (
            "scale [0, 1] floats with (x * 255).round().astype(np.uint8)"
            if x.dtype.kind == "f"
            else "store the pixels as uint8 (0..255)"
        )
        raise DataError(f"{where} must be uint8 images (0..255), not {x.dtype}", file=file, hint=hint)
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4:
        last, second = x.shape[3], x.shape[1]
        # NHWC when the last axis is the channel axis: the net's channel count decides an ambiguous
        # shape such as (N, 4, 4, 3); otherwise a small last axis next to a large second one
        if (last == channels and second != channels) or (
            last in (1, 3, 4) and second not in (1, 3, 4) and second != channels
        ):
            x = x.transpose(0, 3, 1, 2)
    else:
        raise DataError(
            f"{where} must be images (N,H,W,C), (N,C,H,W) or (N,H,W), not a {x.ndim}-D array of shape {x.shape}",
            file=file,
            hint="reshape flat rows to (N,H,W,C)" if x.ndim == 2 else None,
        )
    if 0 in x.shape[1:]:
        raise DataError(f"{where} holds zero-size images (C,H,W = {x.shape[1:]})", file=file)
    return np.ascontiguousarray(x)


# ----------------------------------------------------------------------------- layouts
def check_data_path(path: str | os.PathLike[str]) -> None:
    """Refuse a --data path that cannot be data (missing, a device, a FIFO, not an .npz), without reading it."""
    p = Path(path)
    st = _stat(p)
    if st is None:
        raise DataError(f"data path '{p}' does not exist", file=str(p), hint=USAGE)
    if stat.S_ISREG(st.st_mode) and p.suffix.lower() != ".npz":
        raise DataError(f"'{p}' is not a data folder or an .npz file", file=str(p), hint=USAGE)
    if not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode):
        raise DataError(
            f"'{p}' is {_special(st)}, not a data file or folder; netc reads only regular files and folders",
            file=str(p),
            hint=USAGE,
        )


def _load_path(path: Path, channels: int) -> Dataset:
    check_data_path(path)
    if stat.S_ISREG(os.stat(path).st_mode):
        return _load_npz(path, channels)
    if _stat(path / "data_batch_1") is not None or _stat(path / "test_batch") is not None:
        return _load_cifar_pickles(path)
    if _is_dir(path / CIFAR_DIR):
        return _load_cifar_pickles(path / CIFAR_DIR)
    train, test = _is_dir(path / "train"), _is_dir(path / "test")
    if train and test:
        return _load_imagefolder(path, channels)
    npz = [p for p in _entries(path) if p.suffix.lower() == ".npz"]
    if len(npz) == 1:
        return _load_npz(npz[0], channels)
    if len(npz) > 1:
        raise DataError(
            f"'{path}' holds several .npz files ({', '.join(p.name for p in npz)}); pass the one to use", file=str(path)
        )
    if train or test:
        have, lack = ("train", "test") if train else ("test", "train")
        raise DataError(
            f"'{path}' has a {have}/ folder but no {lack}/ folder; an image folder needs both",
            file=str(path),
            hint=USAGE,
        )
    raise DataError(f"'{path}' holds no data in a layout netc reads", file=str(path), hint=USAGE)


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


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    d = read_pickle(path)
    f = str(path)
    if not isinstance(d, dict):
        raise DataError(
            f"'{path}' holds a {type(d).__name__}, not a CIFAR batch (a dict with 'data' and 'labels')", file=f
        )
    data, labels = _get(d, "data"), _get(d, "labels")
    if labels is None:
        labels = _get(d, "fine_labels")
    if data is None or labels is None:
        raise DataError(
            f"'{path}' has no '{'data' if data is None else 'labels'}' entry; a CIFAR batch is a dict "
            "with 'data' and 'labels'",
            file=f,
        )
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        got = f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"'{path}': 'data' must be a uint8 array of N x 3*H*W, not a {got}", file=f)
    side = math.isqrt(data.shape[1] // 3)
    if data.shape[1] == 0 or 3 * side * side != data.shape[1]:
        raise DataError(f"'{path}': rows of {data.shape[1]} bytes are not square 3-channel images", file=f)
    y = _labels(labels, f"'{path}': 'labels'", f)
    if len(y) != len(data):
        raise DataError(f"'{path}' has {len(data)} images but {len(y)} labels", file=f)
    return data.reshape(-1, 3, side, side), y


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with _open_file(path) as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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


# the zip compression methods Python's zipfile unpacks (stored, deflate, bzip2, lzma)
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


def _exc(err: BaseException) -> str:
    """'Type: message' for an exception from a parser, its module named when the type name says little."""
    kind = type(err).__name__
    return f"{type(err).__module__ + '.' if kind.islower() else ''}{kind}: {err}"


def _decode(blob: bytes | Path, mode: str, what: str, file: str) -> np.ndarray:
    """One image (bytes, or a regular file) decoded with Pillow into `mode`; `what` names it in messages."""
    from PIL import Image, UnidentifiedImageError

    try:
        with (
            _open_file(blob, "an image file") if isinstance(blob, Path) else io.BytesIO(blob) as f,
            Image.open(f) as im,
        ):
            return np.asarray(im.convert(mode))
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise DataError(f"{what} was refused as a possible decompression bomb ({err})", file=file) from None
    except UnidentifiedImageError:
        raise DataError(
            f"{what} does not decode as an image (not in any image format Pillow reads)", file=file
        ) from None
    except MemoryError:
        raise DataError(f"{what} is too large to decode into memory", file=file) from None
    # Pillow's decoders fail on hostile bytes in many ways: all mean "not an image"
    except Exception as err:  # noqa: BLE001
        raise DataError(f"{what} does not decode as an image ({_exc(err)})", file=file) from None


def _decode_all(
    items: list[bytes] | list[Path], mode: str, name: Callable[[int], str], file: Callable[[int], str], prefix: str = ""
) -> np.ndarray:
    """Decode images in threads into one (N, C, H, W) array; messages say `prefix` + `name(i)` and
    name the file `file(i)`. Images of different sizes are refused."""
    from PIL import Image

    with warnings.catch_warnings():
        # Pillow only warns between its pixel limit and twice that; a data file that large is refused too
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        pool = ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1))
        try:
            images = list(pool.map(lambda i: _decode(items[i], mode, prefix + name(i), file(i)), range(len(items))))
        finally:  # on the first bad image, skip decoding the rest of a large set
            pool.shutdown(wait=True, cancel_futures=True)
    if not images:
        return np.zeros((0, len(mode), 1, 1), np.uint8)  # no images: the caller's checks say so
    first = images[0].shape
    for i, im in enumerate(images):
        if im.shape != first:
            raise DataError(
                f"{prefix}{name(i)} is {im.shape[1]}x{im.shape[0]} but {name(0)} is "
                f"{first[1]}x{first[0]}; all images must have one size",
                file=file(i),
            )
    x = np.stack(images)
    return np.ascontiguousarray(x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2))


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


def _load_imagefolder(root: Path, channels: int) -> Dataset:
    mode = _MODES.get(channels)
    if mode is None:
        raise DataError(f"image folders can feed 1- or 3-channel nets, not {channels}", file=str(root))
    classes = [d.name for d in _entries(root / "train") if _is_dir(d)]
    if not classes:
        raise DataError(f"'{root / 'train'}' has no class folders", file=str(root / "train"), hint=USAGE)
    index = {c: i for i, c in enumerate(classes)}
    out = {}
    for split in ("train", "test"):
        files, labels = [], []
        for d in (p for p in _entries(root / split) if _is_dir(p)):
            if d.name not in index:
                raise DataError(
                    f"test class folder '{d}' has no training counterpart (train/ has {', '.join(classes)})",
                    file=str(d),
                )
            imgs = [p for p in _entries(d) if p.suffix.lower() in IMAGE_EXTS]
            if not imgs:
                raise DataError(
                    f"class folder '{d}' holds no images ({', '.join(sorted(IMAGE_EXTS))})",
                    file=str(d),
                    hint="add images or remove the empty folder",
                )
            files += imgs
            labels += [index[d.name]] * len(imgs)
        if not files:
            raise DataError(f"'{root / split}' holds no images", file=str(root / split), hint=USAGE)
        x = _decode_all(files, mode, functools.partial(_quoted, files), functools.partial(_str_at, files))
        out[split] = (x, np.asarray(labels, dtype=np.int64))
    return Dataset(
        *out["train"],
        *out["test"],
        classes,
        str(root),
        "imagefolder",
        False,
        f"note: '{root}' is an image folder, not the official CIFAR-10 release; using it as given",
    )


def _nth(what: str, i: int) -> str:
    return f"{what} {i}"


def _quoted(files: list[Path], i: int) -> str:
    return f"'{files[i]}'"


def _str_at(files: list[Path], i: int) -> str:
    return str(files[i])


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


def _shape(s: tuple[int, ...]) -> str:
    return "x".join(map(str, s))


def _check(ds: Dataset) -> None:
    """Checks every layout shares: images in both sets, one image size, labels within the class names."""
    for name, y in (("training", ds.train_y), ("test", ds.test_y)):
        if len(y) == 0:
            raise DataError(f"'{ds.source}' has no {name} images", file=ds.source, hint=USAGE)
    if ds.train_x.shape[1:] != ds.test_x.shape[1:]:
        raise DataError(
            f"the training images are {_shape(ds.train_x.shape[1:])} but the test images are "
            f"{_shape(ds.test_x.shape[1:])} (channels x height x width); both need one size",
            file=ds.source,
        )
    top = int(max(ds.train_y.max(), ds.test_y.max()))
    if ds.classes and top >= len(ds.classes):
        raise DataError(
            f"the labels go up to {top} but the data names only {len(ds.classes)} classes "
            f"({', '.join(ds.classes[:10])}{', ...' if len(ds.classes) > 10 else ''}), "
            f"so labels must be 0..{len(ds.classes) - 1}",
            file=ds.source,
            hint="labels are 0-based indices into the class names",
        )
