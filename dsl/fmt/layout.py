"""The canonical layout of a scanned .net text (the rules are listed in docs/language.md, "Formatting").

Only whitespace changes: every token is written as it was read, in the same order, so the
parser sees the same token sequence and the file keeps its meaning. Line breaks inside a
statement are the author's, moved to the canonical places (before `->` and `|`, after `,`,
after an opening bracket or a definition's `=`) or dropped elsewhere; lines longer than
`WIDTH` get breaks at the loosest place that makes them fit. Indentation is computed.
"""

from __future__ import annotations

from dataclasses import dataclass

from dsl.fmt.tokens import Comment, Gap, Scan, Tok

WIDTH = 120  # code columns (as the repository's Python); end-of-line comments may run past it
INDENT = 4  # continuation lines of an expression
TRAIN_INDENT = 2  # settings inside `train { }`

_OPEN = {"(": ")", "[": "]"}
_CLOSE = {")", "]"}
_TIGHT_BEFORE = {",", ")", "]", "?", "^", "*", "/", "//", ":", ".."}
_TIGHT_AFTER = {"(", "[", "^", "*", "/", "//", ".."}
_OPERAND_END = {"NAME", "NUMBER", "STRING", "TRUE", "FALSE", "INT", "SHAPE", "SIGNED_NUMBER", "RPAR", "RSQB", "QMARK"}
_LOOSENESS = {",": 0, "|": 1, "->": 2}  # where an over-long line breaks first, loosest first


@dataclass(frozen=True)
class _Frame:
    """An open bracket: the column of continuation lines inside it and of its closing bracket on a line of its own."""

    cont: int
    close: int


class _Facts:
    """What the layout needs to know about each token: bracket depth, matching brackets, roles."""

    def __init__(self, sc: Scan):
        toks = sc.toks
        self.depth: list[int] = []  # brackets ( [ open before the token
        self.match: dict[int, int] = {}  # opening bracket -> closing bracket and back
        self.in_train: list[bool] = []
        stack: list[int] = []
        brace = False
        for i, t in enumerate(toks):
            if t.text in _CLOSE and stack:
                j = stack.pop()
                self.match[i], self.match[j] = j, i
            self.depth.append(len(stack))
            if t.text in _OPEN:
                stack.append(i)
            brace = (brace or t.text == "{") and t.text != "}"
            self.in_train.append(brace)
        self.toks = toks

    def unary_minus(self, i: int) -> bool:
        """Whether token i is a prefix minus (the one before it cannot end an operand)."""
        return self.toks[i].text == "-" and (i == 0 or self.toks[i - 1].kind not in _OPERAND_END)

    def def_equals(self, i: int) -> bool:
        """Whether token i is a definition's `=` (not a keyword argument's or a training setting's)."""
        return self.toks[i].text == "=" and self.depth[i] == 0 and not self.in_train[i]

    def space_before(self, i: int) -> str:
        """The space between tokens i-1 and i on one line."""
        prev, t = self.toks[i - 1], self.toks[i]
        if t.text in _TIGHT_BEFORE or prev.text in _TIGHT_AFTER or self.unary_minus(i - 1):
            return ""
        if t.text == "}" and prev.text == "{":
            return ""
        if t.text in _OPEN and prev.kind == "NAME":
            return ""
        if (t.text == "=" and self.depth[i] > 0) or (prev.text == "=" and self.depth[i - 1] > 0):
            return ""
        return " "


def _inline_train(sc: Scan, facts: _Facts, width: int) -> set[int]:
    """The tokens inside `train { }` blocks written on one line that still fit on one: they stay there."""
    toks, gaps = sc.toks, sc.gaps
    inline: set[int] = set()
    i = 0
    while i < len(toks):
        if toks[i].text != "{":
            i += 1
            continue
        k = next((j for j in range(i + 1, len(toks)) if toks[j].text == "}"), len(toks) - 1)
        inside = range(i + 1, k + 1)
        one_line = all(gaps[j].newlines == 0 for j in inside)
        length = len(toks[i - 1].text) + 2 + sum(len(facts.space_before(j)) + len(toks[j].text) for j in inside)
        if one_line and length <= width:
            inline.update(inside)
        i = k + 1
    return inline


