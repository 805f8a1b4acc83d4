"""Files -> `Program`: the prelude, the file and everything it imports, read and parsed.

Imports are followed without recursion (a chain of any length is refused at the limit, not by
Python's stack) and named as the user would type them: `lib/b.net` imported from
`nets/lib/a.net` is `nets/lib/b.net` in messages. Source text comes from the disk, or from
a saved copy (`saved=`) when a run is resumed after its files changed or went away.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dsl.core.graph import Graph
from dsl.errors import NetError, Span
from dsl.front import ast
from dsl.front.deep import deep
from dsl.front.limits import Limits
from dsl.front.parser import parse
from dsl.front.program import DEFAULT_INPUT, Program
from dsl.front.source import decode, read_source
from dsl.job import Job

PRELUDE = Path(__file__).resolve().parent / "prelude.net"
PRELUDE_NAME = "prelude.net"
STRING_FILE = "<string>"


@functools.lru_cache(maxsize=1)
def _prelude() -> ast.Module:
    """The prelude, parsed once per process (its syntax tree is never modified)."""
    return parse(read_source(PRELUDE, display=PRELUDE_NAME), PRELUDE_NAME)


class _Files:
    """Where imported text comes from: the disk, or a saved {shown path: text} copy."""

    def __init__(self, saved: Mapping[str, str] | None):
        self.saved = saved

    def key(self, path: Path, shown: str) -> Any:
        return os.path.normpath(shown) if self.saved is not None else path.resolve()

    def read(self, path: Path, shown: str, use_path: str, span: Span) -> str:
        if self.saved is not None:
            text = self.saved.get(os.path.normpath(shown))
            if text is None:
                raise NetError(f"cannot import \"{use_path}\": '{shown}' is not among the saved source files", span)
            return text
        if not path.exists():
            raise NetError(
                f"cannot import \"{use_path}\": no such file '{shown}'",
                span,
                hint="imports are relative to the importing file",
            )
        return read_source(path, span, shown)


def _shown(importer: str, target: str) -> str:
    """The path of an imported file as the user would type it (relative to where they stand)."""
    base = os.path.dirname(importer) if importer != STRING_FILE else ""
    return os.path.normpath(os.path.join(base, target))


def _load_modules(main: ast.Module, main_path: Path, files: _Files, limits: Limits) -> list[ast.Module]:
    """The main module and every module it imports, imports before importers (post-order)."""
    order: list[ast.Module] = []
    main_key = files.key(main_path, main.file)
    loaded = {main_key}
    active = [main_key]
    shown_of = {main_key: main.file}
    stack: list[tuple[ast.Module, Path, int]] = [(main, main_path, 0)]
    while stack:
        mod, path, i = stack[-1]
        if i == len(mod.uses):
            stack.pop()
            active.pop()
            order.append(mod)
            continue
        stack[-1] = (mod, path, i + 1)
        use = mod.uses[i]
        child_path = path.parent / use.path
        shown = _shown(mod.file, use.path)
        key = files.key(child_path, shown)
        if key in active:
            chain = [shown_of[k] for k in active[active.index(key) :]] + [shown]
            base = os.path.dirname(chain[0])
            raise NetError(f"import cycle: {' -> '.join(os.path.relpath(c, base or '.') for c in chain)}", use.span)
        if key in loaded:
            continue
        if len(loaded) >= limits.max_imports:
            raise NetError(f"more than {limits.max_imports} imported files", use.span)
        child = parse(files.read(child_path, shown, use.path, use.span), shown)
        loaded.add(key)
        active.append(key)
        shown_of[key] = shown
        stack.append((child, child_path, 0))
    return order


def _collect(modules: list[ast.Module]) -> dict[str, ast.Def]:
    """All definitions; a module's own definitions override those it imports (and the prelude)."""
    defs: dict[str, ast.Def] = {}
    for mod in modules:
        own: dict[str, ast.Def] = {}
        for d in mod.defs:
            if d.name in own:
                raise NetError(
                    f"'{d.name}' is defined twice", d.name_span, notes=[("first definition", own[d.name].name_span)]
                )
            if d.name in ("input", "train", "use"):
                raise NetError(f"'{d.name}' is a keyword and cannot be defined", d.name_span)
            own[d.name] = d
        defs.update(own)
    return defs


def _program(
    main_path: Path,
    text: str,
    shown: str,
    limits: Limits,
    saved: Mapping[str, str] | None,
    input_shape: tuple[int, ...] | None = None,
    classes: int | None = None,
) -> Program:
    main = parse(text, shown)
    modules = _load_modules(main, main_path, _Files(saved), limits)
    defs = _collect([_prelude(), *modules])
    if classes is not None:  # the same network for another class count (`netc train --classes N`)
        defs["classes"] = _classes_override(defs.get("classes"), classes, shown)
    span = main.input.span if main.input is not None and input_shape is None else None
    if input_shape is not None:  # the same network at another size (`dsl.load(..., input_shape=(3, 64, 64))`)
        shape = tuple(input_shape)
    else:
        shape = main.input.shape if main.input is not None else DEFAULT_INPUT
    if len(shape) not in (1, 2, 3) or min(shape) < 1:
        raise NetError(
            "input must be C×H×W (a map, e.g. input 3x32x32), L×D (tokens, e.g. input 64x128) or F (flat "
            "features, e.g. input 784), every size at least 1",
            span,
            file=shown,
        )
    size = math.prod(shape)
    if size > limits.max_activation:
        raise NetError(
            f"input {'x'.join(map(str, shape))} has {size:,} values per sample, over the limit of "
            f"{limits.max_activation:,}",
            span,
            file=shown,
        )
    sources = {m.file: m.text for m in modules}
    return Program(main, defs, [m.settings for m in modules], limits, shape, sources)


