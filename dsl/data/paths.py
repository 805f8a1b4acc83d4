"""Looking at a data path before reading it (regular files and folders only, never a device or FIFO),
opening regular files, the sizes a file may claim (this machine's memory), and the errors naming a file."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from dsl.errors import DataError
from dsl.fileio import describe_os_error


def refuse(path: Path | str, message: str, hint: str | None = None) -> DataError:
    """The DataError for a bad file: its quoted path, then `message` (which may start with ':'), naming it."""
    return DataError(f"'{path}'{'' if message.startswith(':') else ' '}{message}", file=str(path), hint=hint)


def exc_text(err: BaseException) -> str:
    """'Type: message' for an exception from a parser, its module named when the type name says little."""
    kind = type(err).__name__
    return f"{type(err).__module__ + '.' if kind.islower() else ''}{kind}: {err}"


@contextlib.contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turn whatever a reader of other people's code raises on a damaged file into one DataError naming it."""
    try:
        yield
    except DataError:
        raise
    except MemoryError:
        raise refuse(path, "is too large to load into memory (or corrupt)") from None
    except Exception as err:  # noqa: BLE001  (parsers fail on hostile bytes in many ways: all mean corrupt)
        raise refuse(path, f"is corrupt or truncated ({exc_text(err)})") from None


def stat_path(path: Path) -> os.stat_result | None:
    """`os.stat(path)` (links followed), None when nothing is there; DataError when it cannot be looked at."""
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as err:
        raise DataError(f"cannot read '{path}': {describe_os_error(err)}", file=str(path)) from None
    except ValueError:  # an embedded NUL byte in the path
        shown = str(path).replace("\0", "\\0")
        raise refuse(shown, "is not a valid path (it holds a NUL byte)") from None


def special(st: os.stat_result) -> str:
    """What a non-regular, non-folder file is, in words."""
    if stat.S_ISFIFO(st.st_mode) or stat.S_ISSOCK(st.st_mode):
        return "a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else "a socket"
    return "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "not a regular file"


def is_dir(path: Path) -> bool:
    """A folder (links followed) is there."""
    st = stat_path(path)
    return st is not None and stat.S_ISDIR(st.st_mode)


def is_file(path: Path) -> bool:
    """A regular file (links followed) is there."""
    st = stat_path(path)
    return st is not None and stat.S_ISREG(st.st_mode)


def entries(folder: Path) -> list[Path]:
    """The sorted entries of a folder; DataError when it cannot be listed."""
    try:
        return sorted(folder.iterdir(), key=lambda p: p.name)
    except OSError as err:
        raise DataError(f"cannot list the folder '{folder}': {describe_os_error(err)}", file=str(folder)) from None


def open_file(path: Path, what: str = "a data file") -> BinaryIO:
    """Open a regular file for reading; folders, devices, FIFOs and sockets are refused before a byte is read."""
    st = stat_path(path)
    if st is None:
        raise refuse(path, "does not exist")
    if stat.S_ISDIR(st.st_mode):
        raise refuse(path, f"is a folder, not {what}")
    if not stat.S_ISREG(st.st_mode):  # /dev/zero would never end, a FIFO would block: refuse unopened
        raise refuse(path, f"is {special(st)}, not {what}; netc reads only regular files")
    try:
        # O_NONBLOCK: if the path was swapped for a FIFO since the stat, opening it must not hang
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as err:
        raise DataError(f"cannot read '{path}': {describe_os_error(err)}", file=str(path)) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise refuse(path, f"is {special(st)}, not {what}; netc reads only regular files")
    return os.fdopen(fd, "rb")


def file_md5(path: Path) -> str:
    """The md5 of a regular file, read in 1 MB pieces."""
    h = hashlib.md5()
    with open_file(path) as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def memory_bytes() -> int | None:
    """This machine's physical memory, or None where it cannot be told."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def size_text(n: int) -> str:
    """A byte count for people: '1.5 GB'."""
    unit, scale = next(((u, s) for u, s in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)) if n >= s), ("", 0))
    return f"{n / scale:.1f} {unit}" if scale else f"{n} bytes"


def check_memory(nbytes: int, path: Path, what: str) -> None:
    """Refuse (before allocating) data larger than this machine's memory."""
    limit = memory_bytes()
    if limit is not None and nbytes > limit:
        memory = f"more than this machine's {size_text(limit)} of memory"
        raise refuse(path, f": {what} would take {size_text(nbytes)}, {memory}")
