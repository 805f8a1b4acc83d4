"""A .net text as the formatter sees it: the parser's tokens, and the comments and line breaks between them.

The tokens come from the parser's own contextual lexer (so `-1` is one signed number in a
training setting and a minus and a number in an expression, exactly as when the file loads).
Everything between two tokens is whitespace and comments (the grammar ignores nothing else),
so the gaps are read here directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lark import Tree
from lark.exceptions import UnexpectedInput

from dsl.errors import NetError
from dsl.front import ast
from dsl.front.parser import lark_parser, module_of, syntax_error


@dataclass(frozen=True)
class Tok:
    """One token: its lark type and text, and where it starts in the input."""

    kind: str
    text: str
    line: int  # 1-based
    col: int  # 0-based


@dataclass(frozen=True)
class Comment:
    """A `# ...` comment (trailing blanks dropped) and the input column of its `#`."""

    text: str
    col: int


@dataclass
class Gap:
    """What lies between two tokens (or before the first, after the last).

    `eol` is a comment on the line of the token before; `lines` are the whole lines in between,
    each a comment or None for a blank line; `newlines` counts the line ends in the gap."""

    newlines: int = 0
    eol: Comment | None = None
    lines: list[Comment | None] = field(default_factory=list)

    def comments(self) -> list[Comment]:
        """The gap's comments, in order."""
        return ([self.eol] if self.eol else []) + [c for c in self.lines if c is not None]


@dataclass
class Scan:
    """A parsed text: tokens, the gaps around them (`gaps[i]` precedes `toks[i]`; the last gap
    follows the last token), and where statements and training settings start."""

    toks: list[Tok]
    gaps: list[Gap]
    stmt_start: set[int]
    setting_start: set[int]
    module: ast.Module  # the syntax tree, as `dsl.front.parser.parse` gives it

    def comments(self) -> list[str]:
        """Every comment's text, in order."""
        return [c.text for g in self.gaps for c in g.comments()]


def _comment(segment: str, col0: int = 0) -> Comment | None:
    at = segment.find("#")
    return Comment(segment[at:].rstrip(), col0 + at) if at >= 0 else None


def _gap(text: str, has_prev: bool, has_next: bool, col0: int) -> Gap:
    """Split the text between two tokens into an end-of-line comment and whole lines."""
    segments = text.split("\n")
    gap = Gap(newlines=len(segments) - 1)
    inner = segments
    if has_prev:
        gap.eol = _comment(segments[0], col0)
        inner = segments[1:]
    if has_next:
        inner = inner[:-1]  # the start of the next token's line: blanks only
    elif inner and not inner[-1].strip():
        inner = inner[:-1]  # the unfinished last line of the file
    gap.lines = [_comment(s) for s in inner]
    return gap


def scan(text: str, file: str = "<text>") -> Scan:
    """Tokens, gaps and syntax tree of `text` ('\\n' line endings), from one run of the parser; a syntax
    error raises the `NetError` that `dsl.front.parser.parse` raises."""
    try:
        ip = lark_parser().parse_interactive(text)
        lark_toks = list(ip.iter_parse())
        tree = ip.feed_eof(lark_toks[-1] if lark_toks else None)
    except UnexpectedInput as e:
        raise syntax_error(e, text, file) from None
    if not isinstance(tree, Tree):  # pragma: no cover - lark always returns the start tree
        raise NetError("internal error: the parser returned no tree", file=file)
    toks: list[Tok] = []
    gaps: list[Gap] = []
    pos, line_start = 0, 0
    offset_of: dict[int, int] = {}
    for t in lark_toks:
        assert t.start_pos is not None and t.end_pos is not None
        gaps.append(_gap(text[pos : t.start_pos], bool(toks), True, pos - line_start))
        offset_of[t.start_pos] = len(toks)
        toks.append(Tok(t.type, str(t), t.line or 1, (t.column or 1) - 1))
        pos = t.end_pos
        nl = text.rfind("\n", 0, pos)
        line_start = nl + 1
    gaps.append(_gap(text[pos:], bool(toks), False, pos - line_start))
    stmt_start: set[int] = set()
    setting_start: set[int] = set()
    for st in tree.children:
        if isinstance(st, Tree):
            stmt_start.add(offset_of[st.meta.start_pos])
            if st.data == "train_stmt":
                setting_start.update(offset_of[s.meta.start_pos] for s in st.children if isinstance(s, Tree))
    return Scan(toks, gaps, stmt_start, setting_start, module_of(tree, text, file))