MAX_CLASSES = 1_000_000


def _classes_override(current: ast.Def | None, n: int, shown: str) -> ast.Def:
    """The definition `classes = n` that replaces the file's (which must be a plain value)."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_CLASSES:
        raise NetError(f"--classes must be a whole number from 1 to {MAX_CLASSES:,}, got {n!r}", file=shown)
    if current is not None and current.params:
        raise NetError(
            f"--classes {n}: '{current.name}' takes parameters in this file, so it is not the class count",
            current.name_span,
        )
    return parse(f"classes = {n}\n", "--classes").defs[0]


def _limits(kw: dict[str, Any]) -> Limits:
    try:
        return Limits(**kw)
    except (TypeError, ValueError) as err:
        raise NetError(f"bad limits: {err}") from None


@deep
def load_program(
    path: str | os.PathLike[str],
    input_shape: tuple[int, ...] | None = None,
    classes: int | None = None,
    **limits: Any,
) -> Program:
    """Read, parse and resolve a .net file and its imports (expansion happens per variant);
    `input_shape` replaces the file's `input` (the same network at another size), `classes` its
    `classes = N` (the prelude's head and whatever else reads `classes`)."""
    p = Path(path)
    return _program(p, read_source(p, display=str(path)), str(path), _limits(limits), None, input_shape, classes)


@deep
def parse_with_imports(path: Path, **limits: Any) -> tuple[ast.Module, dict[str, ast.Def]]:
    """A file parsed, with its imports read: (its module, every definition it sees)."""
    main = parse(read_source(path, display=str(path)), str(path))
    modules = _load_modules(main, path, _Files(None), _limits(limits))
    return main, _collect([_prelude(), *modules])


@deep
def loads_program(
    text: str | bytes, filename: str = STRING_FILE, input_shape: tuple[int, ...] | None = None, **limits: Any
) -> Program:
    """Like `load_program`, from text; imports resolve relative to the current folder."""
    # text goes through the same checks as a file's bytes (size, NUL, line endings)
    text = decode(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"), filename)
    base = Path(filename) if filename != STRING_FILE else Path.cwd() / STRING_FILE
    return _program(base, text, filename, _limits(limits), None, input_shape)


@deep
def load_saved(
    sources: Mapping[str, str],
    main: str,
    input_shape: tuple[int, ...] | None = None,
    classes: int | None = None,
    **limits: Any,
) -> Program:
    """A program from saved source texts ({path as shown: text}, as `Graph.sources` holds them), with
    the input size and class count a run set on the command line, if any."""
    if main not in sources:
        raise NetError(f"the saved sources lack the main file '{main}'")
    return _program(Path(main), sources[main], main, _limits(limits), sources, input_shape, classes)


def load(
    path: str | os.PathLike[str],
    variant: str | None = None,
    input_shape: tuple[int, ...] | None = None,
    classes: int | None = None,
    **limits: Any,
) -> Graph:
    """The graph of a .net file (of one variant, for a search space; at `input_shape` and for
    `classes` classes if given)."""
    return load_program(path, input_shape, classes, **limits).graph(variant)


def load_job(
    path: str | os.PathLike[str],
    variant: str | None = None,
    input_shape: tuple[int, ...] | None = None,
    classes: int | None = None,
    **limits: Any,
) -> Job:
    """The network of a .net file with its training recipe, for a command that trains or exports
    one network: a search space without `variant` is refused with its variants listed (its 'all
    options' graph is for drawing and summaries)."""
    return _one(load_program(path, input_shape, classes, **limits), variant, str(path))


def loads_job(
    text: str | bytes,
    variant: str | None = None,
    filename: str = STRING_FILE,
    input_shape: tuple[int, ...] | None = None,
    **limits: Any,
) -> Job:
    """Like `load_job`, from text."""
    return _one(loads_program(text, filename, input_shape, **limits), variant, filename)


def _one(program: Program, variant: str | None, shown: str) -> Job:
    if variant is None and program.is_space() and not program.listable():
        import random

        rng = random.Random(0)
        drawn = [program.variant_of(program.sample(rng)).name for _ in range(2)]
        raise NetError(
            f"'{shown}' is a search space of {program.count():,} networks, too many to list; pick one with --variant",
            file=shown,
            hint="a variant is named by its values, as `netc check` shows them; e.g. "
            + " or ".join(f'--variant "{n}"' for n in drawn),
        )
    if variant is None:
        names = [v.name for v in program.variants()]
        if names:
            raise NetError(
                f"'{shown}' is a search space of {len(names)} networks; pick one with --variant",
                file=shown,
                hint="its variants: " + ", ".join(names),
            )
    return program.job(variant)


def loads(
    text: str | bytes,
    variant: str | None = None,
    filename: str = STRING_FILE,
    input_shape: tuple[int, ...] | None = None,
    **limits: Any,
) -> Graph:
    """The graph of .net text (at `input_shape` if given)."""
    return loads_program(text, filename, input_shape, **limits).graph(variant)
