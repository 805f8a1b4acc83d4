"""One document through the real front end: text -> diagnostics (by file) and what the editor
features read (the main file's syntax tree, the definitions in force, the expanded graph).

The checks are exactly `netc check`'s: decode, parse, load with `use` imports, expand, list
the variants. Open editors' unsaved texts replace the disk copies of imported files. After an
error that leaves the rest of the file meaningful (a bad training setting, a definition given
twice) the offending statement is blanked out, positions kept, and the check runs again, so
independent mistakes are all reported; an error in the network stops at the first, as
`netc check` does. Nothing here knows about LSP transport (see `server.py`).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from dsl.core.graph import Graph
from dsl.errors import NetError, Span
from dsl.front import ast
from dsl.front.deep import deep
from dsl.front.loader import PRELUDE, PRELUDE_NAME, STRING_FILE, load_saved, loads_program
from dsl.front.parser import parse
from dsl.front.program import Program
from dsl.front.source import decode, read_source
from dsl.front.unused import unknown_names
from dsl.lsp.positions import Lines, Range

MAX_ERRORS = 20  # independent errors reported per document (each costs one more check)
KEYWORDS = ("input", "train", "use")
_AT = re.compile(r"^(.*):(\d+):(\d+)$")  # an unlocated error's `file` may end in :line:col


@dataclass(frozen=True)
class Related:
    """A note of a diagnostic: where, and what it says about that place."""

    path: str
    range: Range
    message: str


@dataclass(frozen=True)
class Diagnostic:
    """One error, located in the file `path`."""

    path: str
    range: Range
    message: str
    related: tuple[Related, ...] = ()
    severity: str = "error"  # or "warning": a file that is still valid (a misspelt name in an unused definition)


@dataclass
class Analysis:
    """What one check of one document found."""

    path: str  # the document's file path (absolute), or `<string>` for an unsaved buffer
    text: str  # the editor's text
    encoding: str
    diagnostics: dict[str, list[Diagnostic]] = field(default_factory=dict)
    module: ast.Module | None = None  # the document's syntax tree (None when it does not parse)
    program: Program | None = None
    graph: Graph | None = None
    defs: dict[str, ast.Def] = field(default_factory=dict)  # every definition the file can name
    files: frozenset[str] = frozenset()  # the other files it read (re-check when one changes)
    cache: dict[str, object] = field(default_factory=dict, repr=False)  # what features derive (the index)
    _lines: dict[str, Lines] = field(default_factory=dict, repr=False)

    def lines(self, path: str, text: str = "") -> Lines:
        """The `Lines` of a file this analysis saw (the editor's text for the document itself)."""
        got = self._lines.get(path)
        if got is None:
            got = self._lines[path] = Lines(self.text if path == self.path else text, self.encoding)
        return got

    def span_path(self, span: Span) -> str:
        """The file path of a span (the prelude's real location; the document's own path)."""
        return file_path(span.file, self.path)

    def range_of(self, span: Span) -> Range:
        """A span as an LSP range in its own file."""
        return self.lines(self.span_path(span), span.text).span_range(span)

    @property
    def ok(self) -> bool:
        """Whether the document checked without error (warnings aside)."""
        return not any(d.severity == "error" for ds in self.diagnostics.values() for d in ds)


def file_path(shown: str, main: str) -> str:
    """A file as the front end names it -> its path (`prelude.net` is netc's own)."""
    if shown == main:
        return main
    if shown == PRELUDE_NAME:
        return str(PRELUDE)
    return os.path.abspath(shown)


@functools.lru_cache(maxsize=1)
def prelude_defs() -> dict[str, ast.Def]:
    """The prelude's definitions, for documents whose imports cannot be read."""
    return {d.name: d for d in parse(read_source(PRELUDE, display=PRELUDE_NAME), PRELUDE_NAME).defs}


class _Sources(Mapping[str, str]):
    """The texts the loader reads: the document, open editors' texts, else the disk."""

    def __init__(self, main: str, text: str, others: Mapping[str, str]):
        self.main, self.text = main, text
        self.others = {os.path.normpath(k): v for k, v in others.items()}

    def __getitem__(self, key: str) -> str:
        if key == self.main:
            return self.text
        path = os.path.normpath(key)
        if path in self.others:
            return decode(self.others[path].encode("utf-8", "surrogatepass"), path)
        if not os.path.exists(path):
            raise NetError(f"no such file '{path}'", file=path, hint="imports are relative to the importing file")
        return read_source(path, display=path)

    def __iter__(self) -> Iterator[str]:
        return iter([self.main, *self.others])

    def __len__(self) -> int:
        return 1 + len(self.others)


def _load(text: str, path: str, others: Mapping[str, str]) -> Program:
    """The program, imports read from `others` (open editors) before the disk."""
    if not others or path == STRING_FILE:
        return loads_program(text, path)
    return load_saved(_Sources(path, text, others), path)


def _check(text: str, path: str, others: Mapping[str, str]) -> tuple[Program | None, Graph | None, NetError | None]:
    """What `netc check` does: load, expand, list the variants (graph() lists them first)."""
    try:
        program = _load(text, path, others)
    except NetError as err:
        return None, None, err
    try:
        return program, program.graph(), None
    except NetError as err:
        return program, None, err


def _parsed(text: str, path: str) -> ast.Module | None:
    try:
        return parse(text, path)
    except NetError:
        return None


def _blankable(err: NetError, module: ast.Module | None, path: str) -> Span | None:
    """The statement to blank out after `err` so that the check can go on, when the rest of the
    file does not depend on it: a training setting, a second definition of a name."""
    span = err.span
    if span is None or module is None or span.file != path:
        return None
    for s in module.settings:
        if s.span == span:
            return s.span
    names = [d.name for d in module.defs]
    for d in module.defs:
        if d.name_span == span and (names.count(d.name) > 1 or d.name in KEYWORDS):
            return d.span
    return None


def _blank(text: str, span: Span) -> str:
    """`text` with the span's characters turned to spaces (line breaks kept, so positions hold)."""
    starts = [0]
    for line in text.split("\n"):
        starts.append(starts[-1] + len(line) + 1)
    a = starts[span.line - 1] + span.col - 1
    b = starts[span.end_line - 1] + span.end_col - 1
    return text[:a] + re.sub(r"[^\n]", " ", text[a:b]) + text[b:]


def _is_library(err: NetError, module: ast.Module | None, path: str) -> bool:
    """Whether `err` only says that the file describes no network, and it is a library of definitions."""
    if err.span is not None or err.file != path or module is None or module.net is not None:
        return False
    return not any(d.name == "net" for d in module.defs)


@deep
def analyze(text: str, path: str, others: Mapping[str, str] | None = None, encoding: str = "utf-16") -> Analysis:
    """Check one document's text (`path` is its file, for imports and messages; `others` maps
    open editors' paths to their texts). Never raises for anything in the text."""
    others = {k: v for k, v in (others or {}).items() if k != path}
    result = Analysis(path, text, encoding)
    report = _Reporter(result)
    try:
        source = decode(text.encode("utf-8", "surrogatepass"), path)
    except NetError as err:
        report.add(err)
        return result
    errors: list[NetError] = []
    work, module = source, None
    program = graph = None
    for _ in range(MAX_ERRORS):
        program, graph, found = _check(work, path, others)
        if found is None:
            break
        module = program.main if program is not None else _parsed(work, path)
        if program is None and _is_library(found, module, path):
            break
        errors.append(found)
        span = _blankable(found, module, path) if program is None else None
        if span is None:
            break
        work = _blank(work, span)
    if program is not None:
        module = program.main
        result.defs = program.defs
        result.files = frozenset(file_path(f, path) for f in program.sources if f != path)
    elif module is not None:
        result.defs = {**prelude_defs(), **{d.name: d for d in module.defs}}
        result.files = frozenset(file_path(_import_path(path, u.path), path) for u in module.uses)
    else:  # mid-edit text that does not parse: the prelude's names still complete
        result.defs = dict(prelude_defs())
    result.module, result.program, result.graph = module, program, graph
    for e in errors:
        report.add(e)
    if module is not None and module.file == path:
        for u in unknown_names(module, result.defs):
            result.diagnostics.setdefault(path, []).append(
                Diagnostic(path, result.range_of(u.span), u.message, severity="warning")
            )
    return result


def _import_path(importer: str, target: str) -> str:
    base = os.path.dirname(importer) if importer != STRING_FILE else ""
    return os.path.normpath(os.path.join(base, target))


class _Reporter:
    """NetErrors -> diagnostics: each in the file it points at, and in the document itself."""

    def __init__(self, result: Analysis):
        self.result = result
        self.path = result.path

    def add(self, err: NetError) -> None:
        """Record one error (an error elsewhere also shows at the document's `use` line)."""
        r = self.result
        related = tuple(Related(r.span_path(s), r.range_of(s), text) for text, s in err.notes)
        message = err.message + (f"\nhint: {err.hint}" if err.hint else "")
        where: tuple[str, Range] | None = None
        if err.span is not None:
            where = (r.span_path(err.span), r.range_of(err.span))
        elif err.file is not None:
            m = _AT.match(err.file)
            shown = m.group(1) if m else err.file
            target = file_path(shown, self.path)
            if target == self.path or m:
                lines = r.lines(target)
                line, col = (int(m.group(2)), int(m.group(3))) if m else (1, 1)
                where = (target, lines.span_range(Span(shown, line, col, line, col + 1)))
            else:
                where = (target, Range((0, 0), (0, 0)))
        if where is not None and where[0] == self.path:
            self._put(Diagnostic(self.path, where[1], message, related))
            return
        if where is not None and where[0] != str(PRELUDE) and err.span is not None:
            self._put(Diagnostic(where[0], where[1], message, related))
        anchor = self._anchor(where[0] if where else None)
        inner = (Related(where[0], where[1], "the error is here"),) if where and err.span is not None else ()
        shown = os.path.relpath(where[0], os.path.dirname(self.path) or ".") if where else ""
        prefix = f"in {shown}: " if where else ""
        self._put(Diagnostic(self.path, anchor, prefix + message, inner + related))

    def _anchor(self, target: str | None) -> Range:
        """Where the document shows an error found in another file: the `use` line that leads
        there (the first one when the path is indirect), else the network line, else the top."""
        module = self.result.module or _parsed_quiet(self.result)
        r = self.result
        if module is not None:
            for u in module.uses:
                if file_path(_import_path(self.path, u.path), self.path) == target:
                    return r.range_of(u.span)
            if module.uses and target != str(PRELUDE):
                return r.range_of(module.uses[0].span)
            if module.net is not None:
                return r.range_of(module.net.span)
        lines = r.lines(self.path)
        return Range((0, 0), (0, max(1, len(lines.line_text(0)))))

    def _put(self, d: Diagnostic) -> None:
        self.result.diagnostics.setdefault(d.path, []).append(d)


def _parsed_quiet(result: Analysis) -> ast.Module | None:
    try:
        return parse(decode(result.text.encode("utf-8", "surrogatepass"), result.path), result.path)
    except NetError:
        return None
