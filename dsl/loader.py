"""Files -> `Program` (definitions from the prelude, imports and the file) -> `Graph` per variant."""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

from . import ast, settings as settings_mod
from .errors import NetError, Span, did_you_mean
from .expand import Choice, Limits, expand, variant_name
from .graph import Graph
from .parser import decode, parse, read_source
from .printer import format_def, format_expr

PRELUDE = Path(__file__).resolve().parent / "prelude.net"
DEFAULT_INPUT = (3, 32, 32)
MAX_IMPORTS = 256


@dataclass
class Variant:
    name: str
    assignment: dict
    canonical: str


class Program:
    """Everything one .net file means: its definitions (with imports), input, settings and network."""

    def __init__(self, main: ast.Module, defs: dict[str, ast.Def], settings: dict, limits: Limits):
        self.main = main
        self.defs = defs
        self.settings = settings
        self.limits = limits
        self.input_shape = main.input_shape or DEFAULT_INPUT
        self.net = main.net
        if self.net is None and "net" in defs and defs["net"].file == main.file:
            self.net = defs["net"].body
        if self.net is None:
            raise NetError("this file describes no network", file=main.file,
                           hint="end it with a network line such as 'prep -> layer1 -> gmp -> fc', or define net = ...")
        self._variants: list[Variant] | None = None

    @property
    def name(self) -> str:
        stem = Path(self.main.file).stem
        return "net" if stem.startswith("<") else stem

    def _expand(self, assignment):
        choice = Choice(assignment)
        try:
            nodes, blocks, out = expand(self.defs, self.net, self.input_shape, self.limits, choice)
        except NetError as err:
            raise _in_user_file(err, self.main.file) from None
        return choice, nodes, blocks, out

    def variants(self) -> list[Variant]:
        """Every combination of the search-space choices (depth-first, first options first)."""
        if self._variants is not None:
            return self._variants
        found: list[Variant] = []
        first = self._expand({})[0]
        if not first.seen:
            self._variants = []
            return []

        def walk(assignment):
            choice = self._expand(assignment)[0] if assignment else first
            open_keys = [k for k in choice.seen if k not in assignment]
            if not open_keys:
                if len(found) >= self.limits.max_variants:
                    raise NetError(f"the search space has more than {self.limits.max_variants:,} variants",
                                   file=self.main.file)
                v = Variant(variant_name(choice.parts), dict(assignment), self._canonical(choice))
                v._order = choice.order_key()
                found.append(v)
                return
            key = open_keys[0]
            for i in range(choice.options[key]):
                walk({**assignment, key: i})

        walk({})
        # the article's order: backbone first, then by number of additions, earliest layers first
        found.sort(key=lambda v: v._order)
        names: dict[str, int] = {}
        for v in found:
            names[v.name] = names.get(v.name, 0) + 1
        seen: dict[str, int] = {}
        for v in found:
            if names[v.name] > 1:  # two choices giving the same name: keep both, numbered
                seen[v.name] = seen.get(v.name, 0) + 1
                v.name = f"{v.name}#{seen[v.name]}"
        self._variants = found
        return found

    def _canonical(self, choice: Choice) -> str:
        def choose(e):
            from .expand import choice_key
            i = choice.assignment.get(choice_key(e), 0)
            if isinstance(e, ast.Opt):
                return e.body if i == 0 else None
            return e.options[i]
        lines = []
        for d in self.defs.values():
            if d.body is not self.net and _has_choice(d.body):
                lines.append(format_def(d, choose))
        lines.append(format_expr(self.net, choose))
        return "\n".join(lines)

    def graph(self, variant: str | None = None) -> Graph:
        variants = self.variants()
        names = [v.name for v in variants]
        assignment = {}
        name = self.name
        if variant is not None:
            if not variants:
                raise NetError(f"'{self.main.file}' is not a search space; it has no variant '{variant}'",
                               file=self.main.file)
            match = [v for v in variants if v.name.lower() == variant.lower()]
            if not match:
                raise NetError(f"no variant '{variant}' in '{self.main.file}'", file=self.main.file,
                               hint=(did_you_mean(variant, names) or "") + f" its variants: {', '.join(names)}")
            assignment, name = match[0].assignment, match[0].name
        choice, nodes, blocks, out = self._expand(assignment)
        if variant is None and variants:
            name = f"{self.name} (search space, all options)"
        return Graph(name=name, file=self.main.file, source=self.main.text, canonical=self._canonical(choice),
                     input_shape=tuple(self.input_shape), nodes=nodes, output=out, blocks=blocks,
                     settings=dict(self.settings), variant_names=names)


def _in_user_file(err: NetError, main_file: str) -> NetError:
    """Point an error raised inside the prelude or an import at the user's own line."""
    if err.span is None or err.span.file == main_file:
        return err
    for i, (text, span) in enumerate(err.notes):
        if span.file == main_file:
            inner = err.span
            err.span = span
            err.notes = err.notes[:i] + [(f"inside this definition", inner)] + err.notes[i + 1:]
            break
    return err


