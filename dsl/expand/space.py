"""A search space that is never listed: its exact size, uniform samples, and the next choice to make.

`SpaceTree` follows the text once over *every* option of every choice (the `ChoiceWalker`'s walk,
but branching at choices instead of following one decision) and keeps only its choices: a
product of parts, each a choice whose options are such trees again. The variants of the space
are the leaves of the walk: one decision per choice reached (`choices.enumerate_decisions`
lists them one by one). Here they are counted without listing them.

Counting. Where every choice is written once, the count is the tree's size read bottom up: a
product multiplies, a choice adds up its options. A choice met in several places (a definition
used twice, a value definition `k = 3 | 5` used everywhere) is one decision for all of them, so
its options are fixed in turn and the rest counted under each ("conditioning"). Options that
hold no choices behave alike, so they are fixed once and weighed by how many there are: a range
of a million values costs what `3 | 5` costs. A tied choice reached only under other choices
adds a variant for a non-first option only where it is reached, which inclusion-exclusion
settles: (the count with it fixed) minus (the count where it is never reached). The work is the
tree's size times the product of the tied choices' option classes, bounded by
`MAX_CONDITIONED`; a space beyond it is refused with its reason.

Sampling. A uniform variant is drawn choice by choice in the order the walk meets them: each
option is taken with the probability (variants with it) / (variants so far), counted as above
with the decisions made so far fixed.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from dsl.errors import NetError
from dsl.expand.choices import Assignment, ChoiceWalker, Decisions, option_count
from dsl.front import ast
from dsl.front.limits import Limits

MAX_CONDITIONED = 4_096  # counts of the tree per count of the space (tied choices' option classes multiplied)


@dataclass(eq=False)
class Part:
    """One place a choice is met in the walk over every option: its options' own parts (None: a
    range, whose values hold no choices)."""

    choice: ast.Choice
    options: list[list[Part]] | None


@dataclass
class _Config:
    """A count's assumptions: choices fixed to an option, and choices that must not be reached."""

    fixed: dict[ast.Choice, int] = field(default_factory=dict)
    blocked: frozenset[ast.Choice] = frozenset()


class _TreeBuilder(ChoiceWalker):
    """The walk over every option: builds the `Part` tree instead of following decisions."""

    def build(self, net: ast.Expr, settings: Sequence[object]) -> list[Part]:
        self.collect: list[list[Part]] = [[]]
        self.on_path: list[set[object]] = [set()]  # value definitions and choices already met on this path
        self.walk(net, Decisions(), settings)
        return self.collect[0]

    def _visit(self) -> None:
        self.result.visits += 1
        if self.result.visits > self.max_visits:
            raise NetError(
                f"the search space is too large to analyse: its options together expand to more than "
                f"{self.limits.max_space_ops:,} ops",
                self.net_span,
                hint="blocks with choices used inside blocks with choices multiply; fix some choices",
            )
        super()._visit() if not self.result.visits & 1023 else None

    def _walked(self, name: str) -> bool:
        if any(name in s for s in self.on_path):
            return True
        self.on_path[-1].add(name)
        return False

    def _choice(self, e: ast.Choice, follow: Callable[[ast.Expr], int | None], valued: bool = False) -> int:
        self._meet(e, valued)
        part = Part(e, None)
        if not isinstance(e, ast.Range):
            part.options = []
            for i in range(option_count(e)):
                option = Decisions({e: i}).option(e)
                self.collect.append([])
                self.on_path.append(set())
                try:
                    if option is not None:
                        follow(option)
                finally:
                    self.on_path.pop()
                part.options.append(self.collect.pop())
        # met again where it was met already, with nothing inside: it adds nothing
        if any(e in s for s in self.on_path) and not any(part.options or ()):
            return 0
        self.collect[-1].append(part)
        self.on_path[-1].add(e)
        return 0


