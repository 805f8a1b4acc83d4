"""`netc fmt`: the canonical layout of .net files, comments kept.

`format_text(text)` is the whole formatter for one .net text; `dsl.fmt.markdown` applies it to
the ```net blocks of Markdown files and `dsl.fmt.files` to files and folders (the command).
"""

from __future__ import annotations

from ..parser import parse
from .layout import WIDTH, layout
from .tokens import scan
from .verify import FormatterBug, check_same

__all__ = ["format_text", "FormatterBug", "WIDTH"]


def format_text(text: str, file: str = "<text>") -> str:
    """`text` (one .net file, '\\n' line endings) in the canonical layout.

    Raises `NetError` (located, as `netc check` shows it) for a syntax error, and
    `FormatterBug` if the result would not read as the same tokens and syntax tree."""
    tree = parse(text, file)
    scanned = scan(text, file)
    out = layout(scanned)
    if out != text:
        check_same(scanned, tree, out, file)
    return out
