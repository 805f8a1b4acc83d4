"""Looking at a --data path before reading it (regular files and folders only, never a device or FIFO),
and bounded reads of regular files."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from dsl.data.dataset import USAGE, _memory_bytes, _size
from dsl.errors import DataError, did_you_mean
from dsl.fileio import describe_os_error


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


def check_data_path(path: str | os.PathLike[str]) -> None:
    """Refuse a --data path that cannot be data (missing, a device, a FIFO, not an .npz), without reading
    it; a dataset's name (`cifar100`, see `dsl.data.named`) is accepted."""
    from dsl.data.named import NAMED, named

    if named(path) is not None:  # a dataset's name (cifar100, svhn, ...): found or downloaded when loaded
        return
    p = Path(path)
    st = _stat(p)
    if st is None:
        if "/" in str(path) or os.sep in str(path):
            raise DataError(f"data path '{p}' does not exist", file=str(p), hint=USAGE)
        close = did_you_mean(str(path).lower(), [n.name for n in NAMED])
        raise DataError(
            f"'{p}' is neither a dataset name ({', '.join(n.name for n in NAMED)}) nor a file or folder that exists",
            file=str(p),
            hint=(f"{close} " if close else "") + USAGE,
        )
    if stat.S_ISREG(st.st_mode) and p.suffix.lower() != ".npz":
        raise DataError(f"'{p}' is not a data folder or an .npz file", file=str(p), hint=USAGE)
    if not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode):
        raise DataError(
            f"'{p}' is {_special(st)}, not a data file or folder; netc reads only regular files and folders",
            file=str(p),
            hint=USAGE,
        )


def _md5(path: Path) -> str:
    """The md5 of a regular file, read in 1 MB pieces."""
    h = hashlib.md5()
    with _open_file(path) as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _is_file(path: Path) -> bool:
    """A regular file (links followed) is there."""
    st = _stat(path)
    return st is not None and stat.S_ISREG(st.st_mode)


def _read_into(f: Any, out: np.ndarray, path: Path, what: str) -> None:
    """Fill `out` (a contiguous array) with exactly its size in bytes from `f` (anything with `readinto`:
    a file, a GzipFile, a MAT-file element), in 16 MB pieces;
    DataError naming the file when `f` ends first."""
    view = out.reshape(-1).view(np.uint8).data
    total, pos = len(view), 0
    while pos < total:
        n = f.readinto(view[pos : pos + (16 << 20)])
        if not n:
            raise DataError(
                f"'{path}' is truncated: {what} ends after {pos:,} of the {total:,} bytes it needs", file=str(path)
            )
        pos += n


def _check_memory(nbytes: int, path: Path, what: str) -> None:
    """Refuse (before allocating) data larger than this machine's memory."""
    limit = _memory_bytes()
    if limit is not None and nbytes > limit:
        raise DataError(
            f"'{path}': {what} would take {_size(nbytes)}, more than this machine's {_size(limit)} of memory",
            file=str(path),
        )
