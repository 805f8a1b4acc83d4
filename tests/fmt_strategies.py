"""Hypothesis strategies for `netc fmt`'s property tests: whole .net files built from
`net_strategies.net_exprs`, then made ugly (random spaces, line breaks, blank lines and comments
between any two tokens) without changing their tokens."""

from __future__ import annotations

import re

from hypothesis import strategies as st
from net_strategies import PRELUDE, net_exprs

SETTINGS = [
    "epochs = 3",
    "batch_size = 64",
    "lr = [(0, 0), (4, 0.4), (20, 0)]",
    "momentum = 0.9",
    "nesterov = true",
    "weight_decay = 5e-4",
    "cutout = 8",
    "flip = false",
]
DEFS = [
    "d(c, k=3) = conv(c, k) -> relu",
    'pair "Pair" = conv_bn -> conv_bn',
    "w = 4*2 + 1",
    "half(c=in_channels) = conv(c//2, 1)",
]

# a token of the generated texts: arrows and //, strings, names, numbers (with exponents) and shapes, punctuation
TOKEN = re.compile(r'->|//|"[^"\n]*"|[A-Za-z_][A-Za-z0-9_]*|[0-9]+(?:\.[0-9]*)?(?:e-?[0-9]+)?(?:x[0-9]+)*|\S')
SEPARATORS = [" ", " ", " ", "", "  ", "\n", "\n\n\n", " \t ", "\n    ", "#\n", "\n#\n\n"]  # '#': a comment


@st.composite
def net_files(draw: st.DrawFn) -> str:
    """A well-formed .net file: input, definitions, a network expression, maybe a train block."""
    lines = []
    if draw(st.booleans()):
        lines.append("input 3x32x32")
    lines.append(PRELUDE)
    lines += draw(st.lists(st.sampled_from(DEFS), unique=True, max_size=2))
    lines.append("net = " + draw(net_exprs))  # a bare expression starting with ( would be read as a call
    settings = draw(st.lists(st.sampled_from(SETTINGS), unique=True, max_size=3))
    if settings:
        lines.append("train { " + " ".join(settings) + " }")
    return "\n".join(lines) + "\n"


def _word(token: str) -> bool:
    return bool(re.match(r'[A-Za-z0-9_."]', token[0])) and bool(re.match(r'[A-Za-z0-9_."]', token[-1]))


@st.composite
def ugly_files(draw: st.DrawFn) -> tuple[str, str, list[str]]:
    """(a clean file, the same tokens laid out badly with comments inserted, those comments in order)."""
    clean = draw(net_files())
    tokens = TOKEN.findall(clean)
    seps = draw(st.lists(st.sampled_from(SEPARATORS), min_size=len(tokens) + 1, max_size=len(tokens) + 1))
    comments: list[str] = []
    out = []
    for i, sep in enumerate(seps):
        if sep == "" and 0 < i < len(tokens) and _word(tokens[i - 1]) and _word(tokens[i]):
            sep = " "  # two names or numbers side by side would read as one token
        if "#" in sep:
            comments.append(f'# note {len(comments)}: x -> (y, [z]) "q" #')
            sep = sep.replace("#", comments[-1])
        out.append(sep)
        if i < len(tokens):
            out.append(tokens[i])
    return clean, "".join(out), comments
