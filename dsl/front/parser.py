"""Text -> `ast.Module`: the lark LALR parser, with positions and friendly syntax errors."""

from __future__ import annotations

import functools
from decimal import Decimal
from pathlib import Path
from typing import Any

from lark import Lark, Token, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError
from lark.tree import Meta, Tree
from lark.visitors import Transformer_NonRecursive

from dsl.errors import NetError, Span
from dsl.front import ast

MAX_DEPTH = 200  # expression nesting (brackets, calls, postfix operators) within one statement
MAX_DIGITS = 18  # whole numbers in a .net file; beyond, Python's int/float conversions misbehave

_TERMINALS = {
    "NAME": "a name",
    "SIGNED_NUMBER": "a number",
    "INT": "a whole number",
    "STRING": "a string",
    "SHAPE": "a shape such as 3x32x32",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "DOTDOT": "'..'",
    "STEP": "'step'",
    "COMMA": "','",
    "EQUAL": "'='",
    "STAR": "'*'",
    "CIRCUMFLEX": "'^'",
    "QMARK": "'?'",
    "VBAR": "'|'",
    "__ANON_0": "'->'",
    "__ANON_1": "'//'",
    "NUMBER": "a number",
    "COLON": "':'",
    "PLUS": "'+'",
    "MINUS": "'-'",
    "SLASH": "'/'",
    "$END": "end of file",
    "USE": "'use'",
    "INPUT": "'input'",
    "TRAIN": "'train'",
    "TRUE": "'true'",
    "FALSE": "'false'",
}


_OPERATORS = {"PLUS", "MINUS", "STAR", "SLASH", "__ANON_1", "CIRCUMFLEX", "QMARK", "COLON"}


def grammar_path() -> Path:
    """The grammar ships as `grammar/net.lark` (source tree) or `dsl/grammar/` (wheel)."""
    package = Path(__file__).resolve().parents[1]  # dsl/
    for cand in (package.parent / "grammar" / "net.lark", package / "grammar" / "net.lark"):
        if cand.is_file():
            return cand
    from importlib import resources

    return Path(str(resources.files("dsl.grammar") / "net.lark"))


@functools.lru_cache(maxsize=1)
def _lark() -> Lark:
    """The grammar, built once per process."""
    return Lark(
        grammar_path().read_text(encoding="utf-8"), parser="lalr", propagate_positions=True, maybe_placeholders=True
    )


def lark_parser() -> Lark:
    """The grammar's shared lark LALR parser, for tools that need its tokens (`netc fmt`, the editor support)."""
    return _lark()


def module_of(tree: Tree, text: str, file: str) -> ast.Module:
    """The `ast.Module` of lark's parse tree of `text` (what `parse` builds after lark's parse), with
    the same checks and errors; for tools that ran the lark parser themselves (`netc fmt`)."""
    try:
        module: ast.Module = _ToAst(file, text).transform(tree)
    except VisitError as e:
        if isinstance(e.orig_exc, NetError):
            raise e.orig_exc from None
        raise
    return module


def syntax_error(e: UnexpectedInput, text: str, file: str) -> NetError:
    """The located `NetError` for a lark syntax error in `text` (what `parse` raises for it)."""
    return _syntax_error(e, text, file)


def parse(text: str, file: str = "<string>") -> ast.Module:
    """Parse one file's text into an `ast.Module` (no name resolution yet).

    Neither lark's LALR parser nor the tree transformer recurses, so no input can exhaust
    Python's stack here; nesting beyond `MAX_DEPTH` is refused with its location."""
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as e:
        raise _syntax_error(e, text, file) from None
    return module_of(tree, text, file)


