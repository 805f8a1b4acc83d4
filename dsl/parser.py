"""Text -> `ast.Module`: the lark LALR parser, with positions and friendly syntax errors."""
from __future__ import annotations

import functools
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from . import ast
from .errors import NetError, Span

MAX_FILE_BYTES = 1 << 20  # a .net file is a page of text; anything bigger is a mistake or an attack
MAX_NESTING = 200

_TERMINALS = {
    "NAME": "a name", "SIGNED_NUMBER": "a number", "INT": "a whole number", "STRING": "a string",
    "SHAPE": "a shape such as 3x32x32", "LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'",
    "LBRACE": "'{'", "RBRACE": "'}'", "COMMA": "','", "EQUAL": "'='", "STAR": "'*'", "CIRCUMFLEX": "'^'",
    "QMARK": "'?'", "VBAR": "'|'", "__ANON_0": "'->'", "$END": "end of file",
    "USE": "'use'", "INPUT": "'input'", "TRAIN": "'train'", "TRUE": "'true'", "FALSE": "'false'",
}


def grammar_path() -> Path:
    """The grammar ships as `grammar/net.lark` (source tree) or `dsl/grammar/` (wheel)."""
    here = Path(__file__).resolve().parent
    for cand in (here.parent / "grammar" / "net.lark", here / "grammar" / "net.lark"):
        if cand.is_file():
            return cand
    from importlib import resources
    return Path(str(resources.files("dsl.grammar") / "net.lark"))


@functools.lru_cache(maxsize=1)
def _lark() -> Lark:
    return Lark(grammar_path().read_text(encoding="utf-8"), parser="lalr", propagate_positions=True,
                maybe_placeholders=True)


def read_source(path: str | Path, span: Span | None = None) -> str:
    """Read a .net file as UTF-8 text, refusing huge, binary or unreadable files cleanly."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if p.is_dir():
            raise NetError(f"'{path}' is a directory, not a .net file", span, file=str(path))
        if size > MAX_FILE_BYTES:
            raise NetError(f"'{path}' is {size:,} bytes; .net files are limited to {MAX_FILE_BYTES:,} bytes",
                           span, file=str(path))
        data = p.read_bytes()
    except FileNotFoundError:
        raise NetError(f"no such file: '{path}'", span, file=str(path)) from None
    except PermissionError:
        raise NetError(f"cannot read '{path}': permission denied", span, file=str(path)) from None
    except IsADirectoryError:
        raise NetError(f"'{path}' is a directory, not a .net file", span, file=str(path)) from None
    except OSError as e:
        raise NetError(f"cannot read '{path}': {e.strerror or e}", span, file=str(path)) from None
    return decode(data, str(path))


def decode(data: bytes, file: str) -> str:
    if len(data) > MAX_FILE_BYTES:
        raise NetError(f"input is {len(data):,} bytes; .net files are limited to {MAX_FILE_BYTES:,} bytes", file=file)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise NetError(f"{file}:{line}:{col} is not valid UTF-8 (byte 0x{data[e.start]:02x}); "
                       ".net files are UTF-8 text", file=f"{file}:{line}:{col}") from None
    if "\x00" in text:
        line = text[:text.index("\x00")].count("\n") + 1
        raise NetError("file contains a NUL byte: it looks binary, not a .net text file",
                       Span(file, line, 1, line, 2, text))
    return text.lstrip("\ufeff")


def parse(text: str, file: str = "<string>") -> ast.Module:
    """Parse one file's text into an `ast.Module` (no name resolution yet)."""
    _check_nesting(text, file)
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as e:
        raise _syntax_error(e, text, file) from None
    try:
        return _ToAst(file, text).transform(tree)
    except VisitError as e:
        if isinstance(e.orig_exc, NetError):
            raise e.orig_exc from None
        raise


def _check_nesting(text: str, file: str) -> None:
    """Refuse absurd bracket nesting before lark's recursive tree walk would overflow."""
    depth, line, col = 0, 1, 0
    for ch in text:
        col += 1
        if ch == "\n":
            line, col = line + 1, 0
        elif ch in "([{":
            depth += 1
            if depth > MAX_NESTING:
                raise NetError(f"brackets nested more than {MAX_NESTING} deep", Span(file, line, col, line, col + 1, text))
        elif ch in ")]}":
            depth = max(0, depth - 1)


