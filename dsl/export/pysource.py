"""Graph -> readable, standalone PyTorch source (`netc export --format py`).

The source has one `nn.Module` class per `.net` definition used (named after it: `conv_bn` ->
`ConvBn`), the network itself as a class named after the file, and submodules named exactly as
`dsl.build` names them, so `state_dict()` keys and shapes are the same and weights move both ways.
Instances of a definition that differ only in numbers (widths, strides) share a class whose
constructor takes those numbers, named after the definition's parameters where they match
(`ConvBn(in_channels, c)`); instances that differ in structure (a ResNet block with and without a
projection shortcut) get classes of their own (`Basic`, `Basic2`). A numbered list (`[a, b]`) is
an `nn.Sequential`. Stateless ops (add, concat, scale, global pooling) are written into `forward`
as expressions. The file imports only torch: netc's own module classes that it needs are copied
in from dsl/nn/modules.py.

Each part is linear in the size of the graph: one pass over the nodes finds every block's direct
members, each block is written once, and instances are grouped by a text key.
"""

from __future__ import annotations

import ast
import json
import keyword
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from dsl.core.graph import Graph
from dsl.core.ops import channels
from dsl.errors import ExportError
from dsl.export.modules import NO_DEFAULT, Ctor, Inline, render
from dsl.export.preprocessing import Preprocessing

SLOT = "\x00{}\x00"  # a value's place in a template, replaced by a literal or a parameter name
_SLOT_RE = re.compile("\x00(\\d+)\x00")
CHILD = "\x03{}\x03"  # a child block's constructor call, by path, until its class is known
_CHILD_RE = re.compile("\x03([^\x03]*)\x03")


@dataclass
class _Member:
    """One direct member of a block: an op node or a child block."""

    path: str
    local: str
    is_block: bool
    inputs: list[str] = field(default_factory=list)  # values read from outside the member, in order
    output: str = ""  # the node whose value the member produces


@dataclass
class _Body:
    """What one block instance writes, with its numbers lifted out as `values` (slots)."""

    path: str
    definition: str
    values: list[Any] = field(default_factory=list)
    init: list[str] = field(default_factory=list)  # source lines of __init__ (with slots)
    forward: list[str] = field(default_factory=list)  # source lines of forward (with slots)
    sequential: str | None = None  # the whole block as one nn.Sequential expression (a numbered list)
    kwarg_defaults: dict[int, Any] = field(default_factory=dict)  # slot -> the callee's default for it
    kwarg_spans: dict[int, str] = field(default_factory=dict)  # slot -> `name=<slot>`, dropped at the default
    slot_names: dict[int, str] = field(default_factory=dict)  # slot -> the argument it fills (`out_channels`)
    in_channels: int | None = None
    args: tuple[tuple[str, Any], ...] = ()

    def slot(self, value: Any) -> str:
        self.values.append(value)
        return SLOT.format(len(self.values) - 1)

    def key(self, class_name: dict[str, str]) -> str:
        """The text of the body with every number lifted out and every child block named by its
        class: equal keys share a class."""
        text = "\n".join([self.sequential or "", *self.init, "--", *self.forward])
        return _CHILD_RE.sub(lambda m: "\x03" + class_name[m.group(1)] + "\x03", text)


@dataclass
class _Class:
    """One class of the output and the instances it stands for."""

    name: str
    bodies: list[_Body]
    params: list[str] = field(default_factory=list)
    columns: list[list[int]] = field(default_factory=list)  # per parameter: the slots it fills
    constant: dict[int, Any] = field(default_factory=dict)  # slot -> literal (the same in every instance)


def _attr(name: str) -> str:
    """`self.conv1`, or `getattr(self, "0")` for names that are not identifiers."""
    return f"self.{name}" if name.isidentifier() and not keyword.iskeyword(name) else f'getattr(self, "{name}")'


def _camel(name: str) -> str:
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", name) if p]
    text = "".join(p[:1].upper() + p[1:] for p in parts) or "Net"
    return text if text[0].isalpha() else f"Net{text}"


