"""`results.csv`: one row per finished run; never a corrupted file, never a lost line.

A row is appended to the file (`dsl.fileio.append_bytes`: one write, fsynced; on a failure the file
is cut back to its old length), so a search of any length costs one row's write per run, and a
reader, or a search killed at any instant, sees every whole row before it (a last line cut short
is never taken for a row: see below). The file is rewritten whole (atomically: a temporary file,
fsynced, `os.replace`d over the old one) only when it is created, when an older file lacks columns
this netc writes (once: the columns are added), and while its last line is cut off (so that the cut
line stays last). One writer per folder is enforced by `SearchLock` (a `dsl.fileio.FolderLock`).

The reader never drops data. A line it cannot take as a row (garbage, a field that is not a
number, a wrong field count, bytes that are not UTF-8, a cut-off last line) is kept verbatim, in
place, when the file is rewritten; it is ignored for resuming and reporting (so that run is
redone and appended as a new row) and reported as a warning with its file and line number.
Valid rows are rewritten byte for byte as they were read.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from dsl.errors import NetError, show_value
from dsl.fileio import FolderLock, append_bytes, read_bytes_limited, remove_stale_temps, write_bytes
from dsl.records import MAX_EPOCHS, MAX_SECONDS

__all__ = ["FIELDS", "FILENAME", "Results", "ResultsFile", "SearchLock", "read_results", "read_rows"]


def _column(kind: str = "str", *, required: bool = False, low: int | None = None) -> Any:
    """One column of results.csv: how its text is read (`kind`), whether a row needs it, its floor."""
    return field(default=None, metadata={"kind": kind, "required": required, "low": low})


@dataclass
class ResultRow:
    """One row of results.csv, one finished run: the columns, in their order, and how each is read.
    Declared once here; the reader, the writer and `netc report` take the columns from it."""

    variant: str = _column(required=True)
    file: str = _column()
    net_hash: str = _column()
    config_hash: str = _column()
    epochs: float = _column("epochs", required=True)  # whole (24), or a fraction (9.9: the last epoch cut short)
    seed: int = _column("int", required=True)
    test_acc: float = _column("fraction", required=True)
    test_loss: float = _column("loss")
    train_acc: float = _column("fraction")
    train_loss: float = _column("loss")
    seconds: float = _column("duration", required=True)
    warmup_s: float = _column("duration")
    target: float = _column("fraction")
    params: int = _column("int", low=0)
    device: str = _column()
    precision: str = _column()
    worker: str = _column()
    finished_at: str = _column()
    macs: int = _column("int", low=0)
    trial: int = _column("int", low=0)  # the study's trial number (strategies other than grid)
    state: str = _column()  # complete (empty: complete), or pruned: stopped early, its figures at that epoch


COLUMNS = {f.name: f.metadata for f in fields(ResultRow)}
FIELDS = list(COLUMNS)
REQUIRED = tuple(k for k, c in COLUMNS.items() if c["required"])  # a row without one of these is no result
FILENAME = "results.csv"
SIZE_LIMIT = 256 << 20  # ~1M runs; anything bigger is not a results.csv (or is /dev/zero)
MAX_WARNINGS = 20  # per file; the rest are counted, so a garbage file cannot flood the terminal


class _Invalid(Exception):
    """A record that is not a valid row (the message says why)."""


@dataclass
class _Entry:
    """One line (or one multi-line quoted record) of the file, with its bytes as read."""

    raw: bytes
    values: dict[str, str] | None  # the fields of a valid row (None: kept verbatim and ignored)
    row: dict | None  # the typed row


@dataclass
class Results:
    """What a results.csv holds: typed rows and the warnings about lines kept but ignored."""

    rows: list[dict]
    warnings: list[str]


# ----------------------------------------------------------------------------- values
def _shown(s: str) -> str:
    return show_value(s if len(s) <= 40 else s[:40] + "...", None)


def _int(name: str, s: str) -> int:
    t = s.strip()
    try:
        v = int(t)
    except ValueError:
        if t.lstrip("+-").isdigit():  # over Python's 4300-digit limit for int()
            raise _Invalid(f"{name} {_shown(s)} is too large") from None
        try:
            f = float(t)
        except ValueError:
            raise _Invalid(f"{name} {_shown(s)} is not a number") from None
        if not math.isfinite(f) or not f.is_integer():  # int(inf) overflows, int(nan) fails, 2.5 is no epoch count
            raise _Invalid(f"{name} {_shown(s)} is not a whole number") from None
        v = int(f)
    low = COLUMNS[name]["low"]
    if low is not None and v < low:
        raise _Invalid(f"{name} {_shown(s)} is less than {low}")
    return v


def _epochs(s: str) -> int | float:
    """An epochs count: a whole number (24), or a fraction (9.9: the last epoch cut short), above 0."""
    try:
        v = float(s)
    except ValueError:
        raise _Invalid(f"epochs {_shown(s)} is not a number") from None
    if not math.isfinite(v) or not 0 < v <= MAX_EPOCHS:
        raise _Invalid(f"epochs {_shown(s)} is not a number above 0 and at most {MAX_EPOCHS:,}")
    return int(v) if v.is_integer() else v


def _float(name: str, s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise _Invalid(f"{name} {_shown(s)} is not a number") from None
    kind = COLUMNS[name]["kind"]
    if kind == "loss":  # any float: a diverged loss is still data
        return v
    if not math.isfinite(v):
        raise _Invalid(f"{name} {_shown(s)} is not a finite number")
    if kind == "fraction" and not 0.0 <= v <= 1.0:
        raise _Invalid(f"{name} {_shown(s)} is not between 0 and 1")
    if kind == "duration" and not 0 <= v <= MAX_SECONDS:
        raise _Invalid(f"{name} {_shown(s)} is not between 0 and {MAX_SECONDS:.0e} seconds")
    return v


def _typed(values: dict[str, str]) -> dict:
    """The typed row of a record's fields; empty optional fields stay ''."""
    for k in REQUIRED:
        if not values.get(k, "").strip():
            raise _Invalid(f"{k} is empty")
    out: dict = dict(values)
    for k, v in values.items():
        if v == "" or v is None:
            continue
        kind = COLUMNS[k]["kind"] if k in COLUMNS else "str"  # a newer netc's column: kept as text
        if kind == "epochs":
            out[k] = _epochs(v)
        elif kind == "int":
            out[k] = _int(k, v)
        elif kind != "str":
            out[k] = _float(k, v)
    return out