def _syntax_error(e: UnexpectedInput, text: str, file: str) -> NetError:
    line, col = max(1, e.line or 1), max(1, e.column or 1)
    if isinstance(e, UnexpectedEOF) or (isinstance(e, UnexpectedToken) and e.token.type == "$END"):
        lines = text.splitlines() or [""]
        line, col = len(lines), len(lines[-1]) + 1
        expected = sorted(_describe(t) for t in (e.expected or []))
        return NetError(
            "unexpected end of file" + (f"; expected {_one_of(expected)}" if expected else ""),
            Span(file, line, col, line, col + 1, text),
        )
    if isinstance(e, UnexpectedCharacters):
        ch = text[e.pos_in_stream] if e.pos_in_stream is not None and e.pos_in_stream < len(text) else "?"
        hint = None
        if ch == "'":
            hint = 'strings use double quotes: "file.net"'
        elif ch == "\t":
            hint = None
        return NetError(f"unexpected character {ch!r}", Span(file, line, col, line, col + 1, text), hint=hint)
    assert isinstance(e, UnexpectedToken)
    tok = e.token
    # operators that could continue an expression are left out of the list: it would name all of
    # them after every name or number, and the delimiters are what a mistake usually lacks
    wanted = {t for t in e.expected if t not in _OPERATORS} or set(e.expected)
    expected = sorted({_describe(t) for t in wanted if t != "__ANON_1" or len(wanted) == 1})
    width = max(1, len(str(tok)))
    hint = None
    if tok.type == "NAME" and "'->'" in expected:
        hint = "two blocks side by side need '->' between them"
    elif tok.type in ("USE", "INPUT", "TRAIN"):
        hint = f"'{tok}' is a keyword and starts its own statement"
    elif tok.type == "SIGNED_NUMBER" and str(tok)[:1] in "+-":
        # `relu^-1` lexes as one signed number where an operand is wanted
        hint = f"a number with a sign needs parentheses here: ({tok})"
    shown = repr(str(tok)) if tok.type in ("NAME", "SIGNED_NUMBER") else _describe(tok.type)
    return NetError(
        f"unexpected {shown}" + (f"; expected {_one_of(expected)}" if expected else ""),
        Span(file, line, col, line, col + width, text),
        hint=hint,
    )


MAX_RANGE = 10**9  # values in one range: beyond, it is a typo (a missing step), not a search


def make_range(lo: int | float, hi: int | float, step: int | float | None, span: Span) -> ast.Range:
    """The `ast.Range` of `lo..hi step s`, checked: a positive step that lands on `hi` exactly."""
    if step is None and not (isinstance(lo, int) and isinstance(hi, int)):
        raise NetError("a range of numbers that are not whole needs a step", span, hint=f"e.g. {lo}..{hi} step 0.1")
    s = 1 if step is None else step
    if s <= 0:
        raise NetError(f"a range's step must be positive, got {s}", span)
    if hi < lo:
        raise NetError(f"a range goes up: {lo}..{hi} is empty", span, hint=f"write {hi}..{lo}")
    if isinstance(lo, int) and isinstance(hi, int) and isinstance(s, int):
        count, reached = (hi - lo) // s + 1, (hi - lo) % s == 0
        below: int | float = lo + (count - 1) * s
    else:
        exact = (Decimal(repr(hi)) - Decimal(repr(lo))) / Decimal(repr(s))
        count, reached = int(exact) + 1, exact == int(exact)
        below = float(Decimal(repr(lo)) + (count - 1) * Decimal(repr(s)))
    if not reached:
        raise NetError(
            f"{lo}..{hi} in steps of {s} does not reach {hi}: its last value would be {below}",
            span,
            hint=f"end it at {below}, or pick a step that divides {hi} - {lo}",
        )
    if count > MAX_RANGE:
        raise NetError(f"a range of {count:,} values (at most {MAX_RANGE:,})", span, hint="give it a larger step")
    return ast.Range(lo, hi, step, count, span)


def _describe(term: str) -> str:
    return _TERMINALS.get(term, f"'{term.lower()}'")


def _one_of(items: list[str]) -> str:
    items = list(dict.fromkeys(items))
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " or " + items[-1]


def _check_quoted_name(text: str, span: Span) -> None:
    """A quoted block name (`"block1-0": conv(8)`) is one state_dict key part: not empty, no `.`
    (it separates the parts), `/` (netc's paths) or white space."""
    bad = next((c for c in text if c in "./" or c.isspace()), "")
    if not text or bad:
        what = "is empty" if not text else "holds white space" if bad.isspace() else f"holds {bad!r}"
        raise NetError(
            f'a block\'s quoted name {what}: "{text}"',
            span,
            hint="a quoted name is one part of a state_dict key: any characters but '.', '/' and spaces",
        )