# names the file defines or imports besides the classes of definitions (a definition named
# `patchify` must not shadow the copied Patchify class)
_RESERVED = frozenset(
    {"OrderedDict", "Tensor", "Module"}
    | {
        n.name
        for n in ast.parse((Path(__file__).resolve().parents[1] / "nn" / "modules.py").read_text("utf-8")).body
        if isinstance(n, (ast.ClassDef, ast.FunctionDef))
    }
)


def _identifier(name: str) -> str:
    """`name` as a constructor parameter: keywords and `self` get a trailing underscore."""
    return f"{name}_" if keyword.iskeyword(name) or name in ("self", "super", "torch", "nn") else name


def _literal(v: Any) -> str:
    """A value as Python source (ints, floats, bools, strings and tuples of them: repr is exact)."""
    return repr(v)


class PythonWriter:
    """Writes one graph (and the modules `dsl.build` made for it) as a standalone Python file."""

    def __init__(self, graph: Graph, model: nn.Module):
        self.graph, self.model = graph, model
        self.nodes = graph.nodes
        self.members: dict[str, dict[str, _Member]] = {"": {}}
        self.helpers: set[str] = set()
        self.uses_frozen = False
        self.uses_ordered = False
        self.alias: dict[str, str] = {}
        self._index()

    # ------------------------------------------------------------------ structure
    def _index(self) -> None:
        """Every block's direct members in order, their inputs and outputs: one pass over the nodes."""
        for block in self.graph.blocks:
            self.members.setdefault(block, {})
        for node in self.nodes.values():
            if node.role == "identity" and node.inputs:
                self.alias[node.name] = self.alias.get(node.inputs[0], node.inputs[0])
        consumers = self.graph.consumers()
        for node in self.nodes.values():
            if node.role == "input":
                continue
            parts = node.name.split("/")
            for depth in range(len(parts)):
                scope = "/".join(parts[:depth])
                path = "/".join(parts[: depth + 1])
                m = self.members[scope].get(path)
                if m is None:
                    m = self.members[scope][path] = _Member(path, parts[depth], path in self.graph.blocks)
                prefix = path + "/"
                for i in node.inputs:
                    src = self.alias.get(i, i)
                    if not src.startswith(prefix) and src != path and src not in m.inputs:
                        m.inputs.append(src)
                if node.name == self.graph.output or any(
                    not c.startswith(prefix) and c != path for c in consumers[node.name]
                ):
                    m.output = node.name

    def _module(self, path: str) -> nn.Module:
        return self.model.get_submodule(path.replace("/", "."))

    # ------------------------------------------------------------------ bodies
    def body(self, path: str, class_of: dict[str, tuple[_Class, _Body]]) -> _Body:
        """The init and forward lines of block `path` ('' for the network), children already written."""
        block = self.graph.blocks.get(path)
        body = _Body(path, block.definition if block else self.graph.name, args=block.args if block else ())
        # identity ops are no code: whoever reads them reads what they pass through
        members = [m for m in self.members[path].values() if m.path not in self.alias]
        inputs = self._body_inputs(path)
        if inputs:
            body.in_channels = channels(self.nodes[inputs[0]].shape)
        items = {m.path: self._item(m, body, class_of) for m in members}
        if members and self._is_numbered_chain(members, inputs, path) and all(items.values()):
            self.uses_ordered = self.uses_ordered or not _consecutive(members)
            body.sequential = self._sequential(members, items)
            return body
        for m in members:
            item = items[m.path]
            if item is not None:
                if m.local.isidentifier() and not keyword.iskeyword(m.local):
                    body.init.append(f"self.{m.local} = {item}")
                else:
                    body.init.append(f'self.add_module("{m.local}", {item})')
        self._write_forward(body, members, inputs, path)
        return body

    def _body_inputs(self, path: str) -> list[str]:
        if not path:
            return ["input"]
        ins: list[str] = []
        for m in self.members[path].values():
            for i in m.inputs:
                if not i.startswith(path + "/") and i not in ins:
                    ins.append(i)
        if not ins:  # a block made only of pass-throughs: it reads what they pass
            ins = [self.alias.get(path, "input")]
        return ins

    def _output(self, path: str) -> str:
        if not path:
            return self.alias.get(self.graph.output, self.graph.output)
        parent = path.rpartition("/")[0]
        member = self.members[parent][path]
        return self.alias.get(member.output, member.output)

    def _item(self, m: _Member, body: _Body, class_of: dict[str, tuple[_Class, _Body]]) -> str | None:
        """The constructor expression of a member (None for a stateless op written into forward)."""
        if m.is_block:
            cls, child = class_of[m.path]
            if child.sequential is not None:
                return self._inline_sequential(child, body)
            return CHILD.format(m.path)  # the class call, written once the child's class has its parameters
        node = self.nodes[m.path]
        r = render(self._module(m.path), node)
        if isinstance(r, Inline):
            return None
        return self._ctor(r, self._module(m.path), body)

    def _ctor(self, c: Ctor, module: nn.Module, body: _Body) -> str:
        if c.helper:
            self.helpers.add(c.helper)
        parts = [body.slot(v) for v in c.args]
        for i, name in enumerate(c.arg_names):
            body.slot_names[len(body.values) - len(c.args) + i] = name
        for name, value, default in c.kwargs:
            s = body.slot(value)
            text = f"{name}={s}"
            body.slot_names[len(body.values) - 1] = name
            if default is not NO_DEFAULT:
                body.kwarg_defaults[len(body.values) - 1] = default
                body.kwarg_spans[len(body.values) - 1] = text
            parts.append(text)
        expr = f"{c.callee}({', '.join(parts)})"
        params = list(module.named_parameters())
        frozen = [n for n, p in params if not p.requires_grad]
        if frozen and len(frozen) == len(params):
            return f"{expr}.requires_grad_(False)"
        if frozen:
            self.uses_frozen = True
            return f"frozen({expr}, {', '.join(repr(n) for n in frozen)})"
        return expr

    def _inline_sequential(self, child: _Body, body: _Body) -> str:
        """A numbered list, written where its parent constructs it (its numbers become the parent's)."""
        text = child.sequential or ""
        offset = len(body.values)
        body.values.extend(child.values)
        for slot, d in child.kwarg_defaults.items():
            body.kwarg_defaults[slot + offset] = d
        for slot, span in child.kwarg_spans.items():
            body.kwarg_spans[slot + offset] = _shift(span, offset)
        for slot, name in child.slot_names.items():
            body.slot_names[slot + offset] = name
        return _shift(text, offset)

    def _is_numbered_chain(self, members: list[_Member], inputs: list[str], path: str) -> bool:
        """A list `[a, b, c]`: members named by numbers, each reading only the one before."""
        if not path or not all(m.local.isdigit() for m in members) or len(inputs) != 1:
            return False
        prev = inputs[0]
        for m in members:
            if m.inputs != [prev]:
                return False
            prev = self.alias.get(m.output, m.output) if not m.is_block else self._output(m.path)
        return prev == self._output(path)

    def _sequential(self, members: list[_Member], items: dict[str, str | None]) -> str:
        if _consecutive(members):
            inner = ", ".join(str(items[m.path]) for m in members)
            return f"nn.Sequential({inner})"
        inner = ", ".join(f'("{m.local}", {items[m.path]})' for m in members)
        return f"nn.Sequential(OrderedDict([{inner}]))"

    def _write_forward(self, body: _Body, members: list[_Member], inputs: list[str], path: str) -> None:
        if len(inputs) != 1:
            raise ExportError(f"block {path or self.graph.name} reads {len(inputs)} values from outside; expected one")
        var = {inputs[0]: "x"}
        out = self._output(path)
        uses: dict[str, int] = {out: 1}
        for m in members:
            for i in m.inputs:
                uses[i] = uses.get(i, 0) + 1
        live = {"x"}  # the names holding a value still to be read
        for m in members:
            ins = [var[i] for i in m.inputs]
            produced = self._output(m.path) if m.is_block else m.path
            if m.is_block:
                expr = f"{_attr(m.local)}({', '.join(ins)})"
            else:
                r = render(self._module(m.path), self.nodes[m.path])
                if isinstance(r, Inline):
                    expr = _fill(r.template, ins, [body.slot(v) for v in r.values])
                else:
                    expr = f"{_attr(m.local)}({', '.join(ins)})"
            for i in m.inputs:
                uses[i] -= 1
            dead = [v for v in m.inputs if uses[v] == 0]
            for v in dead:
                live.discard(var[v])
            target = var[dead[0]] if dead else _fresh(live)
            live.add(target)
            var[produced] = target
            body.forward.append(f"{target} = {expr}")
        body.forward.append(f"return {var[out]}")

    # ------------------------------------------------------------------ the file
    def source(self, origin: str = "", weights: str = "weights.pt", preprocessing: Preprocessing | None = None) -> str:
        """The whole file; its docstring names `origin` (the .net file or run folder) and `weights`;
        `preprocessing` adds the input's constants and `preprocess()`."""
        class_of: dict[str, tuple[_Class, _Body]] = {}
        order: list[_Class] = []
        by_key: dict[tuple[str, str], _Class] = {}
        names: set[str] = set(_RESERVED)
        class_name: dict[str, str] = {}
        for path in [*reversed(list(self.graph.blocks)), ""]:  # children before parents
            body = self.body(path, class_of)
            key = (body.definition if path else "\x00net", body.key(class_name))
            cls = by_key.get(key)
            if cls is None:
                base = _camel(body.definition) if path else _camel(self.graph.name)
                name, n = base, 2
                while name in names:
                    name, n = f"{base}{n}", n + 1
                names.add(name)
                cls = by_key[key] = _Class(name, [])
                if body.sequential is None:
                    order.append(cls)
            cls.bodies.append(body)
            class_of[path] = (cls, body)
            class_name[path] = cls.name
        # A class's parameters are known once all its instances are: then (children first, in
        # the order the classes were made) each parent writes its children's constructor calls.
        for cls in order:
            for body in cls.bodies:
                _write_child_calls(body, class_of)
            _parameterise(cls)
        # written in the order a reader meets them: each class after the classes it uses (blocks
        # depth-first, children before their parent, in network order), the network last
        rank = {path: i for i, path in enumerate(_post_order(list(self.graph.blocks)))}
        first = {cls.name: min(rank.get(b.path, len(rank)) for b in cls.bodies) for cls in order}
        order.sort(key=lambda c: first[c.name])
        lines = [
            _header(self.graph, origin or self.graph.file, order[-1].name, weights),
            "",
            "from __future__ import annotations",
            "",
        ]
        lines += _imports(self.helpers, self.uses_ordered)
        # isort's layout: one blank line before constants, two before a class or function
        lines += [""] if preprocessing is not None else ["", ""]
        if preprocessing is not None:
            lines += _preprocessing_source(preprocessing).splitlines() + ["", ""]
        if self.uses_frozen:
            lines += _FROZEN.splitlines() + ["", ""]
        for helper in _helper_sources(self.helpers):
            lines += helper.splitlines() + ["", ""]
        for cls in order:
            lines += _class_source(cls).splitlines() + ["", ""]
        return "\n".join(lines).rstrip() + "\n"