def _format(v: object) -> str:
    if isinstance(v, float):
        return repr(float(v))  # float(): a numpy float64 repr is 'np.float64(...)'
    return "" if v is None else str(v)


# ----------------------------------------------------------------------------- parsing
def _csv_fields(text: str) -> list[str]:
    """The fields of one CSV record (strict: a stray quote is an error, not a guess)."""
    if len(text) > csv.field_size_limit():  # only a line this long can hold a field over the csv module's limit
        raise _Invalid(f"the line is longer than {csv.field_size_limit():,} characters")
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as err:
        raise _Invalid(f"not valid CSV: {err}") from None
    if len(records) != 1:
        raise _Invalid("not valid CSV: more than one record")
    return records[0]


def _parse_record(raw: bytes, header: list[str]) -> tuple[dict[str, str], dict]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _Invalid(f"byte 0x{raw[err.start]:02x} is not UTF-8 text") from None
    fields = _csv_fields(text)
    if len(fields) != len(header):
        raise _Invalid(f"{len(fields)} fields, the header has {len(header)}")
    values = dict(zip(header, fields))
    return values, _typed(values)


def _records(lines: list[bytes]) -> Iterable[tuple[int, int]]:
    """(first, end) line indices of each CSV record: a quoted field may span lines."""
    i = 0
    while i < len(lines):
        j, quotes = i, lines[i].count(b'"')
        while quotes % 2 and j + 1 < len(lines):  # inside a quoted field: the record goes on
            j += 1
            quotes += lines[j].count(b'"')
        yield i, j + 1
        i = j + 1


