"""A library: a .net file of definitions only, used by others through `use "file.net"`.

It has no network to expand, so it is checked for what can be told without an input: every name
that must name a block or an op names one (`dsl.front.unused`), every value definition has a value
(`width = base * 2`), and no default uses a parameter declared after it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dsl.errors import NetError
from dsl.expand.bind import check_default_order
from dsl.expand.values import IN_CHANNELS, evaluate, is_value, top_env
from dsl.front import ast
from dsl.front.loader import parse_with_imports
from dsl.front.unused import unknown_names


@dataclass(frozen=True)
class Library:
    """A file of definitions: its own, and every definition it sees (the prelude's and its imports')."""

    module: ast.Module
    defs: dict[str, ast.Def]

    @property
    def names(self) -> list[str]:
        """The file's own definitions, in their order."""
        return [d.name for d in self.module.defs]


def load_library(path: str | os.PathLike[str], **limits: object) -> Library:
    """Read and parse a library and its imports."""
    module, defs = parse_with_imports(Path(path), **limits)
    return Library(module, defs)


def check_library(lib: Library) -> list[NetError]:
    """What is wrong in a library's own definitions, each located (empty: nothing)."""
    problems: list[NetError] = []
    for u in unknown_names(lib.module, lib.defs):
        problems.append(NetError(f"unknown name '{u.name}' in '{u.definition}'", u.span, hint=u.hint))
    env = top_env(lib.defs)
    for d in lib.module.defs:
        for p in d.params:
            try:
                check_default_order(d, p)
            except NetError as err:
                problems.append(err)
        uses_input = any(isinstance(n, ast.Ref) and n.name == IN_CHANNELS for n in ast.walk(d.body))
        if not d.params and not uses_input and is_value(d.body, env):  # in_channels: known where used
            try:
                evaluate(d.body, env, None)
            except NetError as err:
                problems.append(err)
    return sorted(problems, key=lambda e: (e.span.line, e.span.col) if e.span else (0, 0))