def _header(graph: Graph, origin: str, root: str, weights: str) -> str:
    shape = "×".join(map(str, graph.input_shape))
    return f'''"""{graph.name}: PyTorch source exported by netc from {origin}.

Input {shape} (a batch: (N, {", ".join(map(str, graph.input_shape))})), output {"×".join(map(str, graph.output_shape))};
{graph.params:,} parameters; netc fingerprint {graph.fingerprint}. Needs only torch.
`{root}()` has the modules and state_dict() keys of netc's dsl.build, so weights move both ways:

    model = {root}()
    model.load_state_dict(torch.load({json.dumps(weights)}, weights_only=True))

Initial weights follow each module's own initialisation (netc's init= options and batch-norm fills
are not repeated here): load trained weights, or the state dict of dsl.build, for netc's.
"""'''


def _preprocessing_source(pre: Preprocessing) -> str:
    """The input's constants and the function that prepares images as netc's training did."""
    classes = "None" if pre.classes is None else "(" + ", ".join(json.dumps(c) for c in pre.classes) + ",)"
    return f'''# How the network's inputs are prepared (as in its training recipe): uint8 images
# (N, C, H, W) of INPUT_SHAPE, pixels p -> (p / 255 - MEAN) / STD per channel.
INPUT_SHAPE = {tuple(pre.input_shape)!r}
MEAN = {tuple(pre.mean)!r}
STD = {tuple(pre.std)!r}
CLASSES = {classes}  # the output classes' names, when the training data named them


def preprocess(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (N, C, H, W) -> the float32 input the network was trained on."""
    c = images.shape[1]
    mean = torch.tensor(MEAN, device=images.device).reshape(1, c, 1, 1) * 255
    std = torch.tensor(STD, device=images.device).reshape(1, c, 1, 1) * 255
    return (images.float() - mean) / std'''


