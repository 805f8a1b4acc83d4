"""Positions: netc spans (1-based line and column, counted in characters) <-> LSP positions
(0-based line, column counted in the negotiated unit: UTF-16 code units by default).

A character outside the Basic Multilingual Plane (an emoji in a comment) is one column for
netc, two UTF-16 units and four UTF-8 bytes for an editor; every position crosses here.
"""

from __future__ import annotations

from dataclasses import dataclass

from dsl.errors import Span

UNITS = {"utf-8": 1, "utf-16": 2, "utf-32": 4}  # bytes per code unit of each encoding


@dataclass(frozen=True)
class Range:
    """An LSP range: 0-based (line, column in code units) start and end, end exclusive."""

    start: tuple[int, int]
    end: tuple[int, int]

    def contains(self, pos: tuple[int, int]) -> bool:
        """Whether `pos` lies inside the range (its end included, where a cursor after a name still is)."""
        return self.start <= pos <= self.end


class Lines:
    """One text's lines, converting columns between characters and an encoding's code units."""

    def __init__(self, text: str, encoding: str = "utf-16"):
        if encoding not in UNITS:
            raise ValueError(f"unknown position encoding {encoding!r}")
        # the front end drops a leading byte-order mark; the editor's text still has it
        self.bom = text.startswith("\ufeff")
        # line breaks as the front end and LSP count them: CRLF, a lone CR and LF are each one
        self.text = text.replace("\r\n", "\n").replace("\r", "\n")
        self.lines = self.text.split("\n")
        self.encoding = encoding

    def _units(self, s: str) -> int:
        """The length of `s` in this encoding's code units."""
        if self.encoding == "utf-32" or s.isascii():
            return len(s)
        if self.encoding == "utf-8":
            return len(s.encode("utf-8", "surrogatepass"))
        return len(s.encode("utf-16-le", "surrogatepass")) // 2

    def line_text(self, line0: int) -> str:
        """The text of a 0-based line ('' past the end)."""
        return self.lines[line0] if 0 <= line0 < len(self.lines) else ""

    def to_units(self, line1: int, col1: int) -> tuple[int, int]:
        """A netc (1-based line, 1-based character column) as an LSP position."""
        line0 = max(0, line1 - 1)
        chars = max(0, col1 - 1) + (1 if self.bom and line0 == 0 else 0)
        text = self.line_text(line0)
        return line0, self._units(text[:chars]) + max(0, chars - len(text))

    def to_chars(self, line0: int, units: int) -> int:
        """An LSP column on a 0-based line as a 0-based character index into that line."""
        text = self.line_text(line0)
        if self.encoding == "utf-32" or text.isascii():
            return min(max(0, units), len(text))
        count = 0
        for i, ch in enumerate(text):
            if count >= units:
                return i
            count += self._units(ch)
        return len(text)

    def offset(self, line0: int, units: int) -> int:
        """An LSP position as a character offset into `self.text` (line breaks made LF)."""
        line0 = min(max(0, line0), len(self.lines) - 1)
        return sum(len(s) + 1 for s in self.lines[:line0]) + self.to_chars(line0, units)

    def span_range(self, span: Span) -> Range:
        """A netc span as an LSP range (an empty span is widened to one character, so it shows)."""
        start = self.to_units(span.line, span.col)
        end = self.to_units(span.end_line, span.end_col)
        if end <= start:
            end = (start[0], start[1] + 1)
        return Range(start, end)

    def end(self) -> tuple[int, int]:
        """The position just past the text's last character."""
        last = len(self.lines) - 1
        return last, self._units(self.lines[last])
