"""A `Program`: everything one .net file means (definitions, input, settings, network) and
the networks it describes: one `Graph`, or, for a search space, one per `Variant`."""

from __future__ import annotations

import dataclasses
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from dsl.core.graph import Graph
from dsl.errors import NetError, did_you_mean
from dsl.expand import Decisions, Expansion, expand
from dsl.expand.choice_names import choice_names, parse_variant_name, value_part
from dsl.expand.choices import (
    Assignment,
    ChoiceWalker,
    Part,
    enumerate_decisions,
    option_count,
    order_key,
    variant_names,
)
from dsl.expand.space import SpaceTree
from dsl.front import ast
from dsl.front.deep import deep
from dsl.front.limits import Limits
from dsl.front.printer import format_def, format_expr, setting_text
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
    settings: TrainSettings | None = field(default=None, repr=False)  # the recipe, where it holds choices


class NoNetwork(NetError):
    """A file without a network line: a library of definitions (`netc check` checks it as one)."""


class Program:
    """One file's meaning. `graph()` expands it; `variants()` lists a search space's networks."""

    def __init__(
        self,
        main: ast.Module,
        defs: dict[str, ast.Def],
        sections: list[list[ast.Setting]],
        limits: Limits,
        input_shape: tuple[int, ...],
        sources: dict[str, str],
    ):
        self.main = main
        self.defs = defs
        self.sections = sections
        effective = {s.key: s.value for items in sections for s in items}  # later files override earlier
        self.setting_values = [v for v in effective.values() if ast.setting_choices(v)]
        self.settings_space = bool(self.setting_values)
        self.limits = limits
        self.input_shape = tuple(input_shape)
        self.sources = sources
        if main.net is not None:
            self.net, self.net_span = main.net.expr, main.net.span
        elif "net" in defs and defs["net"].file == main.file:
            self.net, self.net_span = defs["net"].body, defs["net"].span
        else:
            raise NoNetwork(
                "this file describes no network",
                file=main.file,
                hint="end it with a network line such as 'prep -> layer1 -> gmp -> fc', or define net = ...",
            )
        self._variants: list[Variant] | None = None
        self.skipped: list[tuple[str, NetError]] = []  # variants that do not build (listing skips them)
        self._is_space: bool | None = None
        self._space: SpaceTree | None = None
        # definitions holding choices are printed before the network line of a variant's text
        self._choice_defs = [d for d in defs.values() if d.body is not self.net and ast.has_choice(d.body)]
        self.value_names = choice_names(defs, self.net, [(k, v) for k, v in effective.items()])
        self._settings: TrainSettings | None = None
        if not self.settings_space:
            self._settings = TrainSettings.from_file(sections)  # a plain recipe's mistakes show at once
        else:
            TrainSettings.check_options(sections)  # each option's; a combination's show in its variant

    @property
    def settings(self) -> TrainSettings:
        """The file's training recipe (of a recipe with choices, its first options)."""
        if self._settings is None:
            self._settings = TrainSettings.from_file(self.sections)
        return self._settings

    def settings_for(self, assignment: Assignment) -> TrainSettings:
        """The training recipe under one variant's decisions."""
        if not self.settings_space:
            return self.settings
        return TrainSettings.from_file(self.sections, Decisions(assignment).option)

    def value_parts(self, leaf: Assignment, valued: set[ast.Choice]) -> str:
        """The chosen values a variant's name shows: `k=5 c=32`, in the order the choices are met."""
        choose = Decisions(leaf).option
        out = []
        for node in leaf:
            if node not in valued or node not in self.value_names:
                continue
            picked = choose(node)
            shown = (
                setting_text(picked.value)
                if isinstance(picked, ast.Literal)
                else format_expr(picked, choose)
                if picked is not None
                else ""
            )
            out.append(value_part(self.value_names[node], shown))
        return " ".join(out)

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

    # ------------------------------------------------------------------ the search space
    def is_space(self) -> bool:
        """Whether the file holds search-space choices (in its network or its recipe)."""
        if self._is_space is None:
            walker = ChoiceWalker(self.defs, self.limits)
            self._is_space = bool(walker.walk(self.net, Decisions(), self.setting_values).seen)
        return self._is_space

    def space(self) -> SpaceTree:
        """The space's choices as a tree (counts and uniform samples without listing it)."""
        if self._space is None:
            try:
                self._space = SpaceTree(self.defs, self.net, self.limits, self.setting_values)
            except NetError as err:
                raise _in_user_file(err, self.main.file) from None
        return self._space

    def count(self) -> int:
        """How many variants the space has (combinations of decisions; 1 for a plain network)."""
        return self.space().count() if self.is_space() else 1

    def listable(self) -> bool:
        """Whether the space is small enough to list (`variants()`): at most `limits.max_variants`."""
        return self.is_space() and self.count() <= self.limits.max_variants

    @deep
    def variants(self) -> list[Variant]:
        """The distinct networks of a search space, in the article's order; [] for a plain net.

        Each combination of decisions is expanded once; combinations giving the same network
        (same fingerprint and recipe) are one variant. A space over `limits.max_variants` is
        refused: `count()` and `sample()` serve it."""
        if self._variants is not None:
            return self._variants
        if not self.is_space():
            self._variants = []
            return []
        n = self.count()
        if n > self.limits.max_variants:
            raise NetError(
                f"the search space has {n:,} combinations of choices, more than {self.limits.max_variants:,} to list",
                self.net_span,
                hint="`netc check` counts and samples it; `netc search --strategy random` or `tpe` searches it",
            )
        walker = ChoiceWalker(self.defs, self.limits)
        found: list[tuple[tuple, list[Part], str, Variant]] = []
        seen_networks: set[tuple[str, str]] = set()
        try:
            leaves = enumerate_decisions(self.net, walker, self.limits, self.setting_values)
        except NetError as err:
            err.span = err.span or self.net_span  # the space as a whole: point at its network line
            raise
        self.skipped = []
        for leaf, _ in leaves:
            try:
                v, parts = self._variant(leaf, walker.valued)
            except NetError as err:
                self.skipped.append((self._label(leaf, walker.valued), err))
                continue
            key = (v.fingerprint, json.dumps(v.settings.key(), sort_keys=True) if v.settings is not None else "")
            if key in seen_networks:
                continue
            seen_networks.add(key)
            found.append((order_key(parts, leaf, list(leaf)), parts, self.value_parts(leaf, walker.valued), v))
        if not found and self.skipped:
            raise self.skipped[0][1]  # no variant builds: the mistake is the file's
        found.sort(key=lambda t: t[0])
        blocks = any(c not in walker.valued for c in self.space().choices)
        names = variant_names([parts for _, parts, _, _ in found], [values for _, _, values, _ in found], blocks)
        self._variants = [dataclasses.replace(v, name=n) for n, (_, _, _, v) in zip(names, found)]
        return self._variants

    def _variant(self, leaf: Assignment, valued: set[ast.Choice]) -> tuple[Variant, list[Part]]:
        """One combination of decisions expanded (unnamed), with its name parts; its error says which variant it is."""
        try:
            exp = self._expand(leaf)
            settings = self.settings_for(leaf) if self.settings_space else None
        except NetError as err:
            if err.hint is None:
                err.hint = "this is in the variant " + self._label(leaf, valued)
            raise
        v = Variant("", leaf, self._canonical(leaf), exp.fingerprint, exp.params, exp.macs, exp.size, settings)
        return v, exp.parts

    def _label(self, leaf: Assignment, valued: set[ast.Choice]) -> str:
        """How a variant that may not build is called in a message: its values, else its network line."""
        values = self.value_parts(leaf, valued)
        line = self._canonical(leaf).splitlines()[-1]
        return f"{line} ({values})" if values else line

    def variant_of(self, assignment: Assignment) -> Variant:
        """The variant that makes these decisions, named on its own (`Residual:L1 k=5`): for a space
        too large to list, where names are not compared with the others'."""
        space = self.space()
        leaf = {c: assignment.get(c, 0) for c in space.reached(assignment)}
        v, parts = self._variant(leaf, space.valued)
        blocks = any(c not in space.valued for c in space.choices)
        name = variant_names([parts], [self.value_parts(leaf, space.valued)], blocks)[0]
        return dataclasses.replace(v, name=name)

    def decision_list(self, assignment: Assignment) -> list[list[int]]:
        """A variant's decisions as [choice number, option] pairs (choices numbered in the order the
        walk first meets them), for a record that must find the variant again."""
        number = {c: i for i, c in enumerate(self.space().choices)}
        return [[number[c], i] for c, i in assignment.items() if c in number]

    def decisions_from_list(self, pairs: list[list[int]], where: str) -> Assignment:
        """The decisions `decision_list` wrote, checked against this space."""
        choices = self.space().choices
        out: Assignment = {}
        for pair in pairs:
            if len(pair) != 2 or not 0 <= pair[0] < len(choices) or not 0 <= pair[1] < option_count(choices[pair[0]]):
                raise NetError(f"'{where}': the recorded decision {pair} does not fit this search space", file=where)
            out[choices[pair[0]]] = pair[1]
        return out

    def sample(self, rng: random.Random) -> Assignment:
        """One variant's decisions, every variant as likely."""
        return self.space().sample(rng)

    def variant(self, name: str) -> Variant:
        """The variant called `name` (case-insensitive), or a NetError listing them. In a space too
        large to list, the name gives every value it chose (`k=5 c=32`)."""
        if not self.is_space():
            raise NetError(f"'{self.main.file}' is not a search space; it has no variant '{name}'", file=self.main.file)
        if not self.listable():
            return self.variant_of(parse_variant_name(name, self.space(), self.value_names, self.main.file))
        variants = self.variants()
        for v in variants:
            if v.name.lower() == name.lower():
                return v
        names = [v.name for v in variants]
        raise NetError(
            f"no variant '{name}' in '{self.main.file}'",
            file=self.main.file,
            hint=" ".join(x for x in (did_you_mean(name, names), f"its variants: {', '.join(names)}") if x),
        )

    # ------------------------------------------------------------------ one network
    @deep
    def graph(self, variant: str | Variant | None = None) -> Graph:
        """The graph of the network, or of one variant. A search space loaded without a variant
        gives every option present (first option of each `|`), its optional blocks marked."""
        names = [v.name for v in self.variants()] if self.listable() else []
        assignment: Assignment = {}
        name = self.name
        if variant is not None:
            v = variant if isinstance(variant, Variant) else self.variant(variant)
            assignment, name = v.assignment, v.name
        elif self.is_space():
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

    def job(self, variant: str | Variant | None = None) -> Job:
        """The network (of one variant) with the file's training recipe (under its decisions) and the files read."""
        settings = self.settings
        if variant is not None:
            v = variant if isinstance(variant, Variant) else self.variant(variant)
            settings = self.settings_for(v.assignment)
            variant = v
        return Job(self.graph(variant), settings, dict(self.sources))

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
        # (the recipe's choices are not part of the network's text: a variant's settings say them)


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