def _post_order(blocks: list[str]) -> list[str]:
    """Block paths, children before their parent, siblings in order (iterative: any depth)."""
    children: dict[str, list[str]] = {"": []}
    for path in blocks:  # parents come before children
        children.setdefault(path, [])
        children[path.rpartition("/")[0]].append(path)
    out: list[str] = []
    stack: list[tuple[str, bool]] = [(p, False) for p in reversed(children[""])]
    while stack:
        path, done = stack.pop()
        if done:
            out.append(path)
            continue
        stack.append((path, True))
        stack.extend((c, False) for c in reversed(children[path]))
    return out


def _consecutive(members: list[_Member]) -> bool:
    return [m.local for m in members] == [str(i) for i in range(len(members))]


def _fresh(live: set[str]) -> str:
    """`out`, or `out2`, `out3`, ... when that name still holds a value to be read."""
    name, n = "out", 2
    while name in live:
        name, n = f"out{n}", n + 1
    return name


def _fill(template: str, ins: list[str], slots: list[str]) -> str:
    text = template
    for i, s in enumerate(slots):
        text = text.replace(f"{{v{i}}}", s)
    for i, v in enumerate(ins):
        text = text.replace(f"{{{i}}}", v)
    return text


def _shift(text: str, offset: int) -> str:
    return _SLOT_RE.sub(lambda m: SLOT.format(int(m.group(1)) + offset), text)


