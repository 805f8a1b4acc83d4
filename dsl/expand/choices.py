"""Search-space choices: decisions, enumerating the variants, and naming them.

A *choice* is one `x?` or `a | b` node of the source. A variant makes one decision per choice
it reaches, and that decision holds wherever the node is expanded (a definition used twice, a
repeated block `x^3`): `blk = relu?` used as `blk -> blk` gives two variants, not four.
Choices inside an option exist only when that option is chosen (`(relu? | bn)` is relu,
nothing or bn). Different decisions can give the same network (`relu???` is relu or nothing):
variants are the distinct networks, told apart by fingerprint.

`enumerate_decisions` lists every combination of decisions without building anything (a
`ChoiceWalker` only follows the text), refusing the space early when it is over the limits.
`variant_names` gives every variant a readable, unique name in the article's style.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from dsl.core.ops import REGISTRY
from dsl.errors import NetError
from dsl.expand.bind import match_args
from dsl.expand.env import Binding, Env, Thunk, Value
from dsl.expand.values import evaluate, is_value, scale_chain, top_env, with_copy
from dsl.front import ast
from dsl.front.deep import checkpoint
from dsl.front.limits import Limits
from dsl.front.printer import format_expr

# (label of the chosen block, location label or None, the choice node)
Part = tuple[str, "str | None", ast.Choice]
Assignment = dict[ast.Choice, int]


class Decisions:
    """One decision per choice node (0 = the first option, or present for `x?`), and the name
    parts the expansion records for the options it took."""

    def __init__(self, assignment: Mapping[ast.Choice, int] | None = None):
        self.assignment: Assignment = dict(assignment or {})
        self.parts: list[Part] = []

    def index(self, e: ast.Choice) -> int:
        """The decided option's index."""
        return self.assignment.get(e, 0)

    def option(self, e: ast.Choice) -> ast.Expr | None:
        """The decided option's expression, or None for an absent `x?`."""
        i = self.index(e)
        if isinstance(e, ast.Opt):
            return e.body if i == 0 else None
        if isinstance(e, ast.Range):
            return ast.Literal(e.value(i), e.span)
        return e.options[i]

    def record(self, e: ast.Choice, label: str, location: str | None) -> None:
        """Note that this choice put `label` at `location` (once per place)."""
        part = (label, location, e)
        if part not in self.parts:
            self.parts.append(part)


def option_label(e: ast.Expr, env: Env, decisions: Decisions) -> str | None:
    """How a chosen option reads in a variant name: a definition's label (`Residual`) or name,
    else the option's text with its own inner choices resolved (`conv(8) -> relu`); None for
    `identity`, which adds nothing."""
    if ast.has_choice(e):
        return format_expr(e, decisions.option)
    if isinstance(e, (ast.Ref, ast.Call)):
        b = env.local.get(e.name)
        if isinstance(b, Thunk) and isinstance(e, ast.Ref):
            return option_label(b.expr, b.env, decisions)
        if e.name == "identity" and b is None:
            return None
        d = env.defs.get(e.name) if b is None else None
        if d is not None and (isinstance(e, ast.Ref) or not (e.args or e.kwargs)):
            return d.label or d.name
        return format_expr(e)
    if isinstance(e, ast.BinOp) and e.op == "*":
        inner = option_label(e.left, env, decisions)
        return f"{inner}*{format_expr(e.right)}" if inner is not None else format_expr(e)
    if isinstance(e, ast.Repeat):
        inner = option_label(e.body, env, decisions)
        return f"{inner}^{format_expr(e.times)}" if inner is not None else None
    if isinstance(e, ast.Named):
        return e.name
    return format_expr(e)


def option_count(e: ast.Choice) -> int:
    """How many options a choice has (`x?`: present or absent)."""
    return 2 if isinstance(e, ast.Opt) else e.count if isinstance(e, ast.Range) else len(e.options)


# ----------------------------------------------------------------------------- enumeration
@dataclass
class Walk:
    """What one walk under some decisions reached."""

    seen: list[ast.Choice]  # choices met, in order of first meeting
    options: dict[ast.Choice, int]  # how many options each has
    ops: int  # ops the network expands to (repeats multiplied)
    visits: int  # expression nodes visited (the walk's own cost)