class SpaceTree:
    """The choices of one search space as a tree; `count()` its variants, `sample()` one uniformly."""

    def __init__(self, defs: dict[str, ast.Def], net: ast.Expr, limits: Limits, settings: Sequence[object] = ()):
        builder = _TreeBuilder(defs, limits)
        self.root = builder.build(net, settings)
        self.valued = builder.valued
        self.places: dict[ast.Choice, list[Part]] = {}
        self._always: set[ast.Choice] = set()  # met outside any option: reached in every variant
        self._inner: dict[int, bool] = {}  # id(parts list) -> whether a tied choice lies inside
        for p in self.root:
            self._always.add(p.choice)
        for p in _parts(self.root):
            self.places.setdefault(p.choice, []).append(p)
        self.tied = [c for c, ps in self.places.items() if len(ps) > 1]
        self._mark(self.root)
        self._plain_cache: dict[int, int] = {}

    @property
    def choices(self) -> list[ast.Choice]:
        """Every choice of the space, in the order the walk first meets it."""
        return list(self.places)

    # ------------------------------------------------------------------ counting
    def count(self, fixed: Assignment | None = None) -> int:
        """How many variants (combinations of decisions) there are; with `fixed`, how many make
        those decisions (each fixed choice reached: as `sample` fixes them)."""
        fixed = fixed or {}
        terms = [self._terms(c, fixed) for c in self.tied]
        runs = 1
        for t in terms:
            runs *= len(t)
        if runs > MAX_CONDITIONED:
            raise NetError(
                f"this search space cannot be counted: {len(self.tied)} of its choices are each met in several "
                f"places under other choices ({runs:,} cases to count)",
                hint="write those choices once (a value definition used everywhere), or fix some of them",
            )
        total = 0
        for combo in itertools.product(*terms):
            weight = 1
            config = _Config(dict(fixed))
            blocked = []
            for c, (mult, option) in zip(self.tied, combo):
                weight *= mult
                if option is None:
                    blocked.append(c)
                else:
                    config.fixed[c] = option
            config.blocked = frozenset(blocked)
            if weight:
                total += weight * self._count(self.root, config)
        return total

    def _terms(self, c: ast.Choice, fixed: Assignment) -> list[tuple[int, int | None]]:
        """The cases a tied choice is counted under: (weight, option fixed, or None: never reached)."""
        if c in fixed:
            return [(1, fixed[c])]
        classes = self._classes(c)
        out: list[tuple[int, int | None]] = [(len(members), members[0]) for members in classes]
        if c not in self._always and option_count(c) > 1:
            # a later option where the choice is never reached is no variant: take those cases away
            out.append((-(option_count(c) - 1), None))
        return out

    def _classes(self, c: ast.Choice) -> list[Sequence[int]]:
        """The options of `c` grouped: the first alone, then those holding no choices anywhere (they
        count alike; a range's are a `range`, never listed), then each other option alone."""
        n = option_count(c)
        if isinstance(c, ast.Range):
            return [range(0, 1), range(1, n)] if n > 1 else [range(0, 1)]
        empty = [i for i in range(1, n) if all(not p.options or not p.options[i] for p in self.places[c])]
        return [[0], *([empty] if empty else []), *([i] for i in range(1, n) if i not in empty)]

    def _count(self, parts: list[Part], config: _Config) -> int:
        total = 1
        for p in parts:
            total *= self._count_part(p, config)
            if not total:
                return 0
        return total

    def _count_part(self, p: Part, config: _Config) -> int:
        c = p.choice
        if c in config.blocked:
            return 0
        i = config.fixed.get(c)
        if i is not None:
            return self._count(p.options[i], config) if p.options is not None else 1
        if p.options is None:
            return option_count(c)
        if not self._inner.get(id(p), True) and not config.fixed:
            cached = self._plain_cache.get(id(p))
            if cached is None:
                cached = self._plain_cache[id(p)] = sum(self._count(o, config) for o in p.options)
            return cached
        return sum(self._count(o, config) for o in p.options)

    def _mark(self, parts: list[Part]) -> bool:
        """Note, for every part, whether a tied choice lies in it (its count then depends on them)."""
        tied = set(self.tied)
        found = False
        for p in parts:
            inner = p.choice in tied
            for o in p.options or ():
                inner = self._mark(o) or inner
            self._inner[id(p)] = inner
            found = found or inner
        return found

    # ------------------------------------------------------------------ sampling
    def sample(self, rng: random.Random) -> Assignment:
        """One variant, every variant as likely: its decisions (for the choices it reaches)."""
        fixed: Assignment = {}
        total = self.count()
        for c in self._met(fixed):
            weights = []
            groups = self._classes(c)
            for g in groups:
                weights.append(len(g) * self.count({**fixed, c: g[0]}))
            pick = rng.randrange(sum(weights)) if sum(weights) else 0
            for g, w in zip(groups, weights):
                if pick < w:
                    fixed[c] = g[pick // (w // len(g))] if w else g[0]
                    break
                pick -= w
        assert total >= 1
        return fixed

    def decide(self, choose: Callable[[ast.Choice], int]) -> Assignment:
        """A variant's decisions made one at a time: `choose(c)` for each choice as the walk meets it
        (what a define-by-run search strategy needs: a choice inside an option is asked only if taken)."""
        fixed: Assignment = {}
        for c in self._met(fixed):
            i = choose(c)
            if not 0 <= i < option_count(c):
                raise ValueError(f"option {i} of a choice with {option_count(c)} options")
            fixed[c] = i
        return fixed

    def reached(self, decisions: Assignment) -> list[ast.Choice]:
        """The choices a variant reaches under `decisions` (a choice not in it takes its first option),
        in the order the walk meets them."""
        fixed = dict(decisions)
        out = []
        for c in self._met(fixed):
            fixed.setdefault(c, 0)
            out.append(c)
        return out

    def _met(self, fixed: Assignment) -> Iterator[ast.Choice]:
        """The choices reached under `fixed` as the walk meets them, each once; `fixed` may grow
        while this runs (a decision taken now decides what is met next)."""
        stack: list[Part] = list(reversed(self.root))
        seen: set[ast.Choice] = set()
        while stack:
            p = stack.pop()
            if p.choice not in seen:
                seen.add(p.choice)
                yield p.choice
            seen.add(p.choice)
            if p.options is not None:
                stack.extend(reversed(p.options[fixed[p.choice]]))


def _parts(parts: list[Part]) -> Iterator[Part]:
    """Every part, in the walk's order."""
    stack = list(reversed(parts))
    while stack:
        p = stack.pop()
        yield p
        for o in reversed(p.options or []):
            stack.extend(reversed(o))