def _write_child_calls(body: _Body, class_of: dict[str, tuple[_Class, _Body]]) -> None:
    """Replace each child block's placeholder by `ChildClass(values...)`, the values as new slots."""

    def call(m: re.Match[str]) -> str:
        cls, child = class_of[m.group(1)]
        args = [body.slot(child.values[col[0]]) for col in cls.columns]
        return f"{cls.name}({', '.join(args)})"

    body.init = [_CHILD_RE.sub(call, line) for line in body.init]


def _parameterise(cls: _Class) -> None:
    """The constructor parameters of a class: the slots whose values differ between its instances,
    merged where they always agree, named after the definition's parameters where they match."""
    bodies = cls.bodies
    n = len(bodies[0].values)
    columns: dict[tuple[Any, ...], list[int]] = {}
    for slot in range(n):
        col = tuple(_hashable(b.values[slot]) for b in bodies)
        if len(set(col)) == 1:
            cls.constant[slot] = bodies[0].values[slot]
        else:
            columns.setdefault(col, []).append(slot)
    used: set[str] = set()
    for col, slots in columns.items():
        name = _identifier(_name_column(col, bodies, slots))
        base, k = name, 2
        while name in used:
            name, k = f"{base}_{k}", k + 1
        used.add(name)
        cls.params.append(name)
        cls.columns.append(slots)


def _hashable(v: Any) -> Any:
    return ("\x02", repr(v)) if isinstance(v, (list, dict)) else (type(v).__name__, v)


