"""Files netc reads and writes: atomic writes, bounded reads, folder locks (no torch here).

Every file netc writes goes through `write_bytes` / `write_text` / `atomic_writer`: the data
goes to a temporary file in the same folder, is fsynced, gets the mode the user's umask
gives (like any other tool), and replaces the target with `os.replace`; the folder is then
fsynced. A reader (or a process killed at any instant) sees the old file or the new one,
never a partial one; on any failure the temporary file is removed and the old file stays.
Write failures raise `FileWriteError` saying what happened and where ("no space left on
device: runs/x/results.csv"). Only regular files and new paths are written (`output_path`): a
FIFO, a device or a socket is refused before anything is touched, and a symbolic link is
written through (the link stays).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from dsl.errors import NetError

_REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large for the file system",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOENT: "the folder does not exist",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.EISDIR: "it is a folder",
}


class FileWriteError(NetError):
    """A file could not be written (disk full, permissions, ...); the old file, if any, is intact."""


def describe_os_error(err: OSError) -> str:
    """A short human reason for an OSError ('no space left on device')."""
    return _REASONS.get(err.errno or 0) or (err.strerror or str(err)).lower()


def write_error(path: str | os.PathLike[str], err: OSError, what: str = "write") -> FileWriteError:
    """The user-facing error for a failed write of `path`."""
    return FileWriteError(f"could not {what} '{path}': {describe_os_error(err)}", file=str(path))


def output_path(path: str | os.PathLike[str], folder_must_exist: bool = True) -> Path:
    """The file to write for the output `path`: `path` itself, or where its symbolic links lead.

    Refuses (FileWriteError, nothing touched) anything but a regular file or a new path in an
    existing folder: a FIFO, a device, a socket or a folder is never replaced by an output, and
    a symbolic link is written through, so the link stays and its target gets the data."""
    given = Path(path)
    if not str(path):
        raise FileWriteError("the output path is empty")
    target = Path(os.path.realpath(given)) if given.is_symlink() else given
    try:
        st = os.stat(target)
    except FileNotFoundError:
        folder = target.parent if str(target.parent) else Path(".")
        if folder_must_exist and not folder.is_dir():
            raise FileWriteError(
                f"could not write '{path}': the folder '{folder}' does not exist", file=str(path)
            ) from None
        return target
    except OSError as err:
        raise write_error(given, err) from None
    if stat.S_ISDIR(st.st_mode):
        raise FileWriteError(f"could not write '{path}': it is a folder; give a file name", file=str(path))
    if not stat.S_ISREG(st.st_mode):
        kind = _special_kind(st.st_mode)
        via = f" (through the link to '{target}')" if target != given else ""
        raise FileWriteError(
            f"refusing to write '{path}': it is {kind}{via}, not a regular file; netc writes only regular files",
            file=str(path),
        )
    return target


PLOT_FORMATS = (".png", ".svg", ".pdf")


def check_plot_path(out: str | os.PathLike[str], flag: str = "--plot") -> Path:
    """A plot file that can be written (.png, .svg or .pdf; a regular file or a new path in an
    existing folder), checked before any work; returns the file to write."""
    p = Path(out)
    if p.suffix.lower() not in PLOT_FORMATS:
        shown = ", ".join(PLOT_FORMATS[:-1]) + " or " + PLOT_FORMATS[-1]
        raise FileWriteError(f"{flag} '{p}' must end in {shown}", file=str(p))
    return output_path(p)


def _special_kind(mode: int) -> str:
    """'a FIFO', 'a character device', ... for a file that is not regular."""
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "a special file"


def _umask() -> int:
    """The process umask, read without changing it where /proc allows (os.umask is racy)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot fsync a folder; the rename is still atomic
    finally:
        os.close(fd)


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


@contextlib.contextmanager
def atomic_writer(
    path: str | os.PathLike[str],
    mode: str = "wb",
    encoding: str | None = None,
    newline: str | None = None,
    backup: str | os.PathLike[str] | None = None,
) -> Iterator[IO]:
    """Write `path` through a file object; it replaces `path` only if the block completes.

    `mode` is "wb" or "w" (text, with `encoding`, default UTF-8). With `backup`, the file
    being replaced is kept under that name (renamed only once the new data is safely on disk)."""
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_writer mode must be 'wb' or 'w', not {mode!r}")
    target = output_path(path)
    folder = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as err:
        raise write_error(target, err) from None
    try:
        if mode == "w":
            f: IO = os.fdopen(fd, "w", encoding=encoding or "utf-8", newline=newline)
        else:
            f = os.fdopen(fd, "wb")
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; files get the user's usual mode
        if backup is not None and target.exists():
            os.replace(target, backup)
        os.replace(tmp, target)
    except OSError as err:
        _remove(tmp)
        raise write_error(target, err) from None
    except BaseException:
        _remove(tmp)
        raise
    _fsync_dir(folder)