class ChoiceWalker:
    """Follows the text the way the expander does (definitions, arguments, extensions,
    branches, repeats), but builds nothing: it only notes which choices are reached and counts
    ops. It never raises for a mistake in the file (the expansion of that variant reports it),
    only when the walk itself would exceed its bound of visits."""

    def __init__(self, defs: dict[str, ast.Def], limits: Limits):
        self.defs = defs
        self.value_defs = top_env(defs).value_defs
        self.limits = limits
        self.max_visits = 4 * limits.max_space_ops  # a few visits per op (calls, sequences)
        self.valued: set[ast.Choice] = set()  # choices met where a value goes, over every walk so far

    def walk(self, net: ast.Expr, decisions: Decisions, settings: Sequence[object] = ()) -> Walk:
        """Walk the network, then the training settings' values, under `decisions`."""
        self.decisions = decisions
        self.top = Env(self.defs, None, self.value_defs, decisions)
        self.net_span = net.span
        self.result = Walk([], {}, 0, 0)
        self.calls: list[str] = []
        self.nesting = 0
        self.values_walked: set[str] = set()  # value definitions: one walk each (no parameters, one meaning)
        self.result.ops = self._emit(net, self.top)
        for v in settings:
            self._setting(v)
        return self.result

    def _setting(self, v: object) -> None:
        """Meet the choices of a training setting's value (`lr = [(0, 0), (5, 0.2 | 0.4), (24, 0)]`)."""
        if isinstance(v, (ast.Alt, ast.Range)):
            self._choice(v, lambda o: self._setting(o.value) if isinstance(o, ast.Literal) else 0, valued=True)
        elif isinstance(v, (list, tuple)):
            for x in v:
                self._setting(x)

    def _visit(self) -> None:
        self.result.visits += 1
        if not self.result.visits & 1023:
            checkpoint()  # an editor may no longer want this result
        if self.result.visits > self.max_visits:
            # a definition that uses another twice, nested n deep, is 2^n visits: stop at the bound
            raise NetError(
                f"the network expands to more than {self.limits.max_space_ops:,} ops",
                self.net_span,
                hint="a block used twice inside a block used twice ... doubles at every level",
            )

    def _meet(self, e: ast.Choice, valued: bool = False) -> None:
        if valued:
            self.valued.add(e)
        if e not in self.result.options:
            self.result.seen.append(e)
            self.result.options[e] = option_count(e)

    def _choice(self, e: ast.Choice, follow: Callable[[ast.Expr], int | None], valued: bool = False) -> int:
        """A choice met: note it, then follow the decided option (`follow` walks it); its ops."""
        self._meet(e, valued)
        option = self.decisions.option(e)
        return 0 if option is None else follow(option) or 0

    def _walked(self, name: str) -> bool:
        """Whether the value definition `name` was walked already where it would be again (then skip it)."""
        if name in self.values_walked:
            return True
        self.values_walked.add(name)
        return False

    def _value(self, e: ast.Expr, env: Env) -> None:
        """Meet the choices a value expression holds (`conv(16 | 32)`, `k` where `k = 3 | 5`)."""
        stack = [(e, env)]
        while stack:
            node, where = stack.pop()
            self._visit()
            if isinstance(node, (ast.Alt, ast.Range)):
                self._choice(node, lambda o, where=where: self._value(o, where), valued=True)  # type: ignore[misc]
            elif isinstance(node, ast.Ref):
                if node.name in where.local or node.name not in self.value_defs or self._walked(node.name):
                    continue
                stack.append((self.defs[node.name].body, where.top()))
            elif isinstance(node, (ast.Tuple, ast.Neg, ast.BinOp)):
                stack.extend((c, where) for c in reversed(ast.children(node)))
            elif isinstance(node, ast.Call):  # a value function's arguments (`max(16 | 32, c)`)
                stack.extend((c, where) for c in reversed(node.args))

    def _values(self, args: Sequence[ast.Expr], kwargs: Sequence[ast.Kwarg], env: Env) -> None:
        for a in [*args, *(k.value for k in kwargs)]:
            if is_value(a, env):
                self._value(a, env)

    def _emit(self, e: ast.Expr, env: Env) -> int:
        self._visit()
        if self.nesting >= self.limits.max_nesting:
            return 0
        self.nesting += 1
        try:
            if isinstance(e, ast.Seq):
                return sum(self._emit(i, env) for i in e.items)
            if isinstance(e, ast.Ref):
                return self._call(e.name, (), (), e, env)
            if isinstance(e, ast.Call):
                return self._call(e.name, e.args, e.kwargs, e, env)
            if isinstance(e, ast.BinOp):  # a scaled block (a value here is the expansion's error to report)
                factors, body = scale_chain(e, env)
                if not factors or is_value(body, env):
                    return 0
                for f in factors:
                    self._value(f.right, env)
                return self._emit(body, env) + len(factors)
            if isinstance(e, ast.Named):
                return self._emit(e.body, env)
            if isinstance(e, ast.BlockList):
                return sum(self._emit(i, env) for i in e.items)
            if isinstance(e, ast.Repeat):
                # every copy makes the same decisions, so one walk of the body stands for all (even
                # for none: `x^0` still decides the choices of x, which then make no difference)
                if is_value(e.times, env):
                    self._value(e.times, env)
                return self._emit(e.body, with_copy(env, e, None)) * self._times(e, env)
            if isinstance(e, (ast.Opt, ast.Alt, ast.Range)):
                return self._choice(e, lambda o: self._emit(o, env))
            return 0
        finally:
            self.nesting -= 1

    def _call(
        self, name: str, args: Sequence[ast.Expr], kwargs: Sequence[ast.Kwarg], e: ast.Ref | ast.Call, env: Env
    ) -> int:
        b = env.local.get(name)
        if b is not None:
            if not isinstance(b, Thunk):
                return 0
            saved, self.calls = self.calls, list(b.calls)
            try:
                return self._emit(b.expr, b.env)
            finally:
                self.calls = saved
        d = env.defs.get(name)
        if d is not None:
            if d.name in self.calls or len(self.calls) >= self.limits.max_depth:
                return 0
            self.calls.append(d.name)
            try:
                if not d.params and (args or kwargs):
                    return self._emit(d.body, env.child({})) + sum(self._emit(a, env) for a in args)
                try:
                    local = self._bind(d, args, kwargs, env)
                except NetError:
                    return 1
                return self._emit(d.body, env.child(local))
            finally:
                self.calls.pop()
        op = REGISTRY.get(name)
        if op is not None and op.branches:
            return sum(self._emit(a, env) for a in args) + 1
        self._values(args, kwargs, env)
        return 1

    def _times(self, e: ast.Repeat, env: Env) -> int:
        """The repeat count if it can be told without shapes, else 1 (only the op count suffers)."""
        try:
            n = evaluate(e.times, env, None).value
        except (NetError, RecursionError):
            return 1
        return n if isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= self.limits.max_repeat else 1

    def _bind(self, d: ast.Def, args: Sequence[ast.Expr], kwargs: Sequence[ast.Kwarg], env: Env) -> dict[str, Binding]:
        """A call's bindings as far as choices go: blocks passed in (where choices can hide); values
        are not evaluated (they may need `in_channels`, which only the expansion knows)."""
        matched = match_args(d.name, [p.name for p in d.params], args, kwargs, False)
        local: dict[str, Binding] = {}
        for p in d.params:
            a, where = (matched[p.name], env) if p.name in matched else (p.default, env.top().child(dict(local)))
            if a is None:
                raise NetError("missing argument")
            if isinstance(a, ast.Ref) and a.name in where.local:
                local[p.name] = where.local[a.name]
            elif is_value(a, where):
                self._value(a, where)
                local[p.name] = Value(None, a.span)
            else:
                local[p.name] = Thunk(a, where, tuple(self.calls))
        return local