def _breaks(sc: Scan, facts: _Facts, width: int) -> tuple[list[bool], list[bool]]:
    """Which gaps break the line (`brk[i]`: before token i) and which of those keep a blank line."""
    toks, gaps, n = sc.toks, sc.gaps, len(sc.toks)
    inline = _inline_train(sc, facts, width)
    forced = [False] * n
    for i in range(n):
        prev = toks[i - 1].text if i else ""
        comments = bool(gaps[i].comments())
        if i == 0 or i in sc.stmt_start or comments:
            forced[i] = True
        elif i in inline:
            continue
        elif i in sc.setting_start or prev == "{" or toks[i].text == "}":
            forced[i] = not (prev == "{" and toks[i].text == "}")
    brk = list(forced)
    blank = [any(x is None for x in g.lines) and not g.comments() for g in gaps[:n]]
    want = [False] * (n + 1)
    want_blank = [False] * (n + 1)
    for i in range(1, n):
        if forced[i] or gaps[i].newlines == 0:
            continue
        target = i
        if toks[i - 1].text in ("->", "|"):
            target = i - 1  # `a ->` / `b` becomes `a` / `-> b`
        elif toks[i].text == ",":
            target = i + 1  # `a` / `, b` becomes `a,` / `b`
        want[target] = True
        want_blank[target] = want_blank[target] or blank[i]
    for i in range(1, n):
        if not want[i] or forced[i]:
            continue
        prev, t = toks[i - 1].text, toks[i].text
        if t in ("->", "|") or prev == "," or prev in _OPEN or t in _CLOSE or facts.def_equals(i - 1):
            brk[i] = True
    for i in range(n):
        if toks[i].text in _OPEN and i in facts.match:
            k = facts.match[i]
            hanging = brk[i + 1] and (k != i + 1 or forced[i + 1])
            brk[i + 1] = brk[i + 1] and (hanging or forced[i + 1])
            brk[k] = hanging or forced[k]
    keep_blank = [brk[i] and (blank[i] or want_blank[i]) for i in range(n)]
    return brk, keep_blank


class _Writer:
    """Emits lines: code, end-of-line comments at their column, own-line comments, blank lines."""

    def __init__(self, width: int):
        self.width = width
        self.lines: list[str] = []
        self.cur = ""  # the code of the line being built
        self.indent = 0  # its indentation
        self.open_line = False

    def start(self, indent: int) -> None:
        """Begin a code line at `indent`."""
        self.cur, self.indent, self.open_line = " " * indent, indent, True

    def finish(self, eol: Comment | None, same_line: bool = False) -> None:
        """End the current code line, with its end-of-line comment if any. The comment keeps its
        column (hand-aligned comments stay aligned) if `same_line` (the line was a line of the
        input too) and the code leaves a space before it; else it goes two spaces after the code."""
        if not self.open_line:
            return
        line = self.cur.rstrip()
        if eol is not None:
            end = len(line)
            at = eol.col if same_line and end + 1 <= eol.col <= self.width else end + 2
            line = line + " " * (at - end) + eol.text
        self.lines.append(line)
        self.cur, self.open_line = "", False

    def own_lines(self, items: list[Comment | None], indent: int, blank_ok: bool) -> bool:
        """Whole-line comments and blank lines (runs of blanks become one); returns a pending blank."""
        pending = False
        for item in items:
            if item is None:
                pending = blank_ok and bool(self.lines)
                continue
            if pending:
                self.lines.append("")
                pending = False
            self.lines.append(" " * indent + item.text)
            blank_ok = True
        return pending


