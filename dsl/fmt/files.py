"""Which files `netc fmt` formats, and formatting one of them (reading, formatting, atomic rewrite).

A path given on the command line is a file (a `.md`/`.markdown` file has its ```net blocks
formatted; any other file is a .net file) or a folder: every `*.net` and `*.md` file below it,
in sorted order, skipping hidden folders (`.git`, `.venv`, ...) and not following links to folders.
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from dsl.errors import NetError
from dsl.fileio import read_bytes_limited, write_bytes
from dsl.fmt import format_text
from dsl.fmt.markdown import format_markdown
from dsl.front.source import MAX_FILE_BYTES, decode

MAX_MARKDOWN_BYTES = 16 << 20  # documentation pages are text; anything bigger is not one
SUFFIXES = (".net", ".md")


def is_markdown(path: str) -> bool:
    """Whether `path` is formatted as Markdown (its ```net blocks) rather than as a .net file."""
    return path.lower().endswith((".md", ".markdown"))


def collect(paths: list[str]) -> tuple[list[str], list[NetError]]:
    """The files to format for the command-line `paths` (each once, as the user would spell it),
    and an error for each path that does not exist or is a folder holding no .net or .md file."""
    found: list[str] = []
    errors: list[NetError] = []
    seen: set[str] = set()
    for p in paths:
        if p == "-":
            found.append(p)
            continue
        if os.path.isdir(p):
            files = _walk(p)
            if not files:
                errors.append(NetError(f"folder '{p}' holds no .net or .md files", file=p))
        elif os.path.lexists(p):
            files = [p]
        else:
            errors.append(NetError(f"no such file or folder: '{p}'", file=p))
            continue
        for f in files:
            key = os.path.realpath(f)
            if key not in seen:
                seen.add(key)
                found.append(f)
    return found, errors


def _walk(folder: str) -> list[str]:
    """Every .net and .md file below `folder`, sorted, skipping hidden folders."""
    out: list[str] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out += [os.path.join(root, f) for f in sorted(files) if f.endswith(SUFFIXES) and not f.startswith(".")]
    rel = {f: os.path.relpath(f, folder).split(os.sep) for f in out}
    return sorted(out, key=rel.__getitem__)


def format_source(data: bytes, file: str, markdown: bool) -> str:
    """The formatted text of a file's bytes: a .net file, or a Markdown file's ```net blocks."""
    if markdown:
        if len(data) > MAX_MARKDOWN_BYTES:
            raise NetError(f"'{file}' is {len(data):,} bytes; a Markdown file is limited to {MAX_MARKDOWN_BYTES:,}")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise NetError(f"'{file}' is not valid UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start})") from None
        return format_markdown(text, file, format_text)
    return format_text(decode(data, file), file)


@dataclass(frozen=True)
class Formatted:
    """One file's bytes before formatting and its text after."""

    path: str
    old: bytes
    new: str

    @property
    def changed(self) -> bool:
        """Whether formatting changes the file."""
        return self.new.encode("utf-8") != self.old


def format_file(path: str) -> Formatted:
    """Read and format one file (nothing is written); raises `NetError` with the located problem."""
    limit = MAX_MARKDOWN_BYTES if is_markdown(path) else MAX_FILE_BYTES
    data = read_bytes_limited(path, limit, "Markdown file" if is_markdown(path) else ".net file")
    return Formatted(path, data, format_source(data, path, is_markdown(path)))


def rewrite(result: Formatted) -> None:
    """Atomically replace the file with its formatted text, keeping its permissions; a link stays a
    link (the file it points to is rewritten)."""
    target = Path(os.path.realpath(result.path))
    mode = stat.S_IMODE(os.stat(target).st_mode)
    write_bytes(target, result.new.encode("utf-8"))
    with contextlib.suppress(OSError):  # a file of another owner in one's own folder: the umask's mode then
        os.chmod(target, mode)
