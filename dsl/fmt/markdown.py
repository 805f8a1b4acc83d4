"""Formatting the ```net code blocks of a Markdown file in place.

A fenced block whose info string starts with the word `net` claims to hold a whole .net file:
it is formatted like one, and a syntax error in it is an error, located in the Markdown file.
Everything outside such blocks is left byte for byte as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from dsl.errors import NetError, Span

_FENCE = re.compile(r"^(?P<indent>[ ]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


@dataclass(frozen=True)
class Block:
    """A ```net block: its fence's indentation and the 0-based lines of its content (end exclusive)."""

    indent: int
    start: int
    end: int


def net_blocks(lines: list[str]) -> list[Block]:
    """The ```net blocks of a Markdown text's lines (fences of backticks or tildes, CommonMark's rules
    for closing them; an unclosed block runs to the end of the file, as CommonMark reads it)."""
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None or (m["fence"][0] == "`" and "`" in m["info"]):
            i += 1
            continue
        fence, indent = m["fence"], len(m["indent"])
        closing = re.compile(rf"^[ ]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        end = next((j for j in range(i + 1, len(lines)) if closing.match(lines[j])), len(lines))
        words = m["info"].split()
        if words and words[0] == "net":
            blocks.append(Block(indent, i + 1, end))
        i = end + 1
    return blocks


def _dedent(line: str, indent: int) -> str:
    """A content line without (up to) the fence's indentation."""
    stripped = len(line) - len(line.lstrip(" "))
    return line[min(stripped, indent) :]


def format_markdown(text: str, file: str, format_net: Callable[[str, str], str]) -> str:
    """`text` with every ```net block formatted by `format_net(block_text, file)`; errors in a block
    are re-located to the block's lines in the Markdown file."""
    lines = text.split("\n")
    cr = "\r" if "\r\n" in text else ""  # a file with CRLF line ends keeps them
    out: list[str] = []
    done = 0
    for b in net_blocks([line.rstrip("\r") for line in lines]):
        body = "\n".join(_dedent(line.rstrip("\r"), b.indent) for line in lines[b.start : b.end])
        body = body + "\n" if body else ""
        try:
            new = format_net(body, file)
        except NetError as err:
            raise _relocated(err, text, b) from None
        pad = " " * b.indent
        out += lines[done : b.start]
        out += [(pad + line if line else "") + cr for line in new.split("\n")[:-1]]
        done = b.end
    out += lines[done:]
    return "\n".join(out)


def _move(span: Span, text: str, block: Block) -> Span:
    """`span` (in the block's text) as a span of the Markdown file."""
    return Span(
        span.file,
        span.line + block.start,
        span.col + block.indent,
        span.end_line + block.start,
        span.end_col + block.indent,
        text,
    )


def _relocated(err: NetError, text: str, block: Block) -> NetError:
    """The same error, its spans moved from the block's text to the Markdown file's lines."""
    span = _move(err.span, text, block) if err.span else None
    notes = [(note, _move(s, text, block)) for note, s in err.notes]
    moved = type(err)(err.message, span, hint=err.hint, notes=notes, file=err.file)
    return moved