def canonical_text(sc: Scan, width: int = WIDTH) -> str:
    """The canonical text of a scanned file."""
    facts = _Facts(sc)
    brk, keep_blank = _breaks(sc, facts, width)
    toks, gaps, n = sc.toks, sc.gaps, len(sc.toks)
    w = _Writer(width)
    stack: list[_Frame] = []
    base, base_depth, margin = 0, 0, INDENT
    cands: list[tuple[int, int, int, list[_Frame], int, str]] = []  # candidate breaks on the current line
    overflowing = False
    first = 0  # the first token of the line being built
    i = 0
    while i < n:
        t: Tok = toks[i]
        gap: Gap = gaps[i]
        if overflowing and not brk[i] and _candidate(toks, i):
            brk[i] = True
        if brk[i]:
            w.finish(gap.eol, _same_line(toks, gaps, first, i - 1))
            if i in sc.stmt_start:
                stack, base, base_depth, margin = [], 0, 0, INDENT
                ctx = 0
            elif i in sc.setting_start or t.text == "}":
                ctx = stack[-1].cont if stack else TRAIN_INDENT
                if i in sc.setting_start:
                    base, base_depth, margin = ctx, len(stack), ctx + INDENT
            else:
                ctx = stack[-1].cont if len(stack) > base_depth else margin
            after_open = i > 0 and toks[i - 1].text in ("(", "[", "{")
            pending = (
                w.own_lines(gap.lines, ctx, not after_open) if gap.comments() else keep_blank[i] and not after_open
            )
            if pending and t.text not in _CLOSE and t.text != "}" and w.lines:
                w.lines.append("")
            if t.text in _CLOSE or t.text == "}":
                indent = stack[-1].close if stack else 0
            else:
                indent = ctx
            w.start(indent)
            cands, overflowing, first = [], False, i
            if t.text in _CLOSE and len(stack) - 1 == base_depth and indent == base:
                margin = base  # after `]` at the margin, the chain goes on at the margin
        else:
            if _candidate(toks, i):
                score = (len(stack), _LOOSENESS[t.text if t.text in _LOOSENESS else ","])
                cands.append((i, *score, list(stack), margin, w.cur))
            w.cur += facts.space_before(i)
        line_indent = w.indent
        w.cur += t.text
        if t.text in _OPEN:
            if i + 1 < n and brk[i + 1]:
                stack.append(_Frame(line_indent + INDENT, line_indent))
            else:
                stack.append(_Frame(len(w.cur), line_indent))
        elif t.text == "{":
            stack.append(_Frame(line_indent + TRAIN_INDENT, line_indent))
        elif (t.text in _CLOSE or t.text == "}") and stack:
            stack.pop()
        if len(w.cur) > width and not overflowing:  # (the line ends with a token: no trailing space)
            fitting = [c for c in cands if len(c[5]) <= width]
            if fitting:
                best = min(fitting, key=lambda c: (c[1], c[2], -c[0]))
                i, stack, margin, w.cur = best[0], best[3], best[4], best[5]
                brk[i] = True
                continue
            overflowing = True
        i += 1
    w.finish(gaps[n].eol if n else None, _same_line(toks, gaps, first, n - 1))
    w.own_lines(gaps[n].lines, 0, True)
    return "\n".join(w.lines) + "\n" if w.lines else ""


def _candidate(toks: list[Tok], i: int) -> bool:
    """Whether an over-long line may break before token i (before `->` or `|`, after a comma)."""
    t = toks[i].text
    return t in ("->", "|") or (i > 0 and toks[i - 1].text == "," and t not in _CLOSE)


def _same_line(toks: list[Tok], gaps: list[Gap], first: int, last: int) -> bool:
    """Whether tokens first..last were one whole input line's start (so an end-of-line comment after them
    may keep its input column)."""
    return 0 <= first <= last and (first == 0 or gaps[first].newlines > 0) and toks[first].line == toks[last].line
