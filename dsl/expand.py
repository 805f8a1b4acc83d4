"""Resolution and expansion: definitions + one search-space choice -> a flat `Graph`.

Walks the network expression, binds names and parameters, expands definitions,
repetitions and branches into primitive nodes, infers every shape on the way and
refuses what cannot be built (unknown names, bad arguments, recursion, shape
mismatches, absurd sizes), always pointing at the source.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from . import ast
from .errors import NetError, Span, did_you_mean
from .graph import Block, Graph, Node
from .ops import AUTO, REGISTRY, Op, ShapeError, fmt_shape
from .printer import fmt_value

SYMBOLS = {AUTO, "uniform"}  # bare words accepted as parameter values


@dataclass
class Limits:
    max_params: int = 1_000_000_000
    max_nodes: int = 200_000
    max_repeat: int = 10_000
    max_activation: int = 1 << 31       # elements of one op's output, per sample
    max_depth: int = 64                 # nested definition calls
    max_variants: int = 4096


# ---------------------------------------------------------------- bindings
@dataclass
class Value:
    value: Any
    span: Span


@dataclass
class Thunk:
    """A block passed as an argument: an expression and the environment it came from."""
    expr: ast.Expr
    env: "Env"


class Env:
    def __init__(self, defs: dict[str, ast.Def], local: dict[str, Any] | None = None):
        self.defs = defs
        self.local = local or {}

    def child(self, local):
        return Env(self.defs, local)

    def names(self):
        return set(self.local) | set(self.defs) | set(REGISTRY)


# ---------------------------------------------------------------- expansion state
@dataclass(eq=False)
class _Scope:
    base: str
    definition: str
    label: str | None
    parent: "_Scope | None"
    span: Span | None
    children: list = field(default_factory=list)
    optional: bool = False
    repeat_of: "_Scope | None" = None
    extension: bool = False
    name: str = ""


@dataclass(eq=False)
class _Node:
    base: str
    op: str
    params: dict
    inputs: list
    shape: tuple
    span: Span | None
    scope: _Scope
    n_params: int = 0
    macs: int = 0
    name: str = ""


class Choice:
    """How one expansion resolves search-space choices: key -> option index (0 = first / present)."""

    def __init__(self, assignment: dict | None = None):
        self.assignment = dict(assignment or {})
        self.seen: list[tuple] = []          # choice keys met, in order
        self.options: dict[tuple, int] = {}  # key -> number of options
        self.parts: list[tuple[str, str | None]] = []  # (class label, location label) of present options
        self.optional: dict[tuple, bool] = {}  # key -> True for `x?`, False for `a | b`

    def order_key(self) -> tuple:
        """Sort key listing variants as the article does: fewest additions first, earliest layers first."""
        ranks = tuple((-1 if self.assignment.get(k, 0) == 0 else 0) if self.optional[k] else self.assignment.get(k, 0)
                      for k in self.seen)
        return (len(self.parts), ranks)

    def pick(self, key: tuple, n_options: int, optional: bool = False) -> int:
        if key not in self.options:
            self.seen.append(key)
            self.options[key] = n_options
            self.optional[key] = optional
        return self.assignment.get(key, 0)


def choice_key(e) -> tuple:
    return (e.span.file, e.span.line, e.span.col)


class Expander:
    def __init__(self, defs: dict[str, ast.Def], input_shape: tuple, limits: Limits, choice: Choice):
        self.env = Env(defs)
        self.limits = limits
        self.choice = choice
        self.root = _Scope("", "", None, None, None)
        self.nodes: list[_Node] = []
        self.stack: list[tuple[str, Span]] = []
        self.total_params = 0
        self.input = self._node("input", "input", {}, [], tuple(input_shape), None, self.root)

    # ------------------------------------------------------------ entry
    def run(self, expr: ast.Expr) -> _Node:
        out = self.emit(expr, self.env, self.input, self.root)
        return out

    # ------------------------------------------------------------ expressions
    def emit(self, e, env: Env, x: _Node, scope: _Scope) -> _Node:
        if isinstance(e, ast.Seq):
            for item in e.items:
                x = self.emit(item, env, x, scope)
            return x
        if isinstance(e, ast.Ref):
            return self.call(e.name, [], [], e.span, e.span, env, x, scope)
        if isinstance(e, ast.Call):
            return self.call(e.name, e.args, e.kwargs, e.span, e.name_span, env, x, scope)
        if isinstance(e, ast.Scale):
            return self.scale(e, env, x, scope)
        if isinstance(e, ast.Repeat):
            return self.repeat(e, env, x, scope)
        if isinstance(e, ast.Opt):
            if self.choice.pick(choice_key(e), 2, optional=True) == 1:
                return x
            return self.chosen(e.body, env, x, scope)
        if isinstance(e, ast.Alt):
            i = self.choice.pick(choice_key(e), len(e.options))
            return self.chosen(e.options[i], env, x, scope)
        if isinstance(e, ast.Literal):
            raise NetError(f"{fmt_value(e.value)} is a value, not a block", e.span,
                           hint="values go inside a call's parentheses, e.g. conv(128)")
        raise TypeError(type(e))

    def chosen(self, e, env, x, scope):
        """Emit a search-space option; what it creates is marked optional (drawn dashed)."""
        before_children = len(scope.children)
        out = self.emit(e, env, x, scope)
        for child in scope.children[before_children:]:
            if isinstance(child, _Scope):
                child.optional = True
        cls = self._class_label(e, env)
        if cls is not None:
            self.choice.parts.append((cls, self._location_label(scope)))
        return out

    def _class_label(self, e, env) -> str | None:
        target = e.body if isinstance(e, (ast.Scale, ast.Repeat)) else e
        if isinstance(target, (ast.Ref, ast.Call)):
            if target.name == "identity":
                return None
            d = env.defs.get(target.name) if target.name not in env.local else None
            if d is not None:
                return d.label or d.name
            return target.name
        from .printer import format_expr
        return format_expr(e)

    @staticmethod
    def _location_label(scope: _Scope) -> str | None:
        while scope is not None and scope.parent is not None:
            if scope.label or scope.definition:
                return scope.label or scope.definition
            scope = scope.parent
        return None

    def scale(self, e: ast.Scale, env, x, scope):
        mul = ("mul", {"k": e.factor}, e.span)
        body = e.body
        if isinstance(body, (ast.Ref, ast.Call)) and body.name in env.defs and body.name not in env.local:
            args = body.args if isinstance(body, ast.Call) else []
            kwargs = body.kwargs if isinstance(body, ast.Call) else []
            name_span = body.name_span if isinstance(body, ast.Call) else body.span
            return self.call_def(env.defs[body.name], args, kwargs, body.span, name_span, env, x, scope, tail=[mul])
        out = self.emit(body, env, x, scope)
        return self.prim(REGISTRY["mul"], {"k": e.factor}, out, e.span, scope)

    def repeat(self, e: ast.Repeat, env, x, scope):
        if e.times < 1 or e.times > self.limits.max_repeat:
            raise NetError(f"repeat count {e.times} is out of range (1 to {self.limits.max_repeat:,})", e.span)
        first = None
        for i in range(e.times):
            start = len(scope.children)
            x = self.emit(e.body, env, x, scope)
            made = [c for c in scope.children[start:] if isinstance(c, _Scope)]
            if i == 0:
                first = made[0] if made else None
            elif first is not None:
                for c in made:
                    c.repeat_of = first
        return x

    # ------------------------------------------------------------ names
    def call(self, name, args, kwargs, span, name_span, env: Env, x, scope):
        if name in env.local:
            b = env.local[name]
            if isinstance(b, Value):
                raise NetError(f"'{name}' is a parameter holding {fmt_value(b.value)}, not a block", name_span,
                               hint="use it as an argument, e.g. conv(" + name + ")")
            if args or kwargs:
                raise NetError(f"'{name}' is a block passed as a parameter; it takes no arguments here", span)
            return self.emit(b.expr, b.env, x, scope)
        if name in env.defs:
            return self.call_def(env.defs[name], args, kwargs, span, name_span, env, x, scope)
        if name in REGISTRY and name != "input":
            return self.call_prim(REGISTRY[name], args, kwargs, span, name_span, env, x, scope)
        if name in SYMBOLS:
            raise NetError(f"'{name}' is a parameter value, not a block", name_span)
        raise NetError(f"unknown name '{name}'", name_span,
                       hint=did_you_mean(name, env.names() - {"input"}) or
                       "define it (name = ...), import a file that does (use \"file.net\"), or see "
                       "`docs/language.md` for the primitives")

    def call_def(self, d: ast.Def, args, kwargs, span, name_span, env, x, scope, tail=()):
        if any(n == d.name for n, _ in self.stack):
            chain = " -> ".join([n for n, _ in self.stack[[n for n, _ in self.stack].index(d.name):]] + [d.name])
            raise NetError(f"recursive definition: {chain}", name_span,
                           notes=[(f"'{d.name}' is defined here", d.name_span)],
                           hint="a block cannot contain itself; use ^N to repeat a block N times")
        if len(self.stack) >= self.limits.max_depth:
            raise NetError(f"definitions nest more than {self.limits.max_depth} deep", name_span)
        extensions = []
        if not d.params and (args or kwargs):
            if kwargs:
                raise NetError(f"'{d.name}' takes no parameters, got keyword '{kwargs[0].name}'", kwargs[0].span,
                               notes=[(f"'{d.name}' is defined here", d.name_span)])
            for a in args:
                if isinstance(a, ast.Literal) or (isinstance(a, ast.Ref) and isinstance(env.local.get(a.name), Value)):
                    raise NetError(f"'{d.name}' takes no parameters; blocks in its parentheses extend it, "
                                   f"but this is a value", a.span,
                                   notes=[(f"'{d.name}' is defined here", d.name_span)])
            extensions = args
            local = {}
        else:
            local = self.bind_def(d, args, kwargs, span, env)
        child = _Scope(d.name, d.name, d.label, scope, span)
        scope.children.append(child)
        self.stack.append((d.name, span))
        try:
            out = self.emit(d.body, env.child(local), x, child)
        except NetError as err:
            # an error inside a definition also shows where that definition was used
            if err.span is not None and len(err.notes) < 3 and not err.message.startswith("recursive"):
                err.notes.append((f"in '{d.name}', used here", span))
            raise
        finally:
            self.stack.pop()
        for ext in extensions:
            start = len(child.children)
            out = self.emit(ext, env, out, child)
            for c in child.children[start:]:
                if isinstance(c, _Scope):
                    c.extension = True
        for op_name, params, op_span in tail:
            out = self.prim(REGISTRY[op_name], params, out, op_span, child)
        return out

    @staticmethod
    def match_args(who: str, names: list[str], args, kwargs, at_most: bool, notes=()) -> dict:
        """Pair a call's arguments with parameter names: positional first, then keywords."""
        if len(args) > len(names):
            sig = f" ({', '.join(names)})" if names else ""
            raise NetError(f"{who} takes {'at most ' if at_most else ''}{len(names)} argument"
                           f"{'s' * (len(names) != 1)}{sig}, got {len(args)}", args[len(names)].span, notes=list(notes))
        matched = dict(zip(names, args))
        for k in kwargs:
            if k.name not in names:
                raise NetError(f"{who} has no parameter '{k.name}'", k.span,
                               hint=did_you_mean(k.name, names) or f"its parameters: {', '.join(names) or 'none'}")
            if k.name in matched:
                raise NetError(f"'{k.name}' given both by position and by keyword", k.span)
            matched[k.name] = k.value
        return matched

    def bind_def(self, d: ast.Def, args, kwargs, span, env) -> dict:
        defined = [(f"'{d.name}' is defined here", d.name_span)]
        matched = self.match_args(f"'{d.name}'", [p.name for p in d.params], args, kwargs, False, defined)
        local = {name: self.arg_binding(a, env) for name, a in matched.items()}
        for p in d.params:
            if p.name not in local:
                if p.default is None:
                    raise NetError(f"'{d.name}' needs argument '{p.name}'", span, notes=defined)
                local[p.name] = self.arg_binding(p.default, self.env)
        return local

    def arg_binding(self, a, env):
        if isinstance(a, ast.Literal):
            return Value(a.value, a.span)
        if isinstance(a, ast.Ref):
            b = env.local.get(a.name)
            if b is not None:
                return b
            if a.name in SYMBOLS:
                return Value(a.name, a.span)
        return Thunk(a, env)

    # ------------------------------------------------------------ primitives
    def call_prim(self, op: Op, args, kwargs, span, name_span, env, x, scope):
        if op.branches:
            if kwargs:
                raise NetError(f"{op.name} takes branches, not keyword arguments", kwargs[0].span)
            if len(args) < 2:
                raise NetError(f"{op.name} needs at least two branches, e.g. {op.name}(identity, conv_bn -> conv_bn)",
                               span)
            outs = [self.emit(a, env, x, scope) for a in args]
            return self.prim(op, {}, outs, span, scope, branch_spans=[a.span for a in args])
        params = self.bind_prim(op, args, kwargs, span, env)
        return self.prim(op, params, x, span, scope)

    def bind_prim(self, op: Op, args, kwargs, span, env) -> dict:
        by_name = {p.name: p for p in op.params}
        matched = self.match_args(op.name, list(by_name), args, kwargs, True)
        params = {}
        for p in op.params:
            if p.name in matched:
                params[p.name] = self.arg_value(op, p, matched[p.name], env).value
            elif p.required:
                raise NetError(f"{op.name} needs argument '{p.name}'" + (f" ({p.doc})" if p.doc else ""), span)
            else:
                params[p.name] = p.default
        return params

    def arg_value(self, op: Op, p, a, env) -> Value:
        if isinstance(a, ast.Literal):
            v = Value(a.value, a.span)
        elif isinstance(a, ast.Ref) and isinstance(env.local.get(a.name), Value):
            v = env.local[a.name]
        elif isinstance(a, ast.Ref) and (a.name in p.choices or a.name in SYMBOLS):
            v = Value(a.name, a.span)
        elif isinstance(a, ast.Ref) and a.name not in env.local and a.name not in env.defs and a.name not in REGISTRY:
            raise NetError(f"{op.name}: unknown name '{a.name}' for parameter '{p.name}'", a.span,
                           hint=did_you_mean(a.name, set(env.local) | set(p.choices)))
        else:
            raise NetError(f"{op.name}: parameter '{p.name}' expects a value, got a block", a.span)
        if p.type == "float" and isinstance(v.value, int) and not isinstance(v.value, bool):
            v = Value(float(v.value), v.span)
        problem = p.check(v.value)
        if problem:
            raise NetError(f"{op.name}: '{p.name}' {problem}", v.span)
        return v

    def prim(self, op: Op, params, x, span, scope, branch_spans=None) -> _Node:
        ins = x if isinstance(x, list) else [x]
        shapes = [i.shape for i in ins]
        try:
            shape = tuple(op.shape(shapes, params))
        except ShapeError as err:
            notes = []
            if branch_spans:
                notes = [(f"this branch gives {fmt_shape(s)}", bs) for s, bs in zip(shapes, branch_spans)]
            else:
                err = ShapeError(f"{err} (input {fmt_shape(shapes[0])})")
            raise NetError(f"shape mismatch at {op.name}: {err}", span, notes=notes) from None
        if math.prod(shape) > self.limits.max_activation:
            raise NetError(f"{op.name} would output {fmt_shape(shape)} = {math.prod(shape):,} values per sample, "
                           f"over the limit of {self.limits.max_activation:,}", span)
        n_params, macs = op.count(shapes, shape, params)
        self.total_params += n_params
        if self.total_params > self.limits.max_params:
            raise NetError(f"the network exceeds the parameter budget: {self.total_params:,} parameters at this "
                           f"{op.name}, limit {self.limits.max_params:,}", span,
                           hint="nothing was allocated; shrink the widths or raise the budget (--max-params)")
        return self._node(op.name, op.name, params, ins, shape, span, scope, n_params, macs)

    def _node(self, base, op, params, ins, shape, span, scope, n_params=0, macs=0) -> _Node:
        if len(self.nodes) >= self.limits.max_nodes:
            raise NetError(f"the network expands to more than {self.limits.max_nodes:,} ops", span)
        n = _Node(base, op, params, ins, shape, span, scope, n_params, macs)
        scope.children.append(n)
        self.nodes.append(n)
        return n

    # ------------------------------------------------------------ finish
    def finish(self, out: _Node) -> tuple[dict[str, Node], dict[str, Block], str]:
        blocks: dict[str, Block] = {}

        def name_children(scope: _Scope, prefix: str):
            counts: dict[str, int] = {}
            for c in scope.children:
                counts[c.base] = counts.get(c.base, 0) + 1
            seen: dict[str, int] = {}
            for c in scope.children:
                if counts[c.base] > 1:
                    seen[c.base] = seen.get(c.base, 0) + 1
                    local = f"{c.base}_{seen[c.base]}"
                else:
                    local = c.base
                c.name = f"{prefix}{local}"
                if isinstance(c, _Scope):
                    name_children(c, c.name + "/")

        name_children(self.root, "")
        for s in _walk_scopes(self.root):
            blocks[s.name] = Block(s.name, s.definition, s.label, s.optional,
                                   s.repeat_of.name if s.repeat_of else None, s.extension, s.span)
        nodes = {}
        for n in self.nodes:
            nodes[n.name] = Node(n.name, n.op, dict(n.params), tuple(i.name for i in n.inputs), n.shape,
                                 n.span, n.n_params, n.macs)
        return nodes, blocks, out.name


def _walk_scopes(scope: _Scope):
    for c in scope.children:
        if isinstance(c, _Scope):
            yield c
            yield from _walk_scopes(c)


def expand(defs, net: ast.Expr, input_shape, limits: Limits, choice: Choice):
    """Expand once under `choice`; returns (nodes, blocks, output name)."""
    ex = Expander(defs, input_shape, limits, choice)
    out = ex.run(net)
    return ex.finish(out)


def variant_name(parts: list[tuple[str, str | None]]) -> str:
    """Article-style name: 'Residual:L1+L3', 'Extra:L2', or 'Backbone' when nothing optional is in."""
    if not parts:
        return "Backbone"
    groups: dict[str, list[str]] = {}
    for cls, loc in parts:
        groups.setdefault(cls, [])
        if loc and loc not in groups[cls]:
            groups[cls].append(loc)
    return " ".join(f"{cls}:{'+'.join(locs)}" if locs else cls for cls, locs in groups.items())


__all__ = ["expand", "Limits", "Choice", "variant_name", "Graph"]
