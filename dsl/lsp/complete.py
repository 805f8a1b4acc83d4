"""Completion: what may be typed at the cursor, read from the text before it (which is usually
mid-edit and does not parse): inside `name(...)` the parameters of that op or definition,
with their defaults; inside `train { }` the training settings; elsewhere ops, definitions
and keywords."""

from __future__ import annotations

from dataclasses import dataclass

from dsl.core.ops import REGISTRY, P
from dsl.front.printer import fmt_value, format_def, format_expr
from dsl.inspect.opdoc import signature
from dsl.lsp.analysis import KEYWORDS, Analysis
from dsl.lsp.hover import comment
from dsl.settings import TrainSettings


@dataclass(frozen=True)
class Item:
    """One completion: the label, what it inserts, its kind (op, definition, parameter, setting,
    keyword), a one-line detail and its documentation."""

    label: str
    insert: str
    kind: str
    detail: str = ""
    doc: str = ""


@dataclass(frozen=True)
class Context:
    """Where the cursor is: the call whose parentheses hold it (None outside), whether it is
    inside `train { }`, and whether a name there would be a parameter or setting name."""

    call: str | None
    in_train: bool
    at_name: bool


def context(text: str, offset: int) -> Context:
    """Read the text before `offset` once: brackets open at the cursor (with the name before
    each `(`), skipping comments and strings."""
    stack: list[tuple[str, str]] = []  # (bracket, the word before it)
    word, last_word = "", ""
    i, n = 0, min(offset, len(text))
    while i < n:
        ch = text[i]
        if ch == "#":
            while i < n and text[i] != "\n":
                i += 1
            continue
        if ch == '"':
            i += 1
            while i < n and text[i] not in '"\n':
                i += 1
            i += 1
            word = ""
            continue
        if ch.isalnum() or ch == "_":
            word += ch
        else:
            if word:
                last_word, word = word, ""
            if ch in "([{":
                stack.append((ch, last_word))
                last_word = ""
            elif ch in ")]}":
                if stack:
                    stack.pop()
                last_word = ""
            elif not ch.isspace():
                last_word = ""
        i += 1
    # what is between the last bracket or separator and the word being typed
    before = text[:n].rstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_").rstrip()
    top = stack[-1] if stack else None
    if top is not None and top[0] == "{":
        return Context(None, top[1] == "train", not before or before[-1] in "{\n,}" or _line_blank(text, n))
    if top is not None and top[0] == "(" and top[1]:
        return Context(top[1], False, bool(before) and before[-1] in "(,")
    return Context(None, False, False)


def _line_blank(text: str, offset: int) -> bool:
    start = text.rfind("\n", 0, offset) + 1
    return not text[start:offset].strip(" \t").rstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def completions(a: Analysis, text: str, offset: int) -> list[Item]:
    """The completion items at a character offset into `text` (the editor's text now, which may
    be newer than the analysis `a`, whose definitions are offered)."""
    ctx = context(text, offset)
    if ctx.in_train:
        return _settings() if ctx.at_name else []
    items: list[Item] = []
    if ctx.call is not None and ctx.at_name:
        items += _params(a, ctx.call)
    items += _names(a)
    if ctx.call is None:
        items += [Item(k, k, "keyword") for k in KEYWORDS]
    return items


def _settings() -> list[Item]:
    return [
        Item(name, f"{name} = ", "setting", f"default {fmt_value(default)}", doc)
        for name, (default, doc) in TrainSettings.docs().items()
    ]


def _op_param(p: P) -> Item:
    default = (
        "required" if p.required else f"default {fmt_value(p.default) if not isinstance(p.default, str) else p.default}"
    )
    return Item(f"{p.name}=", f"{p.name}=", "parameter", f"{p.type}, {default}", p.doc)


def _params(a: Analysis, call: str) -> list[Item]:
    d = a.defs.get(call)
    if d is not None:
        return [
            Item(
                f"{p.name}=",
                f"{p.name}=",
                "parameter",
                f"default {format_expr(p.default)}" if p.default is not None else "required",
                f"parameter of {d.name}",
            )
            for p in d.params
        ]
    op = REGISTRY.get(call)
    return [_op_param(p) for p in op.params] if op is not None and not op.branches else []


def _names(a: Analysis) -> list[Item]:
    items = [
        Item(op.name, op.name, "op", signature(op), op.doc)
        for op in REGISTRY.values()
        if op.role != "input" and op.name not in a.defs  # a definition named like an op hides it
    ]
    for d in a.defs.values():
        text = format_def(d)
        items.append(Item(d.name, d.name, "definition", text if len(text) < 80 else text[:79] + "…", comment(d)))
    return items