def enumerate_decisions(
    net: ast.Expr, walker: ChoiceWalker, limits: Limits, settings: Sequence[object] = ()
) -> list[tuple[Assignment, int]]:
    """Every combination of decisions (restricted to the choices it reaches) with its op count,
    depth-first in the order choices are met. Refuses a space over `limits.max_variants`
    combinations or `limits.max_space_ops` ops in total as soon as it gets there."""
    out: list[tuple[Assignment, int]] = []
    ops = visits = 0
    assignment: Assignment = {}
    while True:
        w = walker.walk(net, Decisions(assignment), settings)
        leaf = {k: assignment.get(k, 0) for k in w.seen}
        out.append((leaf, w.ops))
        ops += w.ops
        visits += w.visits
        if len(out) > limits.max_variants:
            raise NetError(
                f"the search space has more than {limits.max_variants:,} combinations of choices",
                hint="split it into several files, or fix some choices",
            )
        # visits bound the walk's own cost: a few per op (calls, sequences) and none for an absent option
        if ops > limits.max_space_ops or visits > 4 * limits.max_space_ops:
            raise NetError(
                f"the search space expands to more than {limits.max_space_ops:,} ops over its "
                f"variants ({len(out):,} variants so far)",
                hint="split it into several files, or fix some choices",
            )
        for j in range(len(w.seen) - 1, -1, -1):  # the next leaf: advance the last choice that can
            k = w.seen[j]
            if leaf[k] + 1 < w.options[k]:
                assignment = {c: leaf[c] for c in w.seen[:j]}
                assignment[k] = leaf[k] + 1
                break
        else:
            return out


