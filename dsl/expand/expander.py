"""The walk over a network expression: names to definitions and primitives, calls to blocks,
repetitions, branches and search-space choices, every op handed to the `GraphBuilder`.

Search-space choices are resolved by a `Decisions` object (one decision per choice node).
Errors point at the source; an error inside a definition also notes where it was used.
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import ast
from ..errors import NetError, Span, did_you_mean
from ..limits import Limits
from ..ops import REGISTRY, Op
from ..printer import fmt_value
from .bind import SYMBOLS, Env, Thunk, Value, bind_def, prim_params
from .builder import GraphBuilder, OpNode, Scope
from .choices import Decisions, option_label

_SCALE = REGISTRY["scale"]


class DefinitionCycle(NetError):
    """A definition that contains itself (reported once, without 'used here' notes)."""


class Expander:
    """Expands one network expression under one set of search-space decisions."""

    def __init__(self, defs: dict[str, ast.Def], input_shape: tuple[int, ...], limits: Limits, decisions: Decisions):
        self.top = Env(defs)
        self.limits = limits
        self.decisions = decisions
        self.builder = GraphBuilder(input_shape, limits)
        self.calls: list[str] = []  # definitions being expanded (recursion check)
        self.nesting = 0  # expression levels being expanded (limits.max_nesting)
        self.in_option = False  # expanding the text of a chosen option (inner choices add no name part)

    def run(self, expr: ast.Expr) -> OpNode:
        """Expand the network; returns the output op."""
        return self.emit(expr, self.top, self.builder.input, self.builder.root)

    # ------------------------------------------------------------ expressions
    def emit(self, e: ast.Expr, env: Env, x: OpNode, scope: Scope) -> OpNode:
        """Expand `e` on input `x` inside `scope`; returns its output op."""
        self.nesting += 1
        if self.nesting > self.limits.max_nesting:
            raise NetError(
                f"the network nests more than {self.limits.max_nesting:,} levels deep as expanded "
                "(definitions, blocks passed as arguments, brackets)",
                getattr(e, "span", None),
            )
        try:
            if isinstance(e, ast.Seq):
                for item in e.items:
                    x = self.emit(item, env, x, scope)
                return x
            if isinstance(e, ast.Ref):
                return self.call(e.name, (), (), e.span, e.span, env, x, scope)
            if isinstance(e, ast.Call):
                return self.call(e.name, e.args, e.kwargs, e.span, e.name_span, env, x, scope)
            if isinstance(e, ast.Scale):
                return self.scale(e, env, x, scope)
            if isinstance(e, ast.Repeat):
                return self.repeat(e, env, x, scope)
            if isinstance(e, (ast.Opt, ast.Alt)):
                return self.choose(e, env, x, scope)
            if isinstance(e, ast.Literal):
                raise NetError(
                    f"{fmt_value(e.value)} is a value, not a block",
                    e.span,
                    hint="values go inside a call's parentheses, e.g. conv(128)",
                )
            raise TypeError(f"not an expression: {type(e).__name__}")
        finally:
            self.nesting -= 1

    def choose(self, e: ast.Choice, env: Env, x: OpNode, scope: Scope) -> OpNode:
        """A search-space choice: expand the decided option; what it creates is marked optional."""
        option = self.decisions.option(e)
        if option is None:
            return x
        before = len(scope.children)
        nested = isinstance(option, (ast.Opt, ast.Alt))  # the inner choice names itself
        names_itself = not nested and not self.in_option
        saved = self.in_option
        self.in_option = self.in_option or not nested
        try:
            out = self.emit(option, env, x, scope)
        finally:
            self.in_option = saved
        for child in scope.children[before:]:
            if isinstance(child, Scope):
                child.optional = True
        if names_itself:
            label = option_label(option, env, self.decisions)
            if label is not None:
                self.decisions.record(e, label, scope.location())
        return out

    def scale(self, e: ast.Scale, env: Env, x: OpNode, scope: Scope) -> OpNode:
        """`x*k`; on a definition the `scale` op goes inside its block (`fc*0.125` -> `fc/scale`)."""
        body = e.body
        if isinstance(body, (ast.Ref, ast.Call)) and body.name in env.defs and body.name not in env.local:
            args = body.args if isinstance(body, ast.Call) else ()
            kwargs = body.kwargs if isinstance(body, ast.Call) else ()
            name_span = body.name_span if isinstance(body, ast.Call) else body.span
            return self.call_def(
                env.defs[body.name], args, kwargs, body.span, name_span, env, x, scope, scale=(e.factor, e.span)
            )
        out = self.emit(body, env, x, scope)
        return self.builder.add_op(_SCALE, {"k": e.factor}, [out], e.span, scope)

    def repeat(self, e: ast.Repeat, env: Env, x: OpNode, scope: Scope) -> OpNode:
        """`x^n`: n copies in sequence; later copies are marked as repeats of the first."""
        if e.times < 1 or e.times > self.limits.max_repeat:
            raise NetError(f"repeat count {e.times} is out of range (1 to {self.limits.max_repeat:,})", e.span)
        first = None
        for i in range(e.times):
            start = len(scope.children)
            x = self.emit(e.body, env, x, scope)
            made = [c for c in scope.children[start:] if isinstance(c, Scope)]
            if i == 0:
                first = made[0] if made else None
            elif first is not None:
                for c in made:
                    c.repeat_of = first
        return x

    # ------------------------------------------------------------ names
    def call(
        self,
        name: str,
        args: Sequence[ast.Expr],
        kwargs: Sequence[ast.Kwarg],
        span: Span,
        name_span: Span,
        env: Env,
        x: OpNode,
        scope: Scope,
    ) -> OpNode:
        """A name, with or without arguments: a parameter, a definition or a primitive."""
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
            return self.thunk(b, x, scope)
        d = env.defs.get(name)
        if d is not None:
            return self.call_def(d, args, kwargs, span, name_span, env, x, scope)
        op = REGISTRY.get(name)
        if op is not None and op.role != "input":
            return self.call_prim(op, args, kwargs, span, env, x, scope)
        if name in SYMBOLS:
            raise NetError(f"'{name}' is a parameter value, not a block", name_span)
        raise NetError(
            f"unknown name '{name}'",
            name_span,
            hint=did_you_mean(name, env.names() - {"input"})
            or 'define it (name = ...), import a file that does (use "file.net"), or see '
            "`docs/language.md` for the primitives",
        )

    def thunk(self, b: Thunk, x: OpNode, scope: Scope) -> OpNode:
        """Expand a block passed as an argument, in the context it was written in."""
        saved = self.in_option, self.calls
        self.in_option, self.calls = b.in_option, list(b.calls)
        try:
            return self.emit(b.expr, b.env, x, scope)
        finally:
            self.in_option, self.calls = saved

    def call_def(
        self,
        d: ast.Def,
        args: Sequence[ast.Expr],
        kwargs: Sequence[ast.Kwarg],
        span: Span,
        name_span: Span,
        env: Env,
        x: OpNode,
        scope: Scope,
        scale: tuple[float, Span] | None = None,
    ) -> OpNode:
        """One call of a definition: a new block holding its body (and any extension blocks)."""
        if d.name in self.calls:
            chain = " -> ".join(self.calls[self.calls.index(d.name) :] + [d.name])
            raise DefinitionCycle(
                f"recursive definition: {chain}",
                name_span,
                notes=[(f"'{d.name}' is defined here", d.name_span)],
                hint="a block cannot contain itself; use ^N to repeat a block N times",
            )
        if len(self.calls) >= self.limits.max_depth:
            raise NetError(f"definitions nest more than {self.limits.max_depth} deep", name_span)
        extensions: Sequence[ast.Expr] = ()
        local: dict[str, Value | Thunk] = {}
        if not d.params and (args or kwargs):
            self._check_extension(d, args, kwargs, env)
            extensions = args
        else:
            local = bind_def(d, args, kwargs, span, env, self.top, tuple(self.calls), self.in_option)
        child = self.builder.open_scope(d.name, d.label, scope, span)
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

    @staticmethod
    def _check_extension(d: ast.Def, args: Sequence[ast.Expr], kwargs: Sequence[ast.Kwarg], env: Env) -> None:
        defined = [(f"'{d.name}' is defined here", d.name_span)]
        if kwargs:
            raise NetError(
                f"'{d.name}' takes no parameters, got keyword '{kwargs[0].name}'", kwargs[0].span, notes=defined
            )
        for a in args:
            if isinstance(a, ast.Literal) or (isinstance(a, ast.Ref) and isinstance(env.local.get(a.name), Value)):
                raise NetError(
                    f"'{d.name}' takes no parameters; blocks in its parentheses extend it, but this is a value",
                    a.span,
                    notes=defined,
                )

    # ------------------------------------------------------------ primitives
    def call_prim(
        self,
        op: Op,
        args: Sequence[ast.Expr],
        kwargs: Sequence[ast.Kwarg],
        span: Span,
        env: Env,
        x: OpNode,
        scope: Scope,
    ) -> OpNode:
        """A primitive: its parameters bound and checked, or its branches expanded (add, concat)."""
        if op.branches:
            if kwargs:
                raise NetError(f"{op.name} takes branches, not keyword arguments", kwargs[0].span)
            if len(args) < 2:
                raise NetError(
                    f"{op.name} needs at least two branches, e.g. {op.name}(identity, conv_bn -> conv_bn)", span
                )
            outs = [self.emit(a, env, x, scope) for a in args]
            return self.builder.add_op(op, {}, outs, span, scope, branch_spans=[a.span for a in args])
        return self.builder.add_op(op, prim_params(op, args, kwargs, span, env), [x], span, scope)
