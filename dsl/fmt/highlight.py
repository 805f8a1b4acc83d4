"""Syntax highlighting of `.net` files: a Pygments lexer and the word lists editors share.

`NetLexer` is registered with Pygments through the `pygments.lexers` entry point in
pyproject.toml, so once netc is installed `pygmentize -l netc FILE.net`, Sphinx and MkDocs
(```netc fences) highlight `.net` text. The word lists (`op_names`, `prelude_names`, ...) come
from the op registry and the prelude, never from a copy: `editors/vscode/gen_grammar.py`
writes the same lists into the TextMate grammar, and a test checks the committed grammar
against them. Nothing here imports torch (the registry and the parser do not).

The lexer follows grammar/net.lark: a definition's name (`name =`, `name(params) =`,
`name "Label" =`) is told apart from a use, keyword arguments and parameters inside
brackets, given names (`conv1:`, `2:`), `input` shapes (`3x32x32`) and the settings of
`train { }`. It never raises: text the language does not allow comes out as Error tokens.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

from pygments.lexer import RegexLexer, bygroups, include, words
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Whitespace,
)

# Keywords of grammar/net.lark, by role.
STATEMENT_KEYWORDS = ("use", "input", "train")
CONSTANTS = ("true", "false")
# The width of the input where a value is used (dsl/expand): a name the language defines.
PSEUDO_NAMES = ("in_channels",)

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_END = r"(?![A-Za-z0-9_])"  # a whole name: the next character cannot continue it
# A definition's head after its name: optional (params) with one level of nested brackets
# (defaults such as `k=(1, 7)`), an optional "Label", then `=`.
_PARAMS = r"\((?:[^()]|\([^()]*\))*\)"
_LABEL = r'"[^"\n]*"'
# `16.` is a float but `16..64` a range: a point followed by a point is not a number's
_FLOAT = r"(?:[0-9]+\.(?!\.)[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+"
_STEP = r"(step)(?=\s*[-+]?[0-9.])"  # `step` of a range (`16..256 step 16`): the word before its number


@functools.lru_cache(maxsize=1)
def op_names() -> tuple[str, ...]:
    """The ops of the registry (netc's primitives and plugins already loaded), sorted;
    `input` is a keyword of the language, not an op one can call."""
    from dsl.core import primitives  # noqa: F401  (registers netc's primitives)
    from dsl.core.ops import REGISTRY

    return tuple(sorted(n for n in REGISTRY if n not in STATEMENT_KEYWORDS))


@functools.lru_cache(maxsize=1)
def prelude_names() -> tuple[str, ...]:
    """The definitions of dsl/front/prelude.net (always loaded), sorted."""
    from dsl.front.loader import PRELUDE, PRELUDE_NAME
    from dsl.front.parser import parse
    from dsl.front.source import read_source

    module = parse(read_source(PRELUDE, display=PRELUDE_NAME), PRELUDE_NAME)
    return tuple(sorted({d.name for d in module.defs}))


@functools.lru_cache(maxsize=1)
def bare_words() -> tuple[str, ...]:
    """The bare words ops accept as parameter values (`auto`, `same`, `uniform`, ...), sorted;
    op names are left out (they are highlighted as ops)."""
    from dsl.core.ops import REGISTRY

    ops = set(op_names())
    return tuple(sorted({c for op in REGISTRY.values() for p in op.params for c in p.choices} - ops))


@functools.lru_cache(maxsize=1)
def setting_names() -> tuple[str, ...]:
    """The training settings `train { }` accepts (the fields of `TrainSettings`), sorted."""
    import dataclasses

    from dsl.settings import TrainSettings

    return tuple(sorted(f.name for f in dataclasses.fields(TrainSettings)))


def _words(names: tuple[str, ...]) -> Any:
    """A Pygments pattern matching any of `names` as a whole name."""
    return words(names, suffix=_END)


def _tokens() -> dict[str, list[Any]]:
    """The lexer's states (built from the registry when the module is imported)."""
    return {
        "root": [
            include("space"),
            (r"(use)" + _END, Keyword.Namespace),
            (r"(input|train)" + _END, Keyword.Declaration),
            (r"\{", Punctuation, "train"),
            # A definition with parameters: `name(p, q=1) "Label" =`.
            (
                r"(" + _NAME + r")(\s*)(\()(?=(?:[^()]|\([^()]*\))*\)\s*(?:" + _LABEL + r"\s*)?=)",
                bygroups(Name.Function, Whitespace, Punctuation),
                "params",
            ),
            # `name =`, `name "Label" =`.
            (r"(" + _NAME + r")(?=\s*(?:" + _LABEL + r"\s*)?=)", Name.Function),
            (r"(" + _LABEL + r")(?=\s*=)", String.Doc),
            include("expr"),
        ],
        "space": [
            (r"[ \t\r\n\f\v]+", Whitespace),
            (r"#[^\n]*", Comment.Single),
        ],
        "expr": [
            include("space"),
            (r'"[^"\n]*"', String.Double),
            (r"[0-9]+(?:x[0-9]+)+" + _END, Number),  # an input shape, 3x32x32
            # A given name: `conv1: conv(64)`, `2: layernorm`.
            (r"(" + _NAME + r"|[0-9]+)(\s*)(:)", bygroups(Name.Label, Whitespace, Punctuation)),
            (_FLOAT, Number.Float),
            (r"[0-9]+", Number.Integer),
            (_words(CONSTANTS), Keyword.Constant),
            (_STEP, Keyword),
            (_words(PSEUDO_NAMES), Name.Builtin.Pseudo),
            (_words(op_names()), Name.Builtin),
            (_words(prelude_names()), Name.Function.Magic),
            (_words(bare_words()), Name.Constant),
            (_NAME, Name),
            (r"->|//|\.\.|[-+*/^|?=]", Operator),
            (r"[,:]", Punctuation),
            (r"\(", Punctuation, "paren"),
            (r"\[", Punctuation, "bracket"),
        ],
        # Call arguments, grouping and tuples: `bias=false` names a keyword argument.
        "paren": [
            include("space"),
            (r"\)", Punctuation, "#pop"),
            (r"(" + _NAME + r")(\s*)(=)", bygroups(Name.Attribute, Whitespace, Operator)),
            include("expr"),
        ],
        "bracket": [
            include("space"),
            (r"\]", Punctuation, "#pop"),
            include("expr"),
        ],
        # A definition's parameters: names, and after `=` a default (an expression).
        "params": [
            include("space"),
            (r"\)", Punctuation, "#pop"),
            (r",", Punctuation),
            (r"(" + _NAME + r")(\s*)(=)", bygroups(Name.Variable, Whitespace, Operator), "default"),
            (_NAME, Name.Variable),
            include("expr"),
        ],
        "default": [
            include("space"),
            (r",", Punctuation, "#pop"),
            (r"\)", Punctuation, "#pop:2"),  # the end of the parameters too
            include("expr"),
        ],
        # `train { key = value ... }`: values are numbers, strings, true/false, words, lists, tuples.
        "train": [
            include("space"),
            (r"\}", Punctuation, "#pop"),
            (r"(" + _NAME + r")(\s*)(=)", bygroups(Name.Property, Whitespace, Operator)),
            (r'"[^"\n]*"', String.Double),
            (_FLOAT, Number.Float),
            (r"[0-9]+", Number.Integer),
            (_words(CONSTANTS), Keyword.Constant),
            (_STEP, Keyword),
            (_NAME, Name.Constant),
            (r"\.\.|[-+|]", Operator),  # a recipe value may be a choice (`0.2 | 0.4`) or a range
            (r"[\[\](),]", Punctuation),
        ],
    }


class NetLexer(RegexLexer):
    """Pygments lexer for netc's `.net` files (`pygmentize -l netc`, ```netc in MkDocs/Sphinx).

    Leading blank lines are kept by default (`stripnl=False`), so highlighted line numbers
    are the line numbers netc's messages give."""

    name = "netc"
    aliases: ClassVar[list[str]] = ["netc", "net"]
    filenames: ClassVar[list[str]] = ["*.net"]
    mimetypes: ClassVar[list[str]] = ["text/x-netc"]
    url = "https://github.com/netc"
    version_added = ""
    tokens: ClassVar[dict[str, list[Any]]] = _tokens()

    def __init__(self, **options: Any):
        options.setdefault("stripnl", False)
        super().__init__(**options)