def _syntax_error(e: UnexpectedInput, text: str, file: str) -> NetError:
    line, col = max(1, e.line or 1), max(1, e.column or 1)
    if isinstance(e, UnexpectedEOF) or (isinstance(e, UnexpectedToken) and e.token.type == "$END"):
        lines = text.splitlines() or [""]
        line, col = len(lines), len(lines[-1]) + 1
        expected = sorted(_describe(t) for t in (e.expected or []))
        return NetError("unexpected end of file" + (f"; expected {_one_of(expected)}" if expected else ""),
                        Span(file, line, col, line, col + 1, text))
    if isinstance(e, UnexpectedCharacters):
        ch = text[e.pos_in_stream] if e.pos_in_stream is not None and e.pos_in_stream < len(text) else "?"
        hint = None
        if ch == "'":
            hint = "strings use double quotes: \"file.net\""
        elif ch == "\t":
            hint = None
        return NetError(f"unexpected character {ch!r}", Span(file, line, col, line, col + 1, text), hint=hint)
    assert isinstance(e, UnexpectedToken)
    tok = e.token
    expected = sorted({_describe(t) for t in e.expected if not t.startswith("__")} |
                      ({"'->'"} if "__ANON_0" in e.expected else set()))
    width = max(1, len(str(tok)))
    hint = None
    if tok.type == "NAME" and "'->'" in expected:
        hint = "two blocks side by side need '->' between them"
    elif tok.type in ("USE", "INPUT", "TRAIN"):
        hint = f"'{tok}' is a keyword and starts its own statement"
    return NetError(f"unexpected {_describe(tok.type) if tok.type != 'NAME' else repr(str(tok))}"
                    + (f"; expected {_one_of(expected)}" if expected else ""),
                    Span(file, line, col, line, col + width, text), hint=hint)


def _describe(term: str) -> str:
    return _TERMINALS.get(term, f"'{term.lower()}'")


def _one_of(items: list[str]) -> str:
    items = list(dict.fromkeys(items))
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " or " + items[-1]