class _ToAst(Transformer_NonRecursive):
    """lark tree -> ast dataclasses; also checks number sizes, nesting and the left side of definitions."""

    def __init__(self, file: str, text: str):
        super().__init__()
        self.file, self.text = file, text
        self.depth: dict[int, int] = {}  # id(expression node) -> nesting depth, for MAX_DEPTH

    def _span(self, m: Meta | Token) -> Span:
        if isinstance(m, Token):
            return Span(self.file, m.line or 1, m.column or 1, m.end_line or 1, m.end_column or 1, self.text)
        if getattr(m, "empty", False):
            return Span(self.file, 1, 1, 1, 2, self.text)
        return Span(self.file, m.line, m.column, m.end_line, m.end_column, self.text)

    def _nest(self, node: Any, parts: list[Any]) -> Any:
        """Record `node`'s depth (one more than its deepest part) and refuse absurd nesting."""
        d = 1 + max((self.depth.get(id(p), 0) for p in parts), default=0)
        if d > MAX_DEPTH:
            raise NetError(
                f"expression nested more than {MAX_DEPTH} levels deep (brackets, calls and postfix operators together)",
                node.span,
                hint="split it into named definitions",
            )
        self.depth[id(node)] = d
        return node

    def _whole(self, tok: Token) -> int:
        s = str(tok)
        if len(s.lstrip("+-")) > MAX_DIGITS:
            raise NetError(
                f"number with {len(s.lstrip('+-'))} digits is out of range (at most {MAX_DIGITS} digits)",
                self._span(tok),
            )
        return int(s)

    # ---- expressions
    @v_args(meta=True)
    def ref(self, meta: Meta, children: list[Token]) -> ast.Ref:
        return ast.Ref(str(children[0]), self._span(meta))

    @v_args(meta=True)
    def call(self, meta: Meta, children: list[Any]) -> ast.Call:
        name, arglist = children
        args: list[ast.Expr] = []
        kwargs: list[ast.Kwarg] = []
        for a in arglist or []:
            if isinstance(a, ast.Kwarg):
                if any(k.name == a.name for k in kwargs):
                    raise NetError(f"keyword argument '{a.name}' given twice", a.span)
                kwargs.append(a)
            elif kwargs:
                raise NetError("positional argument after a keyword argument", a.span)
            else:
                args.append(a)
        node = ast.Call(str(name), args, kwargs, self._span(meta), self._span(name))
        return self._nest(node, [*args, *(k.value for k in kwargs)])

    def arglist(self, children: list[Any]) -> list[Any]:
        return list(children)

    @v_args(meta=True)
    def kwarg(self, meta: Meta, children: list[Any]) -> ast.Kwarg:
        return ast.Kwarg(str(children[0]), children[1], self._span(meta))

    @v_args(meta=True)
    def literal_string(self, meta: Meta, children: list[Token]) -> ast.Literal:
        return ast.Literal(str(children[0])[1:-1], self._span(meta))

    @v_args(meta=True)
    def literal_true(self, meta: Meta, children: list[Any]) -> ast.Literal:
        return ast.Literal(True, self._span(meta))

    @v_args(meta=True)
    def literal_false(self, meta: Meta, children: list[Any]) -> ast.Literal:
        return ast.Literal(False, self._span(meta))

    def _number(self, tok: Token) -> int | float:
        s = str(tok).lstrip("+")
        digits = s.lstrip("-")
        if digits.isdigit():
            return self._whole(tok)
        if len(s) > 64:
            raise NetError(f"number written with {len(s)} characters is out of range", self._span(tok))
        v = float(s)
        if v != v or v in (float("inf"), float("-inf")):
            raise NetError(f"number {s} is out of range", self._span(tok))
        return v

    @v_args(meta=True)
    def literal(self, meta: Meta, children: list[Token]) -> ast.Literal:
        return ast.Literal(self._number(children[0]), self._span(meta))

    def number(self, children: list[Token]) -> int | float:
        return self._number(children[0])

    def _binop(self, op: str, meta: Meta, children: list[Any]) -> ast.BinOp:
        left, right = children
        return self._nest(ast.BinOp(op, left, right, self._span(meta)), [left, right])

    @v_args(meta=True)
    def plus(self, meta: Meta, children: list[Any]) -> ast.BinOp:
        return self._binop("+", meta, children)

    @v_args(meta=True)
    def minus(self, meta: Meta, children: list[Any]) -> ast.BinOp:
        return self._binop("-", meta, children)

    @v_args(meta=True)
    def times(self, meta: Meta, children: list[Any]) -> ast.BinOp:
        return self._binop("*", meta, children)

    @v_args(meta=True)
    def divide(self, meta: Meta, children: list[Any]) -> ast.BinOp:
        return self._binop("/", meta, children)

    @v_args(meta=True)
    def floordiv(self, meta: Meta, children: list[Any]) -> ast.BinOp:
        return self._binop("//", meta, children)

    @v_args(meta=True)
    def negate(self, meta: Meta, children: list[Any]) -> ast.Neg:
        return self._nest(ast.Neg(children[0], self._span(meta)), children)

    @v_args(meta=True)
    def tuple_lit(self, meta: Meta, children: list[Any]) -> ast.Tuple:
        return self._nest(ast.Tuple(list(children), self._span(meta)), children)

    @v_args(meta=True)
    def block_list(self, meta: Meta, children: list[Any]) -> ast.BlockList:
        return self._nest(ast.BlockList(list(children), self._span(meta)), children)

    @v_args(meta=True)
    def named(self, meta: Meta, children: list[Any]) -> ast.Named:
        name, body = children
        if name.type == "NUMBER" and not str(name).isdigit():
            raise NetError(f"a block's name is a name or a whole number, not {name}", self._span(name))
        text = str(name)[1:-1] if name.type == "STRING" else str(name)
        if name.type == "STRING":
            _check_quoted_name(text, self._span(name))
        return self._nest(ast.Named(text, body, self._span(meta), self._span(name)), [body])

    @v_args(meta=True)
    def sequence(self, meta: Meta, children: list[ast.Expr]) -> ast.Seq:
        items: list[ast.Expr] = []
        for c in children:  # flatten nested chains so a -> (b -> c) reads as one chain
            items.extend(c.items if isinstance(c, ast.Seq) else [c])
        return self._nest(ast.Seq(items, self._span(meta)), items)

    @v_args(meta=True)
    def alternatives(self, meta: Meta, children: list[ast.Expr]) -> ast.Alt:
        return self._nest(ast.Alt(list(children), self._span(meta)), children)

    @v_args(meta=True)
    def range(self, meta: Meta, children: list[Any]) -> ast.Range:
        lo, _, hi, _, step = children
        ends = [self._range_number(x) for x in (lo, hi, step) if x is not None]
        return make_range(ends[0], ends[1], ends[2] if step is not None else None, self._span(meta))

    def _range_number(self, e: ast.Expr) -> int | float:
        sign, inner = (-1, e.operand) if isinstance(e, ast.Neg) else (1, e)
        if (
            isinstance(inner, ast.Literal)
            and isinstance(inner.value, (int, float))
            and not isinstance(inner.value, bool)
        ):
            return sign * inner.value
        raise NetError(
            "a range's ends and step are numbers written out", e.span, hint="e.g. 16..256 step 16, or 0.1..0.5 step 0.1"
        )

    @v_args(meta=True)
    def value_range(self, meta: Meta, children: list[Any]) -> ast.Range:
        lo, _, hi, _, step = children
        return make_range(
            self._number(lo), self._number(hi), self._number(step) if step is not None else None, self._span(meta)
        )

    @v_args(meta=True)
    def value_choice(self, meta: Meta, children: list[Any]) -> ast.Alt:
        span = self._span(meta)
        return ast.Alt([ast.Literal(v, span) for v in children], span)

    @v_args(meta=True)
    def optional(self, meta: Meta, children: list[ast.Expr]) -> ast.Opt:
        return self._nest(ast.Opt(children[0], self._span(meta)), children)

    @v_args(meta=True)
    def repeat(self, meta: Meta, children: list[Any]) -> ast.Repeat:
        body, times = children
        return self._nest(ast.Repeat(body, times, self._span(meta)), [body, times])

    # ---- settings values (nesting is limited by the same depth rule)
    def string(self, c: list[Token]) -> str:
        return str(c[0])[1:-1]

    def true(self, c: list[Any]) -> bool:
        return True

    def false(self, c: list[Any]) -> bool:
        return False

    def symbol(self, c: list[Token]) -> str:
        return str(c[0])

    @v_args(meta=True)
    def value_list(self, meta: Meta, c: list[Any]) -> list[Any]:
        out = [x for x in c if x is not None]
        return self._nest_value(out, meta)

    @v_args(meta=True)
    def value_tuple(self, meta: Meta, c: list[Any]) -> tuple[Any, ...]:
        return self._nest_value(tuple(c), meta)

    def _nest_value(self, value: Any, meta: Meta) -> Any:
        depth = 1 + max((self.depth.get(id(v), 0) for v in value if isinstance(v, (list, tuple))), default=0)
        if depth > 8:
            raise NetError("a training setting's value nests more than 8 brackets deep", self._span(meta))
        self.depth[id(value)] = depth
        return value

    # ---- statements
    @v_args(meta=True)
    def use_stmt(self, meta: Meta, c: list[Token]) -> ast.Use:
        return ast.Use(str(c[0])[1:-1], self._span(meta))

    @v_args(meta=True)
    def input_stmt(self, meta: Meta, c: list[Token]) -> ast.Input:
        span = self._span(meta)
        dims = [d for d in c if d is not None][0].split("x")
        if any(len(d) > MAX_DIGITS for d in dims):
            raise NetError("input size out of range", span)
        return ast.Input(tuple(int(x) for x in dims), span)

    @v_args(meta=True)
    def setting(self, meta: Meta, c: list[Any]) -> ast.Setting:
        return ast.Setting(str(c[0]), c[1], self._span(meta))

    @v_args(meta=True)
    def train_stmt(self, meta: Meta, c: list[ast.Setting]) -> ast.Train:
        return ast.Train(list(c), self._span(meta))

    @v_args(meta=True)
    def def_or_net(self, meta: Meta, c: list[Any]) -> ast.Def | ast.NetLine:
        lhs, label, rhs = c
        span = self._span(meta)
        if rhs is None:
            if label is not None:
                raise NetError('a label string belongs in a definition: name "Label" = ...', self._span(label))
            return ast.NetLine(lhs, span)
        label_text = str(label)[1:-1] if label is not None else None
        if isinstance(lhs, ast.Ref):
            return ast.Def(lhs.name, [], label_text, rhs, span, lhs.span, self.file)
        if isinstance(lhs, ast.Call):
            params = []
            for a in lhs.args:
                if not isinstance(a, ast.Ref):
                    raise NetError(
                        "a parameter must be a plain name, optionally with a default: name or name=value", a.span
                    )
                params.append(ast.Param(a.name, None, a.span))
            for k in lhs.kwargs:
                params.append(ast.Param(k.name, k.value, k.span))
            seen = set()
            for p in params:
                if p.name in seen:
                    raise NetError(f"parameter '{p.name}' appears twice", p.span)
                seen.add(p.name)
            return ast.Def(lhs.name, params, label_text, rhs, span, lhs.name_span, self.file)
        raise NetError(
            "the left side of '=' must be a name or name(parameters)",
            lhs.span,
            hint="definitions look like: conv_bn(c, k=3) = conv(c, k) -> bn -> relu",
        )

    def start(self, children: list[ast.Statement]) -> ast.Module:
        mod = ast.Module(self.file, self.text)
        for st in children:
            if isinstance(st, ast.Def):
                mod.defs.append(st)
            elif isinstance(st, ast.Use):
                mod.uses.append(st)
            elif isinstance(st, ast.Input):
                if mod.input is not None:
                    raise NetError(
                        "'input' is declared twice", st.span, notes=[("first declared here", mod.input.span)]
                    )
                mod.input = st
            elif isinstance(st, ast.Train):
                mod.settings.extend(st.settings)
            elif isinstance(st, ast.NetLine):
                prev = mod.net.span if mod.net is not None else None
                if prev is not None and (st.span.line, st.span.col) == (prev.end_line, prev.end_col):
                    raise NetError(
                        "arguments in brackets right after a ^, ? or * belong to a call",
                        st.span,
                        hint="a call's arguments go right after its name: write blk(64)^2, not blk^2(64)",
                    )
                if mod.net is not None:
                    raise NetError(
                        "a second network expression; a file describes one network",
                        st.span,
                        notes=[("the first one is here", mod.net.span)],
                        hint="to name a block, write name = ...; to chain blocks, join them with '->'",
                    )
                mod.net = st
        return mod