def _has_choice(e) -> bool:
    if isinstance(e, (ast.Opt, ast.Alt)):
        return True
    if isinstance(e, ast.Seq):
        return any(_has_choice(i) for i in e.items)
    if isinstance(e, ast.Call):
        return any(_has_choice(a) for a in e.args) or any(_has_choice(k.value) for k in e.kwargs)
    if isinstance(e, (ast.Scale, ast.Repeat)):
        return _has_choice(e.body)
    return False


# ---------------------------------------------------------------- loading files
class _Loader:
    def __init__(self):
        self.loaded: dict[Path, ast.Module] = {}
        self.stack: list[Path] = []

    def module(self, path: Path, span: Span | None, text: str | None = None, display: str | None = None) -> ast.Module:
        key = path.resolve() if text is None else Path("<string>")
        if key in self.stack:
            chain = " -> ".join(p.name for p in self.stack[self.stack.index(key):] + [key])
            raise NetError(f"import cycle: {chain}", span)
        if key in self.loaded:
            return self.loaded[key]
        if len(self.loaded) >= MAX_IMPORTS:
            raise NetError(f"more than {MAX_IMPORTS} imported files", span)
        if text is None:
            if span is not None and not path.exists():
                raise NetError(f"cannot import '{display}': no such file {str(path)!r}", span,
                               hint="imports are relative to the importing file")
            text = read_source(path, span)
        mod = parse(text, display or str(path))
        self.stack.append(key)
        try:
            mod._imports = [self.module(path.parent / u.path, u.span, display=u.path) for u in mod.uses]
        finally:
            self.stack.pop()
        self.loaded[key] = mod
        return mod


def _collect(mod: ast.Module, defs: dict, settings: list, seen: set):
    """Imported definitions first, so a file's own definitions override them."""
    if id(mod) in seen:
        return
    seen.add(id(mod))
    for imp in mod._imports:
        _collect(imp, defs, settings, seen)
    own: dict[str, ast.Def] = {}
    for d in mod.defs:
        if d.name in own:
            raise NetError(f"'{d.name}' is defined twice", d.name_span,
                           notes=[("first definition", own[d.name].name_span)])
        if d.name in ("input", "train", "use"):
            raise NetError(f"'{d.name}' is a keyword and cannot be defined", d.name_span)
        own[d.name] = d
    defs.update(own)
    settings.extend(mod.settings)


def _resolve_settings(items: list[ast.Setting]) -> dict:
    out = settings_mod.defaults()
    for s in items:
        spec = settings_mod.SETTINGS.get(s.key)
        if spec is None:
            raise NetError(f"unknown training setting '{s.key}'", s.span,
                           hint=did_you_mean(s.key, settings_mod.SETTINGS) or
                           "known settings: " + ", ".join(settings_mod.SETTINGS))
        value = s.value
        if isinstance(spec.default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        problem = spec.check(value)
        if problem:
            raise NetError(f"training setting '{s.key}' must be {problem}", s.span)
        out[s.key] = value
    return out


def _program(main_path: Path, text: str | None, display: str, limits: Limits) -> Program:
    loader = _Loader()
    prelude = loader.module(PRELUDE, None, display="prelude.net")
    main = loader.module(main_path, None, text=text, display=display)
    defs: dict[str, ast.Def] = {}
    settings: list[ast.Setting] = []
    seen: set = set()
    _collect(prelude, defs, settings, seen)
    _collect(main, defs, settings, seen)
    if main.input_shape is not None:
        if len(main.input_shape) != 3 or min(main.input_shape) < 1:
            raise NetError("input must be C×H×W with every size at least 1, e.g. input 3x32x32", main.input_span)
        import math
        if math.prod(main.input_shape) > limits.max_activation:
            raise NetError(f"input {'x'.join(map(str, main.input_shape))} is absurdly large", main.input_span)
    return Program(main, defs, _resolve_settings(settings), limits)


def load_program(path, **limits) -> Program:
    p = Path(path)
    text = read_source(p)
    return _program(p, text, str(path), Limits(**limits))


def loads_program(text: str | bytes, filename: str = "<string>", **limits) -> Program:
    if isinstance(text, bytes):
        text = decode(text, filename)
    return _program(Path.cwd() / "<string>", text, filename, Limits(**limits))


def _guard(fn):
    def wrapper(*a, **kw):
        try:
            return fn(*a, **kw)
        except RecursionError:
            raise NetError("the network nests too deeply to expand", file=kw.get("filename") or (a[0] if a else None)) from None
    wrapper.__doc__ = fn.__doc__
    return wrapper


@_guard
def load(path, variant=None, **limits) -> Graph:
    return load_program(path, **limits).graph(variant)


@_guard
def loads(text, variant=None, filename="<string>", **limits) -> Graph:
    return loads_program(text, filename, **limits).graph(variant)
