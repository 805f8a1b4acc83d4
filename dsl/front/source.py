"""Reading .net source: bounded reads of regular files, UTF-8 decoding, one line-ending style."""

from __future__ import annotations

import os

from dsl.errors import NetError, Span
from dsl.fileio import FileReadError, read_bytes_limited

MAX_FILE_BYTES = 1 << 20  # a .net file is a page of text; anything bigger is a mistake or an attack


def read_source(path: str | os.PathLike[str], span: Span | None = None, display: str | None = None) -> str:
    """A .net file's text; refuses huge, binary, special (FIFO, device) or unreadable files cleanly.

    `span` (the `use` line that asked for the file) locates the error; `display` is the path as
    the user would type it."""
    shown = display or str(path)
    try:
        data = read_bytes_limited(path, MAX_FILE_BYTES, ".net file")
    except FileReadError as err:
        message = err.message.replace(f"'{path}'", f"'{shown}'")
        raise NetError(message, span, file=shown) from None
    return decode(data, shown)


def decode(data: bytes, file: str) -> str:
    """UTF-8 bytes -> text with '\\n' line endings (CRLF and lone CR too); refuses binary input."""
    if len(data) > MAX_FILE_BYTES:
        raise NetError(f"input is {len(data):,} bytes; .net files are limited to {MAX_FILE_BYTES:,} bytes", file=file)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise NetError(
            f"not valid UTF-8 here (byte 0x{data[e.start]:02x}); .net files are UTF-8 text",
            file=f"{file}:{line}:{col}",
        ) from None
    # One line-ending style, so that comments end at a lone CR (old Mac files) as at a newline.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise NetError(
            "file contains a NUL byte: it looks binary, not a .net text file", Span(file, line, 1, line, 2, text)
        )
    return text.removeprefix("\ufeff")
