"""A `Program`: everything one .net file means (definitions, input, settings, network) and
the networks it describes: one `Graph`, or, for a search space, one per `Variant`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dsl.core.graph import Graph
from dsl.errors import NetError, did_you_mean
from dsl.expand import Decisions, Expansion, expand
from dsl.expand.choices import Assignment, ChoiceWalker, Part, enumerate_decisions, order_key, variant_names
from dsl.front import ast
from dsl.front.deep import deep
from dsl.front.limits import Limits
from dsl.front.printer import format_def, format_expr
from dsl.job import Job
from dsl.settings import TrainSettings

DEFAULT_INPUT = (3, 32, 32)


@dataclass(frozen=True)
class Variant:
    """One network of a search space."""

    name: str
    assignment: Assignment = field(repr=False)
    canonical: str
    fingerprint: str
    params: int
    macs: int
    ops: int


class Program:
    """One file's meaning. `graph()` expands it; `variants()` lists a search space's networks."""

    def __init__(
        self,
        main: ast.Module,
        defs: dict[str, ast.Def],
        settings: TrainSettings,
        limits: Limits,
        input_shape: tuple[int, ...],
        sources: dict[str, str],
    ):
        self.main = main
        self.defs = defs
        self.settings = settings
        self.limits = limits
        self.input_shape = tuple(input_shape)
        self.sources = sources
        if main.net is not None:
            self.net, self.net_span = main.net.expr, main.net.span
        elif "net" in defs and defs["net"].file == main.file:
            self.net, self.net_span = defs["net"].body, defs["net"].span
        else:
            raise NetError(
                "this file describes no network",
                file=main.file,
                hint="end it with a network line such as 'prep -> layer1 -> gmp -> fc', or define net = ...",
            )
        self._variants: list[Variant] | None = None
        # definitions holding choices are printed before the network line of a variant's text
        self._choice_defs = [d for d in defs.values() if d.body is not self.net and ast.has_choice(d.body)]

    @property
    def name(self) -> str:
        """The file's stem (`residual_l1_l3`), or `net` for text without a file."""
        stem = Path(self.main.file).stem
        return "net" if stem.startswith("<") else stem

    def _expand(self, assignment: Assignment) -> Expansion:
        try:
            return expand(self.defs, self.net, self.input_shape, self.limits, Decisions(assignment))
        except NetError as err:
            raise _in_user_file(err, self.main.file) from None

    @deep
    def variants(self) -> list[Variant]:
        """The distinct networks of a search space, in the article's order; [] for a plain net.

        Each combination of decisions is expanded once; combinations giving the same network
        (same fingerprint) are one variant."""
        if self._variants is not None:
            return self._variants
        walker = ChoiceWalker(self.defs, self.limits)
        if not walker.walk(self.net, Decisions()).seen:
            self._variants = []
            return []
        found: list[tuple[tuple, list[Part], Variant]] = []
        fingerprints: set[str] = set()
        try:
            leaves = enumerate_decisions(self.net, walker, self.limits)
        except NetError as err:
            err.span = err.span or self.net_span  # the space as a whole: point at its network line
            raise
        for leaf, _ in leaves:
            try:
                exp = self._expand(leaf)
            except NetError as err:
                if err.hint is None:
                    err.hint = "this is in the variant " + self._canonical(leaf).splitlines()[-1]
                raise
            fp = exp.fingerprint
            if fp in fingerprints:
                continue
            fingerprints.add(fp)
            v = Variant("", leaf, self._canonical(leaf), fp, exp.params, exp.macs, exp.size)
            found.append((order_key(exp.parts, leaf, list(leaf)), exp.parts, v))
        found.sort(key=lambda t: t[0])
        names = variant_names([parts for _, parts, _ in found])
        self._variants = [
            Variant(n, v.assignment, v.canonical, v.fingerprint, v.params, v.macs, v.ops)
            for n, (_, _, v) in zip(names, found)
        ]
        return self._variants

    def variant(self, name: str) -> Variant:
        """The variant called `name` (case-insensitive), or a NetError listing them."""
        variants = self.variants()
        if not variants:
            raise NetError(f"'{self.main.file}' is not a search space; it has no variant '{name}'", file=self.main.file)
        for v in variants:
            if v.name.lower() == name.lower():
                return v
        names = [v.name for v in variants]
        raise NetError(
            f"no variant '{name}' in '{self.main.file}'",
            file=self.main.file,
            hint=(did_you_mean(name, names) or "") + f" its variants: {', '.join(names)}",
        )

    @deep
    def graph(self, variant: str | None = None) -> Graph:
        """The graph of the network, or of one variant. A search space loaded without a variant
        gives every option present (first option of each `|`), its optional blocks marked."""
        names = [v.name for v in self.variants()]
        assignment: Assignment = {}
        name = self.name
        if variant is not None:
            v = self.variant(variant)
            assignment, name = v.assignment, v.name
        elif names:
            name = f"{self.name} (search space, all options)"
        exp = self._expand(assignment)
        return Graph(
            classes=self.declared_classes(),
            name=name,
            file=self.main.file,
            source=self.main.text,
            canonical=self._canonical(assignment),
            input_shape=self.input_shape,
            nodes=exp.nodes,
            output=exp.output,
            blocks=exp.blocks,
            variant_names=names,
            sources=dict(self.sources),
            net_span=self.net_span,
        )

    def job(self, variant: str | None = None) -> Job:
        """The network (of one variant) with the file's training recipe and the files read."""
        return Job(self.graph(variant), self.settings, dict(self.sources))

    def declared_classes(self) -> int | None:
        """The `classes = N` the file (or what it imports) sets; None when only the prelude's default applies."""
        d = self.defs.get("classes")
        if d is None or d.file == "prelude.net" or d.params:
            return None
        from dsl.expand.values import evaluate, is_value, top_env

        env = top_env(self.defs)
        if not is_value(d.body, env):
            return None
        v = evaluate(d.body, env, None)
        if isinstance(v.value, bool) or not isinstance(v.value, int) or v.value < 1:
            raise NetError(f"classes must be a whole number of at least 1, got {v.value!r}", d.body.span)
        return v.value

    def _canonical(self, assignment: Assignment) -> str:
        """The network's text with every choice resolved (definitions holding choices first)."""
        choose = Decisions(assignment).option
        lines = [format_def(d, choose) for d in self._choice_defs]
        lines.append(format_expr(self.net, choose))
        return "\n".join(lines)


def _in_user_file(err: NetError, main_file: str) -> NetError:
    """Point an error raised inside the prelude or an import at the user's own line."""
    if err.span is None or err.span.file == main_file:
        return err
    for i, (_text, span) in enumerate(err.notes):
        if span.file == main_file:
            inner = err.span
            err.span = span
            err.notes = err.notes[:i] + [("inside this definition", inner)] + err.notes[i + 1 :]
            break
    return err
