"""The walk over a network expression: names to definitions and primitives, calls to blocks,
repetitions, branches, named blocks and numbered lists, search-space choices, every op
handed to the `GraphBuilder`.

Search-space choices are resolved by a `Decisions` object (one decision per choice node).
Values (`conv(c*4)`, `fc*(1/9)`, `^n`) are evaluated by `values` where they are used, with
`in_channels` the width of the input there. Errors point at the source; an error inside a
definition also notes where it was used.
"""

from __future__ import annotations

from collections.abc import Sequence

from dsl.core.ops import REGISTRY, Op, channels
from dsl.errors import NetError, Span, did_you_mean
from dsl.expand.bind import bind_def, prim_params
from dsl.expand.builder import GraphBuilder, OpNode, Scope
from dsl.expand.choices import Decisions, option_label
from dsl.expand.env import Env, Site, Thunk, Value, is_symbol
from dsl.expand.values import evaluate, is_value, is_value_def, scale_chain, top_env, uses_copy, with_copy
from dsl.front import ast
from dsl.front.limits import Limits
from dsl.front.printer import fmt_value, format_expr

_SCALE = REGISTRY["scale"]


class DefinitionCycle(NetError):
    """A definition that contains itself (reported once, without 'used here' notes)."""


class Expander:
    """Expands one network expression under one set of search-space decisions."""

    def __init__(self, defs: dict[str, ast.Def], input_shape: tuple[int, ...], limits: Limits, decisions: Decisions):
        self.top = top_env(defs, decisions)
        self.limits = limits
        self.decisions = decisions
        self.builder = GraphBuilder(input_shape, limits)
        self.calls: list[str] = []  # definitions being expanded (recursion check)
        self.nesting = 0  # expression levels being expanded (limits.max_nesting)
        self.in_option = False  # expanding the text of a chosen option (inner choices add no name part)
        # the ops each block choice's option made where first met: (first op, end, output), for editors
        self.made: dict[ast.Choice, tuple[int, int, OpNode]] = {}

    def run(self, expr: ast.Expr) -> OpNode:
        """Expand the network; returns the output op."""
        return self.emit(expr, self.top, self.builder.input, self.builder.root)

    # ------------------------------------------------------------ expressions
    def emit(self, e: ast.Expr, env: Env, x: OpNode, scope: Scope, name: str | None = None) -> OpNode:
        """Expand `e` on input `x` inside `scope`; returns its output op. With `name`, what `e`
        makes is called `name` (`conv1: conv(64)`, the items of `[a, b]`)."""
        self.nesting += 1
        if self.nesting > self.limits.max_nesting:
            raise NetError(
                f"the network nests more than {self.limits.max_nesting:,} levels deep as expanded "
                "(definitions, blocks passed as arguments, brackets)",
                getattr(e, "span", None),
            )
        try:
            if isinstance(e, ast.Ref):
                return self.call(Site.of(e), env, x, scope, name)
            if isinstance(e, ast.Call):
                return self.call(Site.of(e), env, x, scope, name)
            if isinstance(e, (ast.Opt, ast.Alt, ast.Range)):
                return self.choose(e, env, x, scope, name)
            if isinstance(e, ast.Named):
                if name is not None:  # `a: b: conv`: the outer name is the block, the inner the op
                    return self.in_scope(e, env, x, scope, name)
                return self.emit(e.body, env, x, scope, e.name)
            if isinstance(e, ast.BinOp) and e.op == "*":
                factors, body = scale_chain(e, env)
                if factors and not is_value(body, env):
                    return self.scale(body, factors, env, x, scope, name)
            if isinstance(e, (ast.Literal, ast.Tuple, ast.Neg, ast.BinOp)):
                raise self.not_a_block(e, env)
            if name is not None:
                return self.in_scope(e, env, x, scope, name)
            if isinstance(e, ast.Seq):
                for item in e.items:
                    x = self.emit(item, env, x, scope)
                return x
            if isinstance(e, ast.Repeat):
                return self.repeat(e, env, x, scope)
            if isinstance(e, ast.BlockList):
                return self.block_list(e, env, x, scope)
            raise TypeError(f"not an expression: {type(e).__name__}")
        finally:
            self.nesting -= 1

    def in_scope(self, e: ast.Expr, env: Env, x: OpNode, scope: Scope, name: str) -> OpNode:
        """A block named `name` holding what `e` makes."""
        child = self.builder.open_scope(name, None, scope, getattr(e, "span", None), base=name)
        return self.emit(e, env, x, child)

    def not_a_block(self, e: ast.Expr, env: Env) -> NetError:
        """The error for a value where a block belongs (`3`, `c*4`, `(1, 7)`)."""
        if isinstance(e, ast.BinOp) and e.op != "*":
            return NetError(
                f"'{e.op}' combines numbers, not blocks",
                e.span,
                hint="blocks are chained with '->' and merged with add",
            )
        if isinstance(e, ast.BinOp) and not is_value(e.right, env):
            return NetError("'*' scales a block by a number: write block*k", e.span)
        return NetError(
            f"{format_expr(e)} is a value, not a block",
            e.span,
            hint="values go inside a call's parentheses, e.g. conv(128)",
        )

    def choose(self, e: ast.Choice, env: Env, x: OpNode, scope: Scope, name: str | None = None) -> OpNode:
        """A search-space choice: expand the decided option; what it creates is marked optional."""
        option = self.decisions.option(e)
        if option is None:
            return x
        before = len(scope.children)
        nested = isinstance(option, (ast.Opt, ast.Alt, ast.Range))  # the inner choice names itself
        names_itself = not nested and not self.in_option
        saved = self.in_option
        self.in_option = self.in_option or not nested
        first_op = len(self.builder.ops)
        try:
            out = self.emit(option, env, x, scope, name)
        finally:
            self.in_option = saved
        self.made.setdefault(e, (first_op, len(self.builder.ops), out))
        for child in scope.children[before:]:
            if isinstance(child, Scope):
                child.optional = True
        if names_itself:
            label = option_label(option, env, self.decisions)
            if label is not None:
                self.decisions.record(e, label, scope.location())
        return out

    def scale(
        self, body: ast.Expr, factors: list[ast.BinOp], env: Env, x: OpNode, scope: Scope, name: str | None
    ) -> OpNode:
        """`x*k` (and `x*k*m`: `factors`, innermost first); on a definition the first `scale` op goes
        inside its block (`fc*0.125` -> `fc/scale`)."""
        if name is not None and not (isinstance(body, (ast.Ref, ast.Call)) and body.name in env.defs):
            return self.in_scope(factors[-1], env, x, scope, name)
        ks = []
        for f in factors:
            k = self.value(f.right, env, x, "the scale factor")
            if isinstance(k, bool) or not isinstance(k, (int, float)):
                raise NetError(f"a block is scaled by a number, not {fmt_value(k)}", f.right.span)
            ks.append(float(k))
        if isinstance(body, (ast.Ref, ast.Call)) and body.name in env.defs and body.name not in env.local:
            site = Site.of(body)
            out = self.call_def(env.defs[body.name], site, env, x, scope, (ks[0], factors[0].span), name)
        else:
            out = self.emit(body, env, x, scope)
            out = self.builder.add_op(_SCALE, {"k": ks[0]}, [out], factors[0].span, scope)
        for k, f in zip(ks[1:], factors[1:]):
            out = self.builder.add_op(_SCALE, {"k": k}, [out], f.span, scope)
        return out

    def value(self, e: ast.Expr, env: Env, x: OpNode, what: str) -> object:
        """A value expression evaluated where the block's input is `x`."""
        if not is_value(e, env):
            raise NetError(f"{what} must be a value, not a block", getattr(e, "span", None))
        return evaluate(e, env, channels(x.shape)).value

    def repeat_count(self, e: ast.Repeat, env: Env, x: OpNode) -> int:
        """The n of `x^n`, checked; 0 means no copy (the input passes through: `residual^(n - 1)`)."""
        n = self.value(e.times, env, x, "the repeat count")
        if isinstance(n, float) and n.is_integer():
            n = int(n)
        if isinstance(n, bool) or not isinstance(n, int):
            raise NetError(f"a repeat count is a whole number, not {fmt_value(n)}", e.times.span)
        if n < 0 or n > self.limits.max_repeat:
            raise NetError(f"repeat count {n} is out of range (0 to {self.limits.max_repeat:,})", e.span)
        return n

    def repeat(self, e: ast.Repeat, env: Env, x: OpNode, scope: Scope) -> OpNode:
        """`x^n`: n copies in sequence; later copies are marked as repeats of the first."""
        first = None
        same = not uses_copy(e)  # copies that read their index may differ: not marked as repeats
        for i in range(self.repeat_count(e, env, x)):
            start = len(scope.children)
            x = self.emit(e.body, with_copy(env, e, i), x, scope)
            made = [c for c in scope.children[start:] if isinstance(c, Scope)]
            if i == 0:
                first = made[0] if made and same else None
            elif first is not None:
                for c in made:
                    c.repeat_of = first
        return x

    def block_list(self, e: ast.BlockList, env: Env, x: OpNode, scope: Scope) -> OpNode:
        """`[a, b, c]`: a sequence whose items are named 0, 1, 2 (a repeat `b^n` gives n items,
        an absent option none; a named item `d: x` keeps its name and takes no number)."""
        index = 0
        items: list[ast.Expr] = list(reversed(e.items))
        while items:
            item = items.pop()
            if isinstance(item, (ast.Opt, ast.Alt, ast.Range)):
                option = self.decisions.option(item)
                if option is None:
                    continue
                before = len(scope.children)
                x = self.choose(item, env, x, scope, str(index))
                index += len(scope.children) > before
                continue
            if isinstance(item, ast.Named):
                x = self.emit(item.body, env, x, scope, item.name)
                continue
            if isinstance(item, ast.Repeat):
                first = None
                same = not uses_copy(item)
                for i in range(self.repeat_count(item, env, x)):
                    start = len(scope.children)
                    x = self.emit(item.body, with_copy(env, item, i), x, scope, str(index))
                    index += 1
                    made = scope.children[start:]
                    if i == 0:
                        first = made[0] if made and same and isinstance(made[0], Scope) else None
                    elif first is not None and made and isinstance(made[0], Scope):
                        made[0].repeat_of = first
                continue
            x = self.emit(item, env, x, scope, str(index))
            index += 1
        return x

    # ------------------------------------------------------------ names
    def call(self, site: Site, env: Env, x: OpNode, scope: Scope, as_name: str | None = None) -> OpNode:
        """A name, with or without arguments: a parameter, a definition or a primitive."""
        name, args, kwargs, span, name_span = site.name, site.args, site.kwargs, site.span, site.name_span
        b = env.local.get(name)
        if b is not None:
            if isinstance(b, Value):
                raise NetError(
                    f"'{name}' is a parameter holding {fmt_value(b.value)}, not a block",
                    name_span,
                    hint="use it as an argument, e.g. conv(" + name + ")",
                )
            if args or kwargs:
                raise NetError(f"'{name}' is a block passed as a parameter; it takes no arguments here", span)
            return self.thunk(b, x, scope, as_name)
        d = env.defs.get(name)
        if d is not None:
            if not args and not kwargs and is_value_def(d, self.top):
                v = evaluate(d.body, self.top, channels(x.shape)).value
                raise NetError(
                    f"'{name}' is a value ({fmt_value(v)}), not a block",
                    name_span,
                    notes=[(f"'{name}' is defined here", d.name_span)],
                )
            return self.call_def(d, site, env, x, scope, name=as_name)
        op = REGISTRY.get(name)
        if op is not None and op.role != "input":
            return self.call_prim(op, site, env, x, scope, as_name)
        if name == "in_channels" or is_symbol(name):
            raise NetError(f"'{name}' is a value, not a block", name_span)
        raise NetError(
            f"unknown name '{name}'",
            name_span,
            hint=did_you_mean(name, env.names() - {"input"})
            or 'define it (name = ...), import a file that does (use "file.net"), or see '
            "`docs/language.md` for the primitives",
        )

    def thunk(self, b: Thunk, x: OpNode, scope: Scope, name: str | None = None) -> OpNode:
        """Expand a block passed as an argument, in the context it was written in."""
        saved = self.in_option, self.calls
        self.in_option, self.calls = b.in_option, list(b.calls)
        try:
            return self.emit(b.expr, b.env, x, scope, name)
        finally:
            self.in_option, self.calls = saved

    def call_def(
        self,
        d: ast.Def,
        site: Site,
        env: Env,
        x: OpNode,
        scope: Scope,
        scale: tuple[float, Span] | None = None,
        name: str | None = None,
    ) -> OpNode:
        """One call of a definition: a new block holding its body (and any extension blocks)."""
        args, kwargs, span, name_span = site.args, site.kwargs, site.span, site.name_span
        if d.name in self.calls:
            raise self.cycle(d, name_span)
        if len(self.calls) >= self.limits.max_depth:
            raise NetError(f"definitions nest more than {self.limits.max_depth} deep", name_span)
        extensions: Sequence[ast.Expr] = ()
        local: dict[str, Value | Thunk] = {}
        if not d.params and (args or kwargs):
            self._check_extension(d, args, kwargs, env)
            extensions = args
        else:
            local = bind_def(d, site, env, channels(x.shape), tuple(self.calls), self.in_option)
        child = self.builder.open_scope(d.name, d.label, scope, span, base=name)
        # the value arguments, in the definition's order (exporters name constructor parameters after them)
        child.args = tuple((q.name, v.value) for q in d.params if isinstance(v := local.get(q.name), Value))
        self.calls.append(d.name)
        saved = self.in_option
        self.in_option = False  # the body is another text: its choices name themselves
        try:
            out = self.emit(d.body, env.child(local), x, child)
        except DefinitionCycle:
            raise
        except NetError as err:
            # an error inside a definition also shows where that definition was used
            if err.span is not None and len(err.notes) < 3:
                err.notes.append((f"in '{d.name}', used here", span))
            raise
        finally:
            self.calls.pop()
            self.in_option = saved
        for ext in extensions:
            start = len(child.children)
            out = self.emit(ext, env, out, child)
            for c in child.children[start:]:
                if isinstance(c, Scope):
                    c.extension = True
        if scale is not None:
            out = self.builder.add_op(_SCALE, {"k": scale[0]}, [out], scale[1], child)
        return out

    def cycle(self, d: ast.Def, name_span: Span) -> DefinitionCycle:
        """The error for a definition that contains itself."""
        if self.calls[-1] == d.name and d.name in REGISTRY:
            return DefinitionCycle(
                f"'{d.name}' is defined in terms of itself: a definition named like the primitive "
                f"{d.name} hides it, so the {d.name} in its body is this definition again",
                name_span,
                notes=[(f"'{d.name}' is defined here", d.name_span)],
                hint=f"give it another name, e.g. my_{d.name} = {format_expr(self.top.defs[d.name].body)}",
            )
        chain = " -> ".join(self.calls[self.calls.index(d.name) :] + [d.name])
        return DefinitionCycle(
            f"recursive definition: {chain}",
            name_span,
            notes=[(f"'{d.name}' is defined here", d.name_span)],
            hint="a block cannot contain itself; use ^N to repeat a block N times",
        )

    @staticmethod
    def _check_extension(d: ast.Def, args: Sequence[ast.Expr], kwargs: Sequence[ast.Kwarg], env: Env) -> None:
        defined = [(f"'{d.name}' is defined here", d.name_span)]
        if kwargs:
            raise NetError(
                f"'{d.name}' takes no parameters, got keyword '{kwargs[0].name}'", kwargs[0].span, notes=defined
            )
        for a in args:
            if is_value(a, env):
                raise NetError(
                    f"'{d.name}' takes no parameters; blocks in its parentheses extend it, but this is a value",
                    a.span,
                    notes=defined,
                )

    # ------------------------------------------------------------ primitives
    def call_prim(self, op: Op, site: Site, env: Env, x: OpNode, scope: Scope, name: str | None = None) -> OpNode:
        """A primitive: its parameters bound and checked, or its branches expanded (add, concat)."""
        args, kwargs, span = site.args, site.kwargs, site.span
        if op.branches:
            if kwargs:
                raise NetError(f"{op.name} takes branches, not keyword arguments", kwargs[0].span)
            if len(args) < 2:
                raise NetError(
                    f"{op.name} needs at least two branches, e.g. {op.name}(identity, conv_bn -> conv_bn)", span
                )
            if name is not None:  # `blk: add(a, b)`: a block named blk around the branches and their merge
                scope = self.builder.open_scope(name, None, scope, span, base=name)
            outs = [self.emit(a, env, x, scope) for a in args]
            return self.builder.add_op(op, {}, outs, span, scope, branch_spans=[a.span for a in args])
        params = prim_params(op, args, kwargs, span, env, channels(x.shape))
        return self.builder.add_op(op, params, [x], span, scope, name=name)
