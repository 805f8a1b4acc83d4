"""`results.csv`: one row per finished run, never a corrupted file.

Every append rewrites the whole file into a temporary file in the same folder, fsyncs it and
`os.replace`s it over the old one (then fsyncs the folder), so a reader, or a search killed at any
instant, sees either the old file or the new one. The reader is tolerant anyway (a file written by
something else and cut short loses only its partial last line). One writer per folder is enforced
with a lock file (`.lock`, `fcntl.flock`), so two searches cannot interleave rows.
"""
from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path

from ..errors import NetError

FIELDS = ["variant", "file", "net_hash", "config_hash", "epochs", "seed", "test_acc", "test_loss", "train_acc",
          "train_loss", "seconds", "warmup_s", "target", "params", "device", "precision", "worker", "finished_at"]
INTS = {"epochs", "seed", "params"}
FLOATS = {"test_acc", "test_loss", "train_acc", "train_loss", "seconds", "warmup_s", "target"}
FILENAME = "results.csv"


def _convert(row: dict) -> dict:
    out = dict(row)
    for k in INTS:
        if out.get(k) not in (None, ""):
            out[k] = int(float(out[k]))
    for k in FLOATS:
        if out.get(k) not in (None, ""):
            out[k] = float(out[k])
    return out


def read_rows(path: str | os.PathLike) -> list[dict]:
    """The rows of a results.csv (typed); a partial or malformed line is dropped, not fatal."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    except OSError as err:
        raise NetError(f"cannot read '{path}': {err.strerror or err}", file=str(path)) from None
    if not text.strip():
        return []
    if not text.endswith("\n"):          # a cut-off last line
        text = text[: text.rfind("\n") + 1]
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "variant" not in reader.fieldnames or "test_acc" not in reader.fieldnames:
        raise NetError(f"'{path}' is not a netc search results file (its header is "
                       f"{','.join(reader.fieldnames or [])!r})", file=str(path))
    rows = []
    for row in reader:
        if None in row or any(v is None for v in row.values()):
            continue                     # wrong number of fields
        try:
            rows.append(_convert(row))
        except ValueError:
            continue
    return rows


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_text(path: Path, text: str) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


def _format(v) -> str:
    if isinstance(v, float):
        return repr(v)
    return "" if v is None else str(v)


class ResultsFile:
    """The results.csv of one search folder; `append` is atomic."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.path = self.folder / FILENAME
        self.rows = read_rows(self.path)
        for stale in self.folder.glob(f".{FILENAME}.*.tmp"):   # left by a writer killed mid-write
            try:
                stale.unlink()
            except OSError:
                pass
        self.fields = list(FIELDS)
        for r in self.rows:             # keep extra columns a newer netc may have written
            for k in r:
                if k not in self.fields:
                    self.fields.append(k)

    def done_keys(self) -> set[tuple[str, int, int]]:
        return {(r.get("config_hash", ""), r["epochs"], r["seed"]) for r in self.rows
                if r.get("epochs") not in (None, "") and r.get("seed") not in (None, "")}

    def append(self, row: dict) -> None:
        self.rows.append(_convert(row))
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=self.fields, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in self.rows:
            w.writerow({k: _format(r.get(k)) for k in self.fields})
        atomic_write_text(self.path, buf.getvalue())


class FolderLock:
    """An exclusive lock on a search folder (released when the process dies, even by SIGKILL)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.fd = None

    def __enter__(self):
        import fcntl

        self.fd = os.open(self.folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self.fd)
            self.fd = None
            raise NetError(f"another netc search is writing to '{self.folder}'",
                           hint="wait for it to finish, or pass another --out folder") from None
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