def _name_column(col: tuple[Any, ...], bodies: list[_Body], slots: list[int]) -> str:
    values = [b.values[slots[0]] for b in bodies]
    for name, _ in bodies[0].args:
        if all(
            dict(b.args).get(name, object()) == v and type(dict(b.args).get(name)) is type(v)
            for b, v in zip(bodies, values)
        ):
            return name
    if all(b.in_channels == v for b, v in zip(bodies, values)):
        return "in_channels"
    return bodies[0].slot_names.get(slots[0], "value")


_FROZEN = '''def frozen(module: nn.Module, *names: str) -> nn.Module:
    """`module` with the named parameters not trained (requires_grad False)."""
    for name in names:
        getattr(module, name).requires_grad_(False)
    return module'''


def _imports(helpers: set[str], ordered: bool) -> list[str]:
    """The import lines, grouped and sorted as isort does (standard library, then torch)."""
    stdlib = ["import math"] if "LayerScale" in helpers else []  # its initialise() uses math
    if ordered:
        stdlib.append("from collections import OrderedDict")
    return [*stdlib, *([""] if stdlib else []), "import torch", "from torch import nn"]


def _helper_sources(helpers: set[str]) -> list[str]:
    """The classes (and what they call) of dsl/nn/modules.py the file needs, copied as written there."""
    path = Path(__file__).resolve().parents[1] / "nn" / "modules.py"
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    defs = {n.name: n for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    wanted: list[str] = []
    todo = sorted(helpers)
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        wanted.append(name)
        for sub in ast.walk(defs[name]):
            if isinstance(sub, ast.Name) and sub.id in defs and sub.id not in wanted:
                todo.append(sub.id)
    # in the order of nn/modules.py (a base class before its subclasses), decorators included
    lines = text.splitlines()
    out = []
    for name, node in defs.items():
        if name in wanted:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            out.append("\n".join(lines[first - 1 : node.end_lineno]))
    return out


def _class_source(cls: _Class) -> str:
    body = cls.bodies[0]
    values = {slot: _literal(v) for slot, v in cls.constant.items()}
    for name, slots in zip(cls.params, cls.columns):
        for s in slots:
            values[s] = name
    init = [_drop_defaults(line, cls) for line in body.init]
    init = [_SLOT_RE.sub(lambda m: values[int(m.group(1))], line) for line in init]
    forward = [_SLOT_RE.sub(lambda m: values[int(m.group(1))], line) for line in body.forward]
    params = "".join(f", {p}{_annotation(cls, slots)}" for p, slots in zip(cls.params, cls.columns))
    out = [f"class {cls.name}(nn.Module):"]
    if len(cls.bodies) == 1 and cls.bodies[0].path == "":
        doc = "The network."
    else:
        n = len(cls.bodies)
        doc = f"The .net definition `{body.definition}`" + (f" ({n} instances)." if n > 1 else ".")
    out.append(f'    """{doc}"""')
    out.append("")
    out.append(f"    def __init__(self{params}) -> None:")
    out.append("        super().__init__()")
    out += [f"        {line}" for line in init]
    out.append("")
    out.append("    def forward(self, x: torch.Tensor) -> torch.Tensor:")
    out += [f"        {line}" for line in forward]
    return "\n".join(out)


def _annotation(cls: _Class, slots: list[int]) -> str:
    """`: int` when every instance passes a value of one simple type."""
    kinds = {type(b.values[slots[0]]) for b in cls.bodies}
    if len(kinds) == 1 and (kind := kinds.pop()) in (int, float, bool, str):
        return f": {kind.__name__}"
    return ""


def _drop_defaults(line: str, cls: _Class) -> str:
    """Leave out `name=value` where every instance has the callee's default."""
    body = cls.bodies[0]
    for slot, text in body.kwarg_spans.items():
        if slot in cls.constant and _same(cls.constant[slot], body.kwarg_defaults[slot]):
            line = line.replace(", " + text, "").replace(text + ", ", "").replace(text, "")
    return line


def _same(a: Any, b: Any) -> bool:
    return (
        type(a) is type(b)
        and a == b
        or (
            isinstance(a, (int, float))
            and isinstance(b, (int, float))
            and a == b
            and not isinstance(a, bool)
            and not isinstance(b, bool)
        )
    )