class _ToAst(Transformer):
    """lark tree -> ast dataclasses; also checks the left side of definitions."""

    def __init__(self, file: str, text: str):
        super().__init__()
        self.file, self.text = file, text

    def _span(self, meta_or_tok) -> Span:
        m = meta_or_tok
        if isinstance(m, Token):
            return Span(self.file, m.line, m.column, m.end_line, m.end_column, self.text)
        if getattr(m, "empty", False):
            return Span(self.file, 1, 1, 1, 2, self.text)
        return Span(self.file, m.line, m.column, m.end_line, m.end_column, self.text)

    # ---- expressions
    @v_args(meta=True)
    def ref(self, meta, children):
        return ast.Ref(str(children[0]), self._span(meta))

    @v_args(meta=True)
    def call(self, meta, children):
        name, arglist = children
        args, kwargs = [], []
        for a in (arglist or []):
            if isinstance(a, ast.Kwarg):
                if any(k.name == a.name for k in kwargs):
                    raise NetError(f"keyword argument '{a.name}' given twice", a.span)
                kwargs.append(a)
            elif kwargs:
                raise NetError("positional argument after a keyword argument", _expr_span(a))
            else:
                args.append(a)
        return ast.Call(str(name), args, kwargs, self._span(meta), self._span(name))

    def arglist(self, children):
        return list(children)

    @v_args(meta=True)
    def kwarg(self, meta, children):
        return ast.Kwarg(str(children[0]), children[1], self._span(meta))

    @v_args(meta=True)
    def literal(self, meta, children):
        return ast.Literal(children[0], self._span(meta))

    @v_args(meta=True)
    def literal_string(self, meta, children):
        return ast.Literal(str(children[0])[1:-1], self._span(meta))

    @v_args(meta=True)
    def literal_true(self, meta, children):
        return ast.Literal(True, self._span(meta))

    @v_args(meta=True)
    def literal_false(self, meta, children):
        return ast.Literal(False, self._span(meta))

    def number(self, children):
        s = str(children[0])
        try:
            v = int(s)
        except ValueError:
            v = float(s)
            if v != v or v in (float("inf"), float("-inf")):
                raise NetError(f"number {s} is out of range", self._span(children[0]))
        return v

    @v_args(meta=True)
    def sequence(self, meta, children):
        items = []
        for c in children:  # flatten nested chains so a -> (b -> c) reads as one chain
            items.extend(c.items if isinstance(c, ast.Seq) else [c])
        return ast.Seq(items, self._span(meta))

    @v_args(meta=True)
    def alternatives(self, meta, children):
        return ast.Alt(list(children), self._span(meta))

    @v_args(meta=True)
    def optional(self, meta, children):
        return ast.Opt(children[0], self._span(meta))

    @v_args(meta=True)
    def scale(self, meta, children):
        return ast.Scale(children[0], float(children[1]), self._span(meta))

    @v_args(meta=True)
    def repeat(self, meta, children):
        body, times = children
        return ast.Repeat(body, int(times), self._span(meta))

    # ---- settings values
    def string(self, c):
        return str(c[0])[1:-1]

    def true(self, c):
        return True

    def false(self, c):
        return False

    def symbol(self, c):
        return str(c[0])

    def list(self, c):
        return [x for x in c if x is not None]

    def tuple(self, c):
        return tuple(c)

    # ---- statements
    @v_args(meta=True)
    def use_stmt(self, meta, c):
        return ast.Use(str(c[0])[1:-1], self._span(meta))

    @v_args(meta=True)
    def input_stmt(self, meta, c):
        dims = tuple(int(x) for x in str(c[0]).split("x"))
        return ("input", dims, self._span(meta))

    @v_args(meta=True)
    def setting(self, meta, c):
        return ast.Setting(str(c[0]), c[1], self._span(meta))

    @v_args(meta=True)
    def train_stmt(self, meta, c):
        return ("train", list(c), self._span(meta))

    @v_args(meta=True)
    def def_or_net(self, meta, c):
        lhs, label, rhs = c
        span = self._span(meta)
        if rhs is None:
            if label is not None:
                raise NetError("a label string belongs in a definition: name \"Label\" = ...",
                               self._span(label))
            return ("net", lhs, span)
        label_text = str(label)[1:-1] if label is not None else None
        if isinstance(lhs, ast.Ref):
            return ast.Def(lhs.name, [], label_text, rhs, span, lhs.span, self.file)
        if isinstance(lhs, ast.Call):
            params = []
            for a in lhs.args:
                if not isinstance(a, ast.Ref):
                    raise NetError("a parameter must be a plain name, optionally with a default: name or name=value",
                                   _expr_span(a))
                params.append(ast.Param(a.name, None, a.span))
            for k in lhs.kwargs:
                params.append(ast.Param(k.name, k.value, k.span))
            seen = set()
            for p in params:
                if p.name in seen:
                    raise NetError(f"parameter '{p.name}' appears twice", p.span)
                seen.add(p.name)
            return ast.Def(lhs.name, params, label_text, rhs, span, lhs.name_span, self.file)
        raise NetError("the left side of '=' must be a name or name(parameters)", _expr_span(lhs),
                       hint="definitions look like: conv_bn(c, k=3) = conv(c, k) -> bn -> relu")

    def start(self, children):
        mod = ast.Module(self.file, self.text)
        for st in children:
            if isinstance(st, ast.Def):
                mod.defs.append(st)
            elif isinstance(st, ast.Use):
                mod.uses.append(st)
            elif st[0] == "input":
                if mod.input_shape is not None:
                    raise NetError("'input' is declared twice", st[2], notes=[("first declared here", mod.input_span)])
                mod.input_shape, mod.input_span = st[1], st[2]
            elif st[0] == "train":
                mod.settings.extend(st[1])
            elif st[0] == "net":
                if mod.net is not None:
                    raise NetError("a second network expression; a file describes one network",
                                   st[2], notes=[("the first one is here", mod.net_span)],
                                   hint="to name a block, write name = ...; to chain blocks, join them with '->'")
                mod.net, mod.net_span = st[1], st[2]
        return mod


def _expr_span(e) -> Span:
    return e.span