# ----------------------------------------------------------------------------- naming
def article_name(parts: Sequence[Part], where: Mapping[ast.Choice, str] | None = None) -> str:
    """'Residual:L1+L3', 'Extra:L2', or 'Backbone' when no option adds anything.

    Parts of one label are grouped, their locations joined by '+'; `where` replaces a
    choice's location when two variants would otherwise share a name."""
    if not parts:
        return "Backbone"
    groups: dict[str, list[str]] = {}
    for label, loc, node in parts:
        locs = groups.setdefault(label, [])
        shown = where.get(node, loc) if where is not None else loc
        if shown and shown not in locs:
            locs.append(shown)
    return " ".join(f"{label}:{'+'.join(locs)}" if locs else label for label, locs in groups.items())


def variant_names(
    parts_of: Sequence[Sequence[Part]], values_of: Sequence[str] | None = None, blocks: bool = True
) -> list[str]:
    """A unique name per variant (compared case-insensitively, as --variant matches them).

    First the article's names of the block choices (none when the space has none: `blocks`), then
    the chosen values (`values_of`: `k=5 c=32`); where two variants share a name, the choices
    involved are told apart by position within their location (`relu:L1.1` vs `relu:L1.2`,
    `relu:1` vs `relu:3` at the top level); if a name is still shared, `#2`, `#3` follow."""
    values = list(values_of) if values_of is not None else [""] * len(parts_of)

    def name_of(parts: Sequence[Part], where: Mapping[ast.Choice, str] | None = None, i: int = 0) -> str:
        head = article_name(parts, where) if blocks else ""
        return " ".join(x for x in (head, values[i]) if x) or "Backbone"

    names = [name_of(p, None, i) for i, p in enumerate(parts_of)]
    if len({n.lower() for n in names}) == len(names):
        return names
    per_location: dict[str | None, list[ast.Choice]] = {}
    for parts in parts_of:
        for _, loc, node in parts:
            nodes = per_location.setdefault(loc, [])
            if node not in nodes:
                nodes.append(node)
    where = {}
    for loc, nodes in per_location.items():
        for i, node in enumerate(nodes, start=1):
            if len(nodes) > 1:
                where[node] = f"{loc}.{i}" if loc else str(i)
    counts: dict[str, int] = {}
    for n in names:
        counts[n.lower()] = counts.get(n.lower(), 0) + 1
    names = [name_of(p, where, i) if counts[n.lower()] > 1 else n for i, (n, p) in enumerate(zip(names, parts_of))]
    final: list[str] = []
    taken: dict[str, int] = {}
    for n in names:
        k = taken.get(n.lower(), 0) + 1
        taken[n.lower()] = k
        final.append(n if k == 1 else f"{n}#{k}")
    # a '#k' name could meet a real name of the same spelling: number on until unique
    while len({n.lower() for n in final}) != len(final):
        seen: set[str] = set()
        for i, n in enumerate(final):
            while n.lower() in seen:
                n += "'"
            final[i] = n
            seen.add(n.lower())
    return final


def order_key(parts: Sequence[Part], leaf: Assignment, seen: Sequence[ast.Choice]) -> tuple:
    """The article's order: fewest additions first, then earlier choices taken first."""
    ranks = tuple((-1 if leaf.get(k, 0) == 0 else 0) if isinstance(k, ast.Opt) else leaf.get(k, 0) for k in seen)
    return (len(parts), ranks)