class _Parsed:
    """A results.csv split into its header and entries, each valid row typed, the rest kept as is."""

    def __init__(self, path: Path, data: bytes):
        self.path = path
        self.header_raw: bytes = b""
        self.header: list[str] = []
        self.prefix: list[bytes] = []  # blank lines before the header, kept
        self.entries: list[_Entry] = []
        self.tail: _Entry | None = None  # a cut-off last line: stays last, with no newline added
        self.warnings: list[str] = []
        self._ignored = 0
        lines = _lines(data)
        start = 0
        while start < len(lines) and not lines[start].strip():
            start += 1
        if start == len(lines):
            return  # empty (or blank): a new file
        self.prefix = lines[:start]
        self.header_raw = lines[start]
        self.header = self._read_header(self.header_raw)
        for first, end in _records(lines[start + 1 :]):
            self._add(lines[start + 1 + first : start + 1 + end], start + 2 + first)
        if self._ignored > MAX_WARNINGS:
            self.warnings.append(
                f"{path}: warning: {self._ignored - MAX_WARNINGS:,} more lines not valid rows; kept as is and ignored"
            )

    def _read_header(self, raw: bytes) -> list[str]:
        try:
            text = raw.decode("utf-8-sig")  # a spreadsheet may have added a byte-order mark
            fields = _csv_fields(text)
        except (UnicodeDecodeError, _Invalid):
            fields = None
        if not fields or any(k not in fields for k in REQUIRED) or len(set(fields)) != len(fields):
            shown = raw[:200].decode("utf-8", "replace").rstrip("\r\n")
            raise NetError(
                f"'{self.path}' is not a netc search results file (its header is {shown!r})",
                file=str(self.path),
                hint="netc writes its own results.csv; give another --out folder, or move that file away",
            )
        return fields

    def _add(self, lines: list[bytes], line_no: int) -> None:
        raw = b"".join(lines)
        cut = not raw.endswith(b"\n")  # only the file's last line can be
        if cut and len(lines) == 1:
            # kept last, with no newline added: a row cut mid-number must never pass for a whole one
            self.tail = _Entry(raw, None, None)
            if raw.strip():
                self._warn(line_no, "cut off (no newline at the end of the file); kept as is and ignored")
            return
        if not raw.strip():
            self.entries.append(_Entry(raw, None, None))  # a blank line: kept, not a row
            return
        try:
            if cut:
                raise _Invalid("cut off")
            values, row = _parse_record(raw, self.header)
        except _Invalid as err:
            if len(lines) > 1:  # a stray quote joined lines: judge each line on its own
                for k, line in enumerate(lines):
                    self._add([line], line_no + k)
                return
            self.entries.append(_Entry(raw, None, None))
            self._warn(line_no, f"not a valid row ({err}); kept as is and ignored")
            return
        self.entries.append(_Entry(raw, values, row))

    def _warn(self, line_no: int, message: str) -> None:
        self._ignored += 1
        if self._ignored <= MAX_WARNINGS:
            self.warnings.append(f"{self.path}:{line_no}: warning: {message}")

    @property
    def rows(self) -> list[dict]:
        return [e.row for e in self.entries if e.row is not None]


