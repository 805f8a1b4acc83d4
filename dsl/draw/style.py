"""The drawing palette. Op colours come from each op's registry entry (`Op.style`);
this module only holds what is not an op: block kinds, clusters and defaults."""

from __future__ import annotations

from dsl.core.ops import REGISTRY

FONT = "Helvetica"

# The article's block pictures: residual blocks pink, downsampling blocks light green.
# Keyed by a drawn block's kind (`Part.kind`), not by an op's role (`Node.role`).
KIND_FILL = {
    "residual": "#fccde5",  # identity shortcut, shape in = shape out
    "downsample": "#ccebc5",  # spatial resolution reduced (the article: halved, channels doubled)
    "plain": "#eeeeee",  # everything else
    "input": "white",
}
KIND_TEXT = {
    "residual": "residual block: identity shortcut, same shape in and out",
    "downsample": "downsampling block: spatial resolution reduced",
    "plain": "other block",
    "input": "the network input",
}

CLUSTER = {
    "style": "rounded,filled",
    "fillcolor": "#77777744",
    "color": "#77777744",
    "fontname": FONT,
    "fontsize": "12",
    "labeljust": "l",
}
OPTIONAL_BORDER = {"color": "#333333"}  # with a dashed style: a search-space choice
OP_DEFAULT = {
    "shape": "box",
    "style": "rounded,filled",
    "fillcolor": "white",
    "fontname": FONT,
    "fontsize": "11",
    "penwidth": "0.8",
}
BLOCK_NODE = {"shape": "box", "style": "rounded,filled", "fontname": FONT, "fontsize": "12", "penwidth": "0.8"}
COLLAPSED_NODE = {"shape": "box3d", "style": "filled", "fontname": FONT, "fontsize": "11", "penwidth": "0.8"}
EDGE = {"arrowsize": "0.6", "penwidth": "0.8"}
SKIP_EDGE = {"color": "#c51b7d", "arrowsize": "0.6", "penwidth": "0.8", "constraint": "false"}


def op_style(op_name: str) -> dict[str, str]:
    """The op's own graphviz attributes, as declared by its registry entry (`Op.style`)."""
    op = REGISTRY.get(op_name)
    return {k: str(v) for k, v in sorted(op.style.items())} if op is not None else {}


def op_attrs(op_name: str) -> dict[str, str]:
    """All graphviz node attributes for a primitive: the defaults overlaid with its registry style."""
    return {**OP_DEFAULT, **op_style(op_name)}


def with_dashes(style: str) -> str:
    """`style` with `dashed` added once (a search-space choice)."""
    parts = [p for p in style.split(",") if p]
    return ",".join(parts + (["dashed"] if "dashed" not in parts else []))


def palette() -> list[tuple[str, str, str]]:
    """(op name, role, fill) for every registered op, in registry order (aliases once)."""
    seen, out = set(), []
    for name, op in REGISTRY.items():
        if id(op) in seen:
            continue
        seen.add(id(op))
        out.append((name, op.role, op.style.get("fillcolor", OP_DEFAULT["fillcolor"])))
    return out
