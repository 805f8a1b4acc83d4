"""Looking at a --data path before reading it: regular files and folders only, never a device or FIFO."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from ..errors import DataError
from ..fileio import describe_os_error
from .dataset import USAGE


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
