"""The formatter's safety net: the new text must read as the same tokens, comments and syntax tree."""

from __future__ import annotations

import dataclasses
from typing import Any

from dsl.errors import NetError, Span
from dsl.fmt.tokens import Scan, scan


class FormatterBug(NetError):
    """The formatter produced a text that would mean something else; nothing was written."""


def check_same(before: Scan, after_text: str, file: str) -> None:
    """Raise `FormatterBug` unless `after_text` has `before`'s tokens, comments and syntax tree."""
    try:
        after = scan(after_text, file)
    except NetError as err:
        raise _bug(file, f"the formatted text does not parse ({err.message})") from None
    if [(t.kind, t.text) for t in before.toks] != [(t.kind, t.text) for t in after.toks]:
        raise _bug(file, "the formatted text has other tokens")
    if before.comments() != after.comments():
        raise _bug(file, "the formatted text has other comments")
    if not same_tree(before.module, after.module):
        raise _bug(file, "the formatted text parses to another syntax tree")


def _bug(file: str, what: str) -> FormatterBug:
    return FormatterBug(
        f"internal error: {what}; '{file}' is left as it is",
        file=file,
        hint="this is a bug in netc fmt; please report it with the file",
    )


def same_tree(a: Any, b: Any) -> bool:
    """Whether two syntax trees are equal, ignoring source positions (no recursion: trees may be deep)."""
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if isinstance(x, Span) and isinstance(y, Span):
            continue
        if type(x) is not type(y):
            return False
        if dataclasses.is_dataclass(x) and not isinstance(x, type):
            stack.extend(
                (getattr(x, f.name), getattr(y, f.name)) for f in dataclasses.fields(x) if f.name not in ("text",)
            )
        elif isinstance(x, (list, tuple)):
            if len(x) != len(y):
                return False
            stack.extend(zip(x, y))
        elif x != y:
            return False
    return True
