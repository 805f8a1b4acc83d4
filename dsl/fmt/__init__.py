"""`netc fmt`: the canonical layout of .net files, comments kept.

`format_text(text)` is the whole formatter for one .net text; `dsl.fmt.markdown` applies it to
the ```net blocks of Markdown files and `dsl.fmt.files` to files and folders (the command).
"""

from __future__ import annotations

from dsl.fmt.layout import WIDTH, canonical_text
from dsl.fmt.tokens import scan
from dsl.fmt.verify import FormatterBug, check_same

__all__ = ["format_text", "FormatterBug", "WIDTH"]


def format_text(text: str, file: str = "<text>", width: int = WIDTH) -> str:
    """`text` (one .net file) in the canonical layout (code lines broken to fit
    `width` columns where they can be).

    Raises `NetError` (located, as `netc check` shows it) for a syntax error, and
    `FormatterBug` if the result would not read as the same tokens and syntax tree."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # as files are read (dsl.front.source.decode)
    scanned = scan(text, file)
    out = canonical_text(scanned, width)
    if out != text:
        check_same(scanned, out, file)
    return out