def _lines(data: bytes) -> list[bytes]:
    """The lines of `data`, each with its b"\n" (the last one may lack it).

    Split on b"\n" only (not a lone \r, as bytes.splitlines would), so line numbers match editors."""
    parts = data.split(b"\n")
    return [part + b"\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _read(path: Path) -> _Parsed:
    if not os.path.lexists(path):
        return _Parsed(path, b"")
    return _Parsed(path, read_bytes_limited(path, SIZE_LIMIT, "results.csv"))


def read_results(path: str | os.PathLike) -> Results:
    """The valid rows of a results.csv (typed) and a warning for each line kept but ignored.

    A missing file has no rows; a file whose header is not netc's raises NetError."""
    p = _read(Path(path))
    return Results(p.rows, p.warnings)


def read_rows(path: str | os.PathLike) -> list[dict]:
    """The valid rows of a results.csv (typed); see `read_results` for the warnings."""
    return read_results(path).rows


# ----------------------------------------------------------------------------- the writer
class ResultsFile:
    """The results.csv of one search folder; `append` adds a row, keeping every line."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.path = self.folder / FILENAME
        self._parsed = _read(self.path)
        self.warnings: list[str] = list(self._parsed.warnings)
        # the file's own columns, in its order; columns this netc writes that an older file lacks go at
        # the end, so every field already in the file keeps its position
        self.fields = list(self._parsed.header) or list(FIELDS)
        self.fields += [k for k in FIELDS if k not in self.fields]
        self._header_kept = self.fields == self._parsed.header
        # kept up to date by `append`, so that a row's cost never grows with the file (100,000 rows and more)
        self._line_count = len(self._parsed.prefix) + sum(e.raw.count(b"\n") for e in self._parsed.entries)
        self._done: dict[tuple[str, Any, Any], dict] = {}
        for r in self._parsed.rows:
            self._index(r)

    def _index(self, row: dict) -> None:
        if row.get("state") != "pruned":  # a pruned trial's row is no finished run
            self._done.setdefault((row.get("config_hash", ""), row["epochs"], row["seed"]), row)

    @property
    def rows(self) -> list[dict]:
        """The valid rows, typed, in file order (the lines kept as is are not rows)."""
        return self._parsed.rows

    def done_keys(self) -> set[tuple[str, int, int]]:
        """(config_hash, epochs, seed) of every valid row of a finished run: the runs a resumed search
        skips (a pruned trial's row is no finished run)."""
        return set(self._done)

    def done_row(self, key: tuple[str, Any, Any]) -> dict | None:
        """The first valid row of a finished run with this (config_hash, epochs, seed), if any."""
        return self._done.get(key)

    def append(self, row: dict) -> None:
        """Add a row and rewrite the file atomically; on failure (disk full) the file and this object
        are as they were, and FileWriteError says why."""
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow([_format(row.get(k)) for k in self.fields])
        # backslashreplace: a path with undecodable bytes (surrogate escapes) is still written, readably
        raw = buf.getvalue().encode("utf-8", "backslashreplace")
        p = self._parsed
        line_no = 1 + self._line_count + 1
        problem = None
        try:
            values, typed = _parse_record(raw, self.fields)
            entry = _Entry(raw, values, typed)
        except _Invalid as err:  # written anyway (data is never dropped), but not taken as done
            entry, problem = _Entry(raw, None, None), str(err)
        p.entries.append(entry)
        try:
            if self._header_kept and p.tail is None and p.header_raw.endswith(b"\n"):
                append_bytes(self.path, raw)  # the common case: the file stays as it is, one row more
            else:
                write_bytes(self.path, self._render())
        except BaseException:
            p.entries.pop()
            raise
        self._line_count += raw.count(b"\n")
        if entry.row is not None:
            self._index(entry.row)
        if problem:
            self.warnings.append(
                f"{self.path}:{line_no}: warning: the run just finished is not a valid row "
                f"({problem}); written as is, and a rerun will redo it"
            )
        if not self._header_kept:  # the file now has the extended header
            p.header, p.header_raw, self._header_kept = list(self.fields), self._header_line(), True
            for e in p.entries:
                if e.values is not None:
                    e.raw = self._row_line(e.values)

    def _header_line(self) -> bytes:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(self.fields)
        bom = b"\xef\xbb\xbf" if self._parsed.header_raw.startswith(b"\xef\xbb\xbf") else b""
        return bom + buf.getvalue().encode("utf-8")

    def _row_line(self, values: dict[str, str]) -> bytes:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow([values.get(k, "") for k in self.fields])
        return buf.getvalue().encode("utf-8")

    def _render(self) -> bytes:
        p = self._parsed
        out = list(p.prefix)
        if self._header_kept:
            out.append(p.header_raw if p.header_raw.endswith(b"\n") else p.header_raw + b"\n")
        else:
            out.append(self._header_line())
        for e in p.entries:
            # a valid row is written as it was read unless new columns were added to the header
            out.append(e.raw if self._header_kept or e.values is None else self._row_line(e.values))
        if p.tail is not None:
            out.append(p.tail.raw)  # stays last and without a newline: never taken for a full row
        return b"".join(out)


# ----------------------------------------------------------------------------- the folder's lock
class SearchLock(FolderLock):
    """The lock of a search folder: one `netc search` writes there at a time.

    Taking it also removes temporary files a killed search left (only the lock holder may: another
    process's temporary file is its write in progress)."""

    def __init__(self, folder: str | os.PathLike[str]):
        super().__init__(
            folder, what="netc search", hint="wait for the other search to finish, or pass another --out folder"
        )

    def __enter__(self) -> SearchLock:
        super().__enter__()
        remove_stale_temps(self.folder, FILENAME)
        return self