def write_bytes(path: str | os.PathLike[str], data: bytes, backup: str | os.PathLike[str] | None = None) -> None:
    """Atomically replace `path` with `data` (keeping the old file as `backup` if given)."""
    with atomic_writer(path, "wb", backup=backup) as f:
        f.write(data)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Atomically replace `path` with `text` (UTF-8, newlines as given)."""
    write_bytes(path, text.encode("utf-8"))


def append_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Append `data` to the regular file `path` (created, with the mode the umask gives, when new) and
    fsync it: the cost of one record, however long the file. On a failure (disk full) the file is cut
    back to its old length, so it never keeps half a record, and FileWriteError says why."""
    target = output_path(path)
    try:
        f = open(target, "ab")  # noqa: SIM115 (closed below, after the cut-back on failure)
    except OSError as err:
        raise write_error(target, err) from None
    with f:
        size = f.seek(0, os.SEEK_END)
        try:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        except OSError as err:
            with contextlib.suppress(OSError):
                f.truncate(size)
            raise write_error(target, err) from None


def write_together(files: Sequence[tuple[str | os.PathLike[str], bytes]]) -> None:
    """Write several files as one output: each file's data goes to a temporary file beside it
    first, and only once all are on disk are they renamed into place. A failure before that
    (disk full, permissions) leaves every target as it was; a rename that fails after others
    succeeded removes the files this call created, so no half of the output is left behind."""
    targets = [output_path(p) for p, _ in files]
    temps: list[str] = []
    try:
        for target, (_, data) in zip(targets, files):
            folder = target.parent if str(target.parent) else Path(".")
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
            temps.append(tmp)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o666 & ~_umask())
    except OSError as err:
        for tmp in temps:
            _remove(tmp)
        raise write_error(targets[len(temps) - 1] if temps else targets[0], err) from None
    created: list[Path] = []
    for i, (target, tmp) in enumerate(zip(targets, temps)):
        existed = target.exists()
        try:
            os.replace(tmp, target)
        except OSError as err:
            for rest in temps[i:]:
                _remove(rest)
            for made in created:
                _remove(str(made))
            raise write_error(target, err) from None
        if not existed:
            created.append(target)
        _fsync_dir(target.parent if str(target.parent) else Path("."))


def remove_stale_temps(folder: str | os.PathLike[str], name: str) -> None:
    """Delete temporary files a killed writer of `folder/name` left behind."""
    for stale in Path(folder).glob(f".{name}.*.tmp"):
        with contextlib.suppress(OSError):
            stale.unlink()


# ----------------------------------------------------------------------------- reading
class FileReadError(NetError):
    """A file could not be read, or is not something netc reads (a FIFO, a device, too big)."""


def read_bytes_limited(path: str | os.PathLike[str], limit: int, what: str = "file") -> bytes:
    """The bytes of a regular file of at most `limit` bytes; refuses anything else cleanly.

    Never reads more than `limit + 1` bytes and never blocks on a FIFO: devices such as
    /dev/zero, FIFOs, sockets and folders are refused before they are read."""
    p = Path(path)
    try:
        # O_NONBLOCK: opening a FIFO with no writer must not hang; it is refused just below
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise FileReadError(f"no such file: '{path}'", file=str(path)) from None
    except IsADirectoryError:
        raise FileReadError(f"'{path}' is a folder, not a {what}", file=str(path)) from None
    except OSError as err:
        raise FileReadError(f"cannot read '{path}': {describe_os_error(err)}", file=str(path)) from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise FileReadError(f"'{path}' is a folder, not a {what}", file=str(path))
        if not stat.S_ISREG(st.st_mode):
            raise FileReadError(
                f"'{path}' is not a regular file (a device, FIFO or socket); netc reads only plain files",
                file=str(path),
            )
        if st.st_size > limit:
            raise FileReadError(
                f"'{path}' is {st.st_size:,} bytes; a {what} is limited to {limit:,} bytes", file=str(path)
            )
        chunks, left = [], limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
    except OSError as err:
        raise FileReadError(f"cannot read '{path}': {describe_os_error(err)}", file=str(path)) from None
    finally:
        os.close(fd)
    if len(data) > limit:  # it grew while we read it
        raise FileReadError(f"'{path}' is over {limit:,} bytes; a {what} is limited to {limit:,} bytes", file=str(path))
    return data


def read_text_limited(path: str | os.PathLike[str], limit: int, what: str = "file") -> str:
    """`read_bytes_limited` decoded as UTF-8 (undecodable bytes refused cleanly)."""
    data = read_bytes_limited(path, limit, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise FileReadError(
            f"'{path}' is not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start})", file=str(path)
        ) from None


# ----------------------------------------------------------------------------- locking
class FolderLock:
    """An exclusive lock on a folder (`.lock`, fcntl.flock): released when the process dies,
    even by SIGKILL. `what` names the holder in the refusal ("netc search", "a netc train run")."""

    def __init__(self, folder: str | os.PathLike[str], what: str = "netc", hint: str | None = None):
        self.folder = Path(folder)
        self.what = what
        self.hint = hint
        self.fd: int | None = None

    def __enter__(self) -> FolderLock:
        import fcntl

        try:
            fd = os.open(self.folder / ".lock", os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as err:
            raise write_error(self.folder / ".lock", err, "create the lock file") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise NetError(
                f"{self.what} is already using '{self.folder}'",
                file=str(self.folder),
                hint=self.hint or "wait for it to finish, or use another folder",
            ) from None
        self.fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
