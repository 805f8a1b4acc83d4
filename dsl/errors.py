"""User-facing errors: one paragraph, `file:line:col`, the source line and a caret.

Every mistake a user can make raises a `NetError` (or subclass). The CLI prints
`str(err)` and exits with code 2; it never shows a Python traceback for them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Span:
    """A region of one source text (1-based line/column, end exclusive)."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int
    text: str = field(repr=False, compare=False, default="")

    def source_line(self) -> str:
        """The text of the span's first line."""
        lines = self.text.splitlines()
        return lines[self.line - 1] if 0 < self.line <= len(lines) else ""

    def where(self) -> str:
        """`file:line:col`."""
        return f"{self.file}:{self.line}:{self.col}"

    def excerpt(self, max_width: int = 100) -> str:
        """The source line and a caret line under the span; long lines are cut to a window
        of about `max_width` characters around the span, so a message stays a paragraph."""
        src = self.source_line().expandtabs(1)
        if not src.strip():
            return ""
        col = self.col
        width = (self.end_col - col) if self.end_line == self.line else len(src) - col + 1
        width = max(1, min(width, len(src) - col + 2))
        if len(src) > max_width:
            start = max(0, col - 1 - max_width // 3)
            end = start + max_width
            prefix = "…" if start > 0 else ""
            suffix = "…" if end < len(src) else ""
            src = prefix + src[start:end] + suffix
            col = col - start + len(prefix)
            width = max(1, min(width, end - (self.col - 1)))
        gutter = f"{self.line:>4} | "
        return f"{gutter}{src}\n{' ' * (len(gutter) - 2)}| {' ' * (col - 1)}{'^' * width}"


def show_value(v: object, limit: int | None = 80) -> str:
    """A value in a message, as the user writes it: true/false, null, numbers as Python writes them
    (NaN and Infinity as JSON spells them), 'text' quoted, (tuples) and [lists]; over `limit`
    characters, cut with '...'. The one way netc shows a value in any message."""
    if v is None:
        text = "null"
    elif isinstance(v, bool):
        text = "true" if v else "false"
    elif isinstance(v, float) and v != v:
        text = "NaN"
    elif isinstance(v, float) and v in (float("inf"), float("-inf")):
        text = "Infinity" if v > 0 else "-Infinity"
    elif isinstance(v, tuple):
        text = "(" + ", ".join(show_value(x, None) for x in v) + ")"
    elif isinstance(v, list):
        text = "[" + ", ".join(show_value(x, None) for x in v) + "]"
    else:
        text = repr(v)
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."


class NetError(Exception):
    """An error the user caused; `span` points at the offending source text."""

    kind = "error"

    def __init__(
        self,
        message: str,
        span: Span | None = None,
        hint: str | None = None,
        notes: list[tuple[str, Span]] | None = None,
        file: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint
        self.notes = notes or []
        self.file = file

    def __str__(self) -> str:
        where = self.span.where() if self.span else (self.file or "netc")
        out = [f"{where}: {self.kind}: {self.message}"]
        if self.span and self.span.excerpt():
            out.append(self.span.excerpt())
        for text, span in self.notes:
            out.append(f"{span.where()}: note: {text}")
            if span.excerpt():
                out.append(span.excerpt())
        if self.hint:
            out.append(f"hint: {self.hint}")
        return "\n".join(out)


class DataError(NetError):
    """Missing, unreadable or corrupt training data."""


class ToolError(NetError):
    """A required external program (e.g. Graphviz `dot`) is missing or failed."""


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A 'did you mean' suffix for a misspelt name, or None."""
    import difflib

    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    if not close:
        return None
    return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"


class TrainError(NetError):
    """A training run that cannot start or go on (non-finite loss, out of memory, bad settings)."""


class ExportError(NetError):
    """A network, op or run folder that cannot be exported as asked."""
