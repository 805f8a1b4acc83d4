"""`netc draw`: the drawings' structure (parsed DOT checked against the graph), SVGs rendered
by the real `dot`, folding, --depth / --variant, bounded labels, linear work, atomic output,
missing Graphviz, no torch, and random nets.

Regenerate the golden files with:  NETC_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_draw.py
"""

from __future__ import annotations

import dataclasses
import errno
import itertools
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest
from golden_files import check_golden
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from net_strategies import PRELUDE, net_exprs

import dsl
from dsl.core.ops import REGISTRY, fmt_shape
from dsl.draw import to_dot
from dsl.draw.structure import MAX_TEXT, bounded

ROOT = Path(__file__).resolve().parents[1]
NETS = sorted((ROOT / "nets").glob("*.net"))
SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"
HAVE_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAVE_DOT, reason="Graphviz `dot` is not installed (.ci/run installs it)")

# The article's colours, written out here (not read from dsl.draw.style) so that a changed
# palette fails the tests.
PINK, LIGHT_GREEN, GREY, SKIP = "#fccde5", "#ccebc5", "#eeeeee", "#c51b7d"
KIND_COLOURS = {"residual": PINK, "downsample": LIGHT_GREEN, "plain": GREY, "input": "white"}

FOLD_NET = """input 3x32x32
prep -> layer1(res^3) -> layer2 -> gmp -> fc*0.125
"""
REPEAT_2000 = "input 3x32x32\nblk = conv(16) -> bn -> relu\nblk^2000 -> gmp -> linear(10)\n"


def _load(net: str | None = None, variant: str | None = None, text: str | None = None, filename: str = "t.net"):
    if text is not None:
        return dsl.loads(text, filename=filename, max_params=10**12)
    return dsl.load(ROOT / "nets" / f"{net}.net", variant=variant)


# ------------------------------------------------------------------ a small DOT reader
@dataclasses.dataclass
class Drawing:
    """A DOT source read back: nodes (in order), clusters, edges, graph attributes."""

    graph: dict[str, str]
    nodes: dict[str, dict[str, str]]
    node_count: Counter
    parent: dict[str, str]  # node or cluster -> enclosing cluster ('' = top)
    clusters: dict[str, dict[str, str]]  # cluster name without 'cluster_' -> attributes
    edges: list[tuple[str, str, dict[str, str]]]

    def plain_edges(self) -> set[tuple[str, str]]:
        return {(a, b) for a, b, at in self.edges if at.get("constraint") != "false"}

    def skip_edges(self) -> set[tuple[str, str]]:
        return {(a, b) for a, b, at in self.edges if at.get("constraint") == "false"}

    def ancestors(self, item: str) -> list[str]:
        out, p = [], self.parent.get(item, "")
        while p:
            out.append(p)
            p = self.parent[p]
        return out[::-1]

    def attr_values(self):
        yield from self.graph.values()
        for attrs in (*self.nodes.values(), *self.clusters.values(), *(e[2] for e in self.edges)):
            yield from attrs.values()


_TOKEN = re.compile(r'\s*(?:("(?:\\.|[^"\\])*")|(->)|([{}\[\];=,])|([^\s{}\[\];=,"]+))', re.DOTALL)


def _tokens(src: str) -> list[str]:
    out, pos = [], 0
    src = src.rstrip()
    while pos < len(src):
        while src[pos].isspace():
            pos += 1
        if src[pos] == "<":  # an HTML-like label: up to its balancing '>'
            depth, end = 0, pos
            while True:
                depth += {"<": 1, ">": -1}.get(src[end], 0)
                end += 1
                if depth == 0:
                    break
            out.append(src[pos:end])
            pos = end
            continue
        m = _TOKEN.match(src, pos)
        assert m, f"cannot read DOT at {src[pos : pos + 40]!r}"
        out.append(next(g for g in m.groups() if g is not None))
        pos = m.end()
    return out


def _unquote(tok: str) -> str:
    """A DOT value as text; an HTML-like label's rows joined by `\\n`, as a plain label writes them."""
    if tok.startswith("<"):
        import html

        rows = re.findall(r"<TR>(.*?)</TR>", tok)
        return "\\n".join(html.unescape(re.sub(r"<[^>]*>", "", r)) for r in rows)
    return tok[1:-1].replace('\\"', '"') if tok.startswith('"') else tok


def parse_dot(src: str) -> Drawing:
    """Read the DOT the graphviz binding writes (statements, attribute lists, nested subgraphs)."""
    toks = _tokens(src)
    d = Drawing({}, {}, Counter(), {}, {}, [])
    i = 0
    assert toks[0] == "digraph", toks[:3]
    i = toks.index("{") + 1
    stack = [""]

    def attrs() -> dict[str, str]:
        nonlocal i
        out = {}
        if i < len(toks) and toks[i] == "[":
            i += 1
            while toks[i] != "]":
                key = _unquote(toks[i])
                assert toks[i + 1] == "=", toks[i : i + 3]
                out[key] = _unquote(toks[i + 2])
                i += 3
                if toks[i] in (",", ";"):
                    i += 1
            i += 1
        return out

    while i < len(toks):
        t = toks[i]
        if t == "}":
            stack.pop()
            i += 1
            continue
        if t == ";":
            i += 1
            continue
        if t == "subgraph":
            name = _unquote(toks[i + 1])
            assert name.startswith("cluster_") and toks[i + 2] == "{", toks[i : i + 3]
            name = name[len("cluster_") :]
            d.clusters[name] = {}
            d.parent[name] = stack[-1]
            stack.append(name)
            i += 3
            continue
        if t in ("node", "edge", "graph") and toks[i + 1] == "[":
            i += 1
            attrs()
            continue
        if toks[i + 1] == "=":
            target = d.clusters[stack[-1]] if stack[-1] else d.graph
            target[_unquote(t)] = _unquote(toks[i + 2])
            i += 3
            continue
        if toks[i + 1] == "->":
            a, b = _unquote(t), _unquote(toks[i + 2])
            i += 3
            d.edges.append((a, b, attrs()))
            continue
        name = _unquote(t)
        i += 1
        d.nodes[name] = attrs()
        d.node_count[name] += 1
        d.parent[name] = stack[-1]
    assert stack == [], "unbalanced braces"
    return d


def draw(g, level: str = "blocks", **kw) -> Drawing:
    return parse_dot(to_dot(g, level=level, **kw))


# ------------------------------------------------------------------ what a drawing must show
def through(g, name: str) -> str:
    """Follow identities back to what they pass through (the test's own implementation)."""
    while g.nodes[name].role == "identity" and g.nodes[name].inputs:
        name = g.nodes[name].inputs[0]
    return name


def folded_runs(g, d: Drawing) -> dict[str, list[str]]:
    """{first copy: all copies} for every folded run the drawing shows. A run is shown as
    `X ×k` and its tooltip names the first and last copies; the copies are the sibling blocks
    from first to last, which the count in the tooltip must match."""
    runs = {}
    tips = [(name, at.get("tooltip", "")) for name, at in (*d.nodes.items(), *d.clusters.items())]
    for name, tip in tips:
        m = next(
            filter(None, (re.match(r"([\w/]+) … ([\w/]+) \(([\d,]+) copies\)", line) for line in tip.split("\\n"))),
            None,
        )
        if not m:
            continue
        first, last, count = m.group(1), m.group(2), int(m.group(3).replace(",", ""))
        assert first == name, (name, tip)
        parent = first.rpartition("/")[0]
        siblings = [p for p in g.blocks if p.rpartition("/")[0] == parent]
        start = siblings.index(first)
        copies = siblings[start : siblings.index(last, start) + 1]
        assert len(copies) == count, (name, tip, copies)
        assert all(g.blocks[c].repeat_of is not None for c in copies[1:]), copies
        runs[first] = copies
    return runs


def under(name: str, path: str) -> bool:
    return name == path or name.startswith(path + "/")


def paths_of(name: str) -> list[str]:
    """`a/b/c` -> [`a`, `a/b`, `a/b/c`]: the name and the blocks it lies in."""
    parts = name.split("/")
    return ["/".join(parts[:k]) for k in range(1, len(parts) + 1)]


def check_every_op_accounted_for(g, d: Drawing) -> None:
    """Every non-identity op is drawn exactly once: as its own node, inside a collapsed block
    or blocks-view unit, or inside a later copy of a folded run whose first copy is drawn."""
    drawn = set(d.nodes)
    runs = folded_runs(g, d)
    later = {c: first for first, copies in runs.items() for c in copies[1:]}
    # every block that holds something drawn (a drawn node or cluster, or one inside it)
    holds_drawn = {p for x in (*drawn, *d.clusters) for p in paths_of(x)}
    assert all(n == 1 for n in d.node_count.values()), [n for n, c in d.node_count.items() if c > 1]
    for item in drawn:
        assert item in g.nodes or item in g.blocks, f"{item} is neither an op nor a block"
        assert item not in g.nodes or g.nodes[item].role != "identity", f"identity {item} drawn"
    for name, node in g.nodes.items():
        if node.role == "identity":
            continue
        copy = next((p for p in paths_of(name) if p in later), None)
        if copy:  # inside a later copy of a folded run: nothing of that copy is drawn
            assert copy not in holds_drawn, (name, copy)
            assert later[copy] in drawn or later[copy] in d.clusters, (name, copy)
        else:
            assert any(p in drawn for p in paths_of(name)), f"{name} ({node.op}) is not drawn"


def check_ops_view(g, d: Drawing, fold: bool) -> None:
    """The ops view without --depth: each drawn op has its registry fill and its local name,
    sits in the clusters of its enclosing blocks, and the edges are the graph's."""
    check_every_op_accounted_for(g, d)
    later = {c for copies in folded_runs(g, d).values() for c in copies[1:]}
    if not fold:
        assert not later
    for name, node in g.nodes.items():
        if node.role == "identity" or any(under(name, c) for c in later):
            assert name not in d.nodes
            continue
        at = d.nodes[name]
        assert at.get("fillcolor", "white") == REGISTRY[node.op].style.get("fillcolor", "white"), name
        local = node.local_name  # an item of a numbered list also says what it is (`0: whiten`)
        assert at["label"] == (f"{local}: {node.op}" if local.isdigit() else local)
        blocks = [p for p in (name.rsplit("/", k)[0] for k in range(name.count("/"), 0, -1)) if p in g.blocks]
        assert d.ancestors(name) == blocks, name
    for name in d.clusters:
        assert name in g.blocks, name
    if not fold:
        want = {(through(g, i), n) for n, node in g.nodes.items() if node.role != "identity" for i in node.inputs}
        assert d.plain_edges() == want
        assert not d.skip_edges()
    for a, b, _ in d.edges:
        assert a in d.nodes and b in d.nodes and a != b, (a, b)


def check_skip_edges(d: Drawing) -> None:
    """Blocks view: each residual (pink) block R gets skip edges from the block feeding it to
    every other block it feeds, and there are no other skip edges."""
    plain = d.plain_edges()
    want = set()
    for r, at in d.nodes.items():
        if at["fillcolor"] != PINK:
            continue
        feeders = [a for a, b, e in d.edges if b == r and e.get("constraint") != "false"]
        if not feeders:
            continue
        src = feeders[0]
        want |= {(src, b) for a, b in plain if a == r and b != src}
    assert d.skip_edges() == want
    for a, b, at in d.edges:
        if at.get("constraint") == "false":
            assert at["color"] == SKIP and "shortcut" in at["tooltip"], (a, b)


# ------------------------------------------------------------------ golden DOT
# Golden files pin what no structural check pins: the exact text of labels and tooltips,
# the attribute order and the statement order that make the committed diagrams reproducible.
GOLDEN = [
    # the article's network, blocks view: the diagram of README and docs/drawing.md
    ("residual_l1_l3.blocks", "residual_l1_l3", "blocks"),
    # the article's network, ops view: the other diagram of the docs (op tooltips with all
    # resolved parameters, cluster tooltips, node and edge order)
    ("residual_l1_l3.ops", "residual_l1_l3", "ops"),
    # a folded run in both views: the `res ×3` label and the bounded copies tooltip
    ("fold.blocks", None, "blocks"),
    ("fold.ops", None, "ops"),
]


@pytest.mark.parametrize("name,net,level", GOLDEN, ids=[c[0] for c in GOLDEN])
def test_golden_dot(name, net, level):
    g = _load(text=FOLD_NET, filename="fold.net") if net is None else _load(net)
    check_golden(f"draw/{name}.dot", to_dot(g, level=level))


def test_dot_is_deterministic_across_processes():
    """Pins: the DOT text does not depend on hash seeds (dict/set order)."""
    code = (
        "import dsl; from dsl.draw import to_dot; import sys; "
        "sys.stdout.write(to_dot(dsl.load('nets/search_residual.net'), level='ops'))"
    )
    outs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        outs.add(
            subprocess.run(
                [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
            ).stdout
        )
    assert len(outs) == 1


# ------------------------------------------------------------------ structure, every net
@pytest.mark.parametrize("fold", [True, False], ids=["fold", "no-fold"])
@pytest.mark.parametrize("net", [*NETS, None], ids=[p.stem for p in NETS] + ["fold_net"])
def test_ops_view_structure(net, fold):
    """Every op appears once (identities removed, folded copies dropped) with its registry
    fill, inside the clusters of its blocks; every graph edge is a drawn edge."""
    g = _load(text=FOLD_NET, filename="fold.net") if net is None else dsl.load(net)
    check_ops_view(g, draw(g, "ops", fold=fold), fold)


@pytest.mark.parametrize("fold", [True, False], ids=["fold", "no-fold"])
@pytest.mark.parametrize("net", [*NETS, None], ids=[p.stem for p in NETS] + ["fold_net"])
def test_blocks_view_structure(net, fold):
    """Every op belongs to a drawn block; fills are the article's colours; skip edges go
    from the block feeding a residual block to the blocks it feeds."""
    g = _load(text=FOLD_NET, filename="fold.net") if net is None else dsl.load(net)
    d = draw(g, "blocks", fold=fold)
    check_every_op_accounted_for(g, d)
    assert {at["fillcolor"] for at in d.nodes.values()} <= set(KIND_COLOURS.values())
    check_skip_edges(d)
    assert d.graph["rankdir"] == "LR"


def test_blocks_view_of_the_article_network():
    """The article's picture of Residual:L1+L3: the blocks in order, their labels and
    colours, the chain of edges and the two skip edges."""
    g = _load("residual_l1_l3")
    d = draw(g, "blocks")
    want = {
        "input": ("input", ["input", "3×32×32"]),
        "prep": ("plain", ["prep", "64×32×32"]),
        "layer1": ("downsample", ["layer1", "128×16×16"]),
        "layer1/res": ("residual", ["res", "128×16×16"]),
        "layer2": ("downsample", ["layer2", "256×8×8"]),
        "layer3": ("downsample", ["layer3", "512×4×4"]),
        "layer3/res": ("residual", ["res", "512×4×4"]),
        "gmp": ("plain", ["gmp", "512"]),
        "fc": ("plain", ["fc×0.125", "10"]),
    }
    assert list(d.nodes) == list(want)
    for name, (kind, label) in want.items():
        assert d.nodes[name]["label"].split("\\n") == label, name
        assert d.nodes[name]["fillcolor"] == KIND_COLOURS[kind], name
    order = list(want)
    assert d.plain_edges() == set(itertools.pairwise(order))
    assert d.skip_edges() == {("layer1", "layer2"), ("layer3", "gmp")}
    tip = d.nodes["layer1/res"]["tooltip"].split("\\n")
    params = sum(n.n_params for n in g.nodes.values() if under(n.name, "layer1/res"))
    assert tip == [
        'res "Residual"',
        "128×16×16 -> 128×16×16",
        "residual block: identity shortcut, same shape in and out",
        f"{params:,} params",
    ]


@needs_dot
def test_ops_svg_clusters_and_op_colours(netc, tmp_path):
    """The rendered ops view: nested translucent clusters, every op with its registry fill,
    its name and a tooltip with its parameters and shape; the shortcut skips the identity."""
    out = tmp_path / "r.svg"
    r = netc("draw", ROOT / "nets/residual_l1_l3.net", "--level", "ops", "-o", out)
    assert r.code == 0, r
    root = _svg(out)
    clusters = _items(root, "cluster")
    labels = {texts[0] for texts, _, _ in clusters.values()}
    assert {"prep", "layer1", "res", "conv_bn", "conv_bn_1", "conv_bn_2", "layer2", "layer3", "fc"} <= labels
    assert "cluster_layer1/res/conv_bn_1" in clusters
    for title, (_, fills, _) in clusters.items():
        assert fills and fills[0] == ("#777777", "0.266667"), title  # translucent grey #77777744
    nodes = _items(root, "node")
    g = dsl.load(ROOT / "nets/residual_l1_l3.net")
    drawn = [n for n in g.nodes.values() if n.role != "identity"]
    assert set(nodes) == {n.name for n in drawn}  # every primitive, identities removed
    for n in drawn:
        texts, fills, tip = nodes[n.name]
        assert fills[0][0] == REGISTRY[n.op].style["fillcolor"], n.name
        assert texts == [n.local_name]
        assert fmt_shape(n.shape) in tip and tip.startswith(n.name), n.name
        if n.role != "input":
            assert n.op + "(" in tip, n.name  # the op and its parameters
    assert "conv(c=64, k=3" in nodes["prep/conv_bn/conv"][2] and "64×32×32" in nodes["prep/conv_bn/conv"][2]
    edges = {t.replace("&#45;&gt;", "->") for t in _items(root, "edge")}
    assert "layer1/maxpool->layer1/res/add" in edges


@needs_dot
def test_blocks_svg_kinds_and_labels(netc, tmp_path):
    """The rendered blocks view keeps the DOT's colours, labels and skip edges."""
    out = tmp_path / "r.svg"
    r = netc("draw", ROOT / "nets/residual_l1_l3.net", "-o", out)
    assert r.code == 0, r
    root = _svg(out)
    nodes = _items(root, "node")
    assert nodes["layer1/res"][0] == ["res", "128×16×16"] and nodes["layer1/res"][1][0][0] == PINK
    assert nodes["layer2"][0] == ["layer2", "256×8×8"] and nodes["layer2"][1][0][0] == LIGHT_GREEN
    assert nodes["fc"][0] == ["fc×0.125", "10"] and nodes["fc"][1][0][0] == GREY
    skips = {
        t.replace("&#45;&gt;", "->")
        for t, (_, fills, _) in _items(root, "edge").items()
        if any(f[0] == SKIP for f in fills)
    }
    assert skips == {"layer1->layer2", "layer3->gmp"}


def _svg(path: Path):
    root = ET.parse(path).getroot()
    assert root.tag == SVG + "svg"
    return root


def _items(root, cls):
    """{title: (texts, fills, tooltip)} for every <g class=cls> (cluster, node or edge)."""
    out = {}
    for g in root.iter(SVG + "g"):
        if g.get("class") != cls:
            continue
        title = g.find(SVG + "title").text
        texts = [t.text for t in g.iter(SVG + "text")]
        fills = [
            (e.get("fill"), e.get("fill-opacity"))
            for e in g.iter()
            if e.tag in (SVG + "path", SVG + "polygon", SVG + "ellipse") and e.get("fill") not in (None, "none")
        ]
        tips = [a.get(XLINK + "title") for a in g.iter(SVG + "a") if a.get(XLINK + "title")]
        out[title] = (texts, fills, tips[0] if tips else None)
    return out


def _render(source: str) -> bytes:
    return subprocess.run(["dot", "-Tsvg"], input=source.encode(), capture_output=True, check=True).stdout


@needs_dot
@pytest.mark.parametrize("net", NETS, ids=[p.stem for p in NETS])
def test_every_net_renders_every_drawn_node(net):
    """`dot` renders each view of each net with exactly the nodes and clusters of the DOT."""
    g = dsl.load(net)
    for kw in ({"level": "blocks"}, {"level": "ops"}, {"level": "ops", "depth": 0}, {"level": "ops", "depth": 1}):
        source = to_dot(g, **kw)
        d = parse_dot(source)
        root = ET.fromstring(_render(source))
        assert set(_items(root, "node")) == set(d.nodes), (net.name, kw)
        assert set(_items(root, "cluster")) == {f"cluster_{c}" for c in d.clusters}, (net.name, kw)


# ------------------------------------------------------------------ --depth, --variant, folding
def test_depth_collapses_deeper_clusters():
    """--depth N: blocks nested deeper than N become 3-D boxes labelled name and shape."""
    g = _load("residual_l1_l3")
    full = draw(g, "ops")
    assert {"layer1/res/conv_bn_1", "layer1/res", "layer1"} <= set(full.clusters)
    d2 = draw(g, "ops", depth=2)
    assert set(d2.clusters) == {
        "prep",
        "prep/conv_bn",
        "layer1",
        "layer1/conv_bn",
        "layer1/res",
        "layer2",
        "layer2/conv_bn",
        "layer3",
        "layer3/conv_bn",
        "layer3/res",
        "fc",
    }
    assert {"layer1/res/conv_bn_1", "layer1/res/conv_bn_2", "layer1/res/add"} <= set(d2.nodes)
    assert d2.parent["layer1/res/conv_bn_1"] == "layer1/res"
    d1 = draw(g, "ops", depth=1)
    assert set(d1.clusters) == {"prep", "layer1", "layer2", "layer3", "fc"}
    res = d1.nodes["layer1/res"]
    assert res["label"] == "res\\n128×16×16" and res["shape"] == "box3d" and res["fillcolor"] == PINK
    assert d1.nodes["layer1/conv_bn"]["fillcolor"] == GREY
    assert ("layer1/maxpool", "layer1/res") in d1.plain_edges() and ("layer1/res", "layer2/conv_bn") in d1.plain_edges()
    d0 = draw(g, "ops", depth=0)
    assert d0.clusters == {}
    assert list(d0.nodes) == ["input", "prep", "layer1", "layer2", "layer3", "gmp", "fc"]
    assert d0.nodes["fc"]["label"] == "fc×0.125\\n10"
    assert d0.nodes["layer1"]["fillcolor"] == LIGHT_GREEN
    for depth in (0, 1, 2):
        check_every_op_accounted_for(g, draw(g, "ops", depth=depth))


def test_optional_blocks_are_dashed_in_the_search_space():
    """The whole search space: optional blocks (and only they) dashed with a dark border."""
    g = _load("search_residual")
    d = draw(g, "blocks")
    for name, at in d.nodes.items():
        assert ("dashed" in at.get("style", "")) == (name in ("layer1/res", "layer2/res", "layer3/res")), name
    ops = draw(g, "ops")
    for name, at in ops.clusters.items():
        optional = g.blocks[name].optional
        assert ("dashed" in at["style"]) == optional, name
        if optional:
            assert at["color"] == "#333333" and "optional (search-space choice)" in at["tooltip"]
    assert {"layer1/res", "layer2/res", "layer3/res"} <= {c for c in ops.clusters if g.blocks[c].optional}
    d1 = draw(g, "ops", depth=1)
    assert "dashed" in d1.nodes["layer2/res"]["style"] and d1.nodes["layer2/res"]["color"] == "#333333"


@pytest.mark.parametrize("space", ["search_residual", "search_extra"])
def test_every_variant_of_the_search_spaces_draws(space):
    """Each variant draws solid (no dashes), with exactly its own blocks, every op accounted for."""
    path = ROOT / "nets" / f"{space}.net"
    for v in dsl.variants(path):
        g = dsl.load(path, variant=v)
        for level in ("blocks", "ops"):
            d = parse_dot(to_dot(g, level=level, dashed=False))
            check_every_op_accounted_for(g, d)
            styles = [at.get("style", "") for at in (*d.nodes.values(), *d.clusters.values())]
            assert not any("dashed" in s for s in styles), (v, level)
        chosen = {p for p in g.blocks if p.count("/") == 1 and g.blocks[p].extension}
        blocks = draw(g, "blocks", dashed=False)
        assert {n for n in blocks.nodes if "/" in n} == chosen, v
        if space == "search_residual":
            assert all(blocks.nodes[p]["fillcolor"] == PINK for p in chosen), v


def test_a_variant_draws_like_the_hand_written_file():
    """`--variant Residual:L1+L3` of the space draws the same blocks and kinds as the file."""
    one = draw(_load("search_residual", "Residual:L1+L3"), "blocks", dashed=False)
    ref = draw(_load("residual_l1_l3"), "blocks")
    assert list(one.nodes) == list(ref.nodes)
    assert {n: a["fillcolor"] for n, a in one.nodes.items()} == {n: a["fillcolor"] for n, a in ref.nodes.items()}
    assert one.edges == ref.edges


@pytest.mark.parametrize("n", [2, 3, 5])
def test_folded_runs_show_the_right_count(n):
    """`res^n` folds into one node (blocks) or cluster (ops) marked ×n that names the first
    and last copies; the later copies are not drawn and the run's output feeds on."""
    g = _load(text=f"input 3x32x32\nprep -> layer1(res^{n}) -> layer2 -> gmp -> fc*0.125\n")
    first, last = "layer1/res_1", f"layer1/res_{n}"
    blocks = draw(g, "blocks")
    at = blocks.nodes[first]
    assert at["label"] == f"res ×{n}\\n128×16×16" and at["fillcolor"] == PINK
    assert f"{first} … {last} ({n} copies)" in at["tooltip"]
    assert not any(x.startswith("layer1/res_") and x != first for x in blocks.nodes)
    assert (first, "layer2") in blocks.plain_edges() and ("layer1", "layer2") in blocks.skip_edges()
    assert f"{sum(x.n_params for x in g.nodes.values() if x.name.startswith('layer1/res_')):,} params" in at["tooltip"]
    ops = draw(g, "ops")
    assert ops.clusters[first]["label"] == f"res ×{n}"
    assert ops.clusters[first]["tooltip"].startswith(f"{first} … {last} ({n} copies)")
    assert not any(c.startswith("layer1/res_") and c != first and not c.startswith(first + "/") for c in ops.clusters)
    assert (f"{first}/add", "layer2/conv_bn/conv") in ops.plain_edges()
    collapsed = draw(g, "ops", depth=1)
    assert collapsed.nodes[first]["label"] == f"res ×{n}\\n128×16×16"
    unfolded = draw(g, "blocks", fold=False)
    assert {f"layer1/res_{i}" for i in range(1, n + 1)} <= set(unfolded.nodes)
    assert {f"layer1/res_{i}" for i in range(1, n + 1)} <= set(draw(g, "ops", fold=False).clusters)


def test_repeats_with_different_shapes_do_not_fold():
    """Copies fold only with the same shapes in and out: 64->128 stays apart from 128->128."""
    d = draw(_load(text="input 3x32x32\nprep -> conv_bn(128)^3 -> gmp -> fc\n"), "blocks")
    assert list(d.nodes) == ["input", "prep", "conv_bn_1", "conv_bn_2", "gmp", "fc"]
    assert d.nodes["conv_bn_1"]["label"] == "conv_bn_1\\n128×32×32"
    assert d.nodes["conv_bn_2"]["label"] == "conv_bn ×2\\n128×32×32"
    assert "conv_bn_2 … conv_bn_3 (2 copies)" in d.nodes["conv_bn_2"]["tooltip"]


def test_bare_top_level_branches():
    """A top-level add of bare nodes is no residual block, and a bare identity is not drawn."""
    g = _load(
        text="input 3x32x32\nconv_bn(64) -> add(identity, conv_bn -> conv_bn) -> concat(gmp, gap) -> linear(10)\n"
    )
    d = draw(g, "blocks")
    assert list(d.nodes) == ["input", "conv_bn_1", "conv_bn_2", "conv_bn_3", "add", "gmp", "gap", "concat", "linear"]
    assert PINK not in {at["fillcolor"] for at in d.nodes.values()}
    assert d.plain_edges() == {
        ("input", "conv_bn_1"),
        ("conv_bn_1", "conv_bn_2"),
        ("conv_bn_2", "conv_bn_3"),
        ("conv_bn_1", "add"),
        ("conv_bn_3", "add"),
        ("add", "gmp"),
        ("add", "gap"),
        ("gmp", "concat"),
        ("gap", "concat"),
        ("concat", "linear"),
    }
    assert not d.skip_edges()
    ops = draw(g, "ops")
    assert ("conv_bn_1/relu", "add") in ops.plain_edges() and ("conv_bn_3/relu", "add") in ops.plain_edges()
    check_ops_view(g, ops, fold=True)


def test_the_drawer_takes_op_styles_from_the_registry(monkeypatch):
    """No table of op names in the drawer: change an op's registry style and the drawing follows."""
    monkeypatch.setitem(
        REGISTRY, "relu", dataclasses.replace(REGISTRY["relu"], style={"fillcolor": "#123456", "shape": "ellipse"})
    )
    d = draw(_load("residual_l1_l3"), "ops")
    relus = [at for name, at in d.nodes.items() if name.endswith("/relu")]
    assert relus and all(at["fillcolor"] == "#123456" and at["shape"] == "ellipse" for at in relus)


# ------------------------------------------------------------------ large nets: bounded, linear
def test_two_thousand_copies_fold_into_one_bounded_node():
    """The issue's 2,000-copy file: the first copy (3 -> 16 channels) stands alone, the other
    1,999 fold into one node / cluster labelled ×1999 whose tooltip names the first and last
    copies and the count; no attribute over MAX_TEXT characters (dot refused the old tooltip
    listing all copies). `dot` rendering is checked in the next test."""
    g = _load(text=REPEAT_2000)
    for level, kw in (("blocks", {}), ("ops", {}), ("ops", {"depth": 0})):
        d = draw(g, level, **kw)
        assert max(len(v) for v in d.attr_values()) <= MAX_TEXT
        item = d.nodes.get("blk_2") or d.clusters["blk_2"]
        assert item["label"].startswith("blk ×1999")
        assert "blk_2 … blk_2000 (1,999 copies)" in item["tooltip"]
        assert "blk_1" in d.nodes or "blk_1" in d.clusters
        assert not any(under(x, "blk_3") or under(x, "blk_2000") for x in (*d.nodes, *d.clusters))
        check_every_op_accounted_for(g, d)
    unfolded = draw(g, "blocks", fold=False)
    assert len(unfolded.nodes) == 2003 and max(len(v) for v in unfolded.attr_values()) <= MAX_TEXT


@needs_dot
def test_dot_renders_the_two_thousand_copy_fold(netc, tmp_path):
    """The issue's file through the real command: folded, both views render (exit 0)."""
    net = tmp_path / "rep.net"
    net.write_text(REPEAT_2000)
    for level in ("blocks", "ops"):
        r = netc("draw", net, "--level", level, "-o", tmp_path / f"{level}.svg")
        assert r.code == 0, r
        nodes = _items(_svg(tmp_path / f"{level}.svg"), "node")
        assert len(nodes) == (5 if level == "blocks" else 9)


def test_bounded_never_ends_inside_an_escape():
    """The last guard on label length never leaves a lone backslash (it would escape the
    closing quote of the DOT string)."""
    assert bounded("short") == "short"
    cut = bounded("x" * 2000)
    assert len(cut) == MAX_TEXT and cut.endswith("…")
    text = "a" * (MAX_TEXT - 2) + "\\n" + "b" * 50
    assert not bounded(text).rstrip("…").endswith("\\")
    parse_dot(f'digraph x {{ n [tooltip="{bounded(text)}"] }}')


class CountingDict(dict):
    """A dict that counts lookups and iterated items: the drawer's work on the graph's nodes."""

    visits = 0

    def __getitem__(self, key):
        CountingDict.visits += 1
        return super().__getitem__(key)

    def __iter__(self):
        for k in super().__iter__():
            CountingDict.visits += 1
            yield k

    def values(self):
        for v in super().values():
            CountingDict.visits += 1
            yield v

    def items(self):
        for kv in super().items():
            CountingDict.visits += 1
            yield kv


def _distinct_blocks(n: int) -> str:
    lines = ["input 3x32x32"]
    for i in range(n):
        lines.append(f"b{i} = " + ("add(identity, conv_bn -> conv_bn)" if i % 2 else "conv_bn(16) -> bn"))
    return "\n".join(lines) + "\nnet = prep -> " + " -> ".join(f"b{i}" for i in range(n)) + " -> gmp -> fc\n"


def _nested_blocks(n: int) -> str:
    lines = ["input 3x32x32"]
    for i in range(n):
        lines.append(f"r{i} = add(identity, conv(16) -> bn -> relu)")
        lines.append(f"m{i} = concat(r{i}^2, conv(8, k=1)) -> conv(16, k=1)")
        lines.append(f"b{i} = m{i} -> add(identity, relu)")
    return (
        "\n".join(lines)
        + "\nconv(16) -> "
        + " -> ".join(f"b{i}(res)" if i % 5 == 0 else f"b{i}" for i in range(n))
        + " -> gmp -> linear(10)\n"
    )


@pytest.mark.parametrize(
    "text",
    [REPEAT_2000.replace("2000", "1000"), _distinct_blocks(400), _nested_blocks(100)],
    ids=["1000-copies", "400-distinct", "100-nested"],
)
def test_drawing_visits_each_node_a_bounded_number_of_times(text):
    """Drawing is linear in the graph: every view reads each node a bounded number of times
    (the quadratic drawer read each node ~5,000 times at 1,000 copies). A work count, not a
    timing: the same on any machine."""
    g = _load(text=text)
    g.nodes = CountingDict(g.nodes)
    for level, kw in (("blocks", {}), ("ops", {}), ("ops", {"depth": 1})):
        for fold in (True, False):
            CountingDict.visits = 0
            to_dot(g, level=level, fold=fold, **kw)
            assert CountingDict.visits <= 20 * len(g.nodes), (level, kw, fold, CountingDict.visits / len(g.nodes))


def test_large_ops_views_cap_dot_layout_work():
    """Over 1,000 drawn ops the ops view caps dot's network-simplex iterations (the placement
    alone took seconds); the article-sized drawings keep dot's defaults."""
    big = draw(_load(text=_distinct_blocks(400)), "ops", fold=False)
    assert len(big.nodes) > 1000 and big.graph["nslimit"] == "0.05" and "nslimit1" not in big.graph
    small = draw(_load("residual_l1_l3"), "ops")
    assert "nslimit" not in small.graph


# ------------------------------------------------------------------ the command
@needs_dot
def test_default_output_named_after_the_input(netc, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default output goes to the current folder
    net = tmp_path / "x.net"
    shutil.copy(ROOT / "nets/residual_l1_l3.net", net)
    r = netc("draw", net)
    assert r.code == 0, r
    assert (tmp_path / "x.svg").exists() and "x.svg" in r.out
    _svg(tmp_path / "x.svg")
    r = netc("draw", net, "--format", "png")
    assert r.code == 0 and (tmp_path / "x.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = netc("draw", net, "-o", tmp_path / "y.pdf", "--level", "ops")
    assert r.code == 0 and (tmp_path / "y.pdf").read_bytes()[:4] == b"%PDF"
    r = netc("draw", net, "-o", tmp_path / "z.dot")
    assert r.code == 0 and (tmp_path / "z.dot").read_text().startswith("digraph x {")
    r = netc("draw", net, "--depth", "1", "-o", "-")
    assert r.code == 0
    d = parse_dot(r.out)
    assert "layer1" in d.clusters and d.nodes["layer1/res"]["shape"] == "box3d"
    r = netc("draw", net, "-o", tmp_path / "new" / "sub" / "w.svg")
    assert r.code == 0 and (tmp_path / "new" / "sub" / "w.svg").exists()


def test_command_errors(netc, tmp_path):
    net = ROOT / "nets/residual_l1_l3.net"
    r = netc("draw", net, "--level", "blocks", "--depth", "0", "-o", tmp_path / "a.svg")
    assert r.code == 2 and "the blocks view starts at --depth 1" in r.err
    r = netc("draw", net, "-o", tmp_path / "a.jpeg")
    assert r.code == 2 and "cannot tell the format" in r.err
    r = netc("draw", net, "-o", tmp_path / "a.svg", "--format", "png")
    assert r.code == 2 and "--format says png" in r.err
    r = netc("draw", ROOT / "nets/search_residual.net", "--variant", "Residual:L9", "-o", tmp_path / "a.svg")
    assert r.code == 2 and "Traceback" not in r.err
    r = netc("draw", tmp_path / "missing.net", "-o", tmp_path / "a.svg")
    assert r.code == 2
    assert list(tmp_path.iterdir()) == []  # nothing written by any failed command


@pytest.mark.parametrize("fmt", ["svg", "dot"])
@pytest.mark.parametrize("fails", ["replace", "fsync"])
def test_full_disk_keeps_the_previous_drawing(netc, tmp_path, monkeypatch, fmt, fails):
    """A write that fails (disk full at the final rename, or when flushing the data) exits 2
    with a clean message naming the file, leaves the previous drawing byte for byte, and
    leaves no temporary file behind."""
    if fmt == "svg" and not HAVE_DOT:
        pytest.skip("Graphviz `dot` is not installed")
    net = tmp_path / "x.net"
    shutil.copy(ROOT / "nets/residual_l1_l3.net", net)
    out = tmp_path / f"x.{fmt}"
    r = netc("draw", net, "-o", out)
    assert r.code == 0, r
    good = out.read_bytes()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, fails, full)
    r = netc("draw", net, "--level", "ops", "-o", out)  # a different drawing: it would change the file
    monkeypatch.undo()
    assert r.code == 2, r
    assert "no space left on device" in r.err and str(out) in r.err, r.err
    assert "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1
    assert out.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["x.net", out.name])


def _run_cli(args, cwd, path_env):
    env = {**os.environ, "PATH": path_env}
    return subprocess.run(
        [sys.executable, "-m", "dsl.cli", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_missing_dot_writes_source_and_says_how_to_install(tmp_path):
    net = tmp_path / "x.net"
    shutil.copy(ROOT / "nets/residual_l1_l3.net", net)
    empty = tmp_path / "bin"
    empty.mkdir()
    # default format: the .dot source is written, one line says how to install Graphviz, exit 0
    r = _run_cli(["draw", net], tmp_path, str(empty))
    assert r.returncode == 0, r
    assert parse_dot((tmp_path / "x.dot").read_text()).nodes.keys() == parse_dot(to_dot(dsl.load(net))).nodes.keys()
    assert not (tmp_path / "x.svg").exists()
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "apt-get install graphviz" in lines[0] and "brew install graphviz" in lines[0]
    (tmp_path / "x.dot").unlink()
    # an image format asked for explicitly: same source and line, exit 2
    for extra in (["--format", "svg"], ["-o", tmp_path / "out.png"]):
        r = _run_cli(["draw", net, *extra], tmp_path, str(empty))
        assert r.returncode == 2, (extra, r)
        assert "apt-get install graphviz" in r.stderr and len(r.stderr.strip().splitlines()) == 1
        assert "Traceback" not in r.stderr
    assert (tmp_path / "x.dot").exists() and (tmp_path / "out.dot").exists()
    # DOT output needs no dot at all
    r = _run_cli(["draw", net, "--format", "dot"], tmp_path, str(empty))
    assert r.returncode == 0 and r.stderr == ""


def test_draw_never_imports_torch(tmp_path):
    code = (
        "import sys; from dsl.cli import main; "
        f"rc = main(['draw', 'nets/residual_l1_l3.net', '--level', 'ops', '-o', {str(tmp_path / 'a.dot')!r}]); "
        "assert rc == 0, rc; assert 'torch' not in sys.modules, 'torch imported'; print('ok')"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr


# ------------------------------------------------------------------ the docs
def test_docs_palette_matches_the_registry():
    """docs/drawing.md's op palette table has one row per registered op with its registry
    role and fill (in any order: the registry's order is not the docs' business)."""
    from dsl.draw.style import palette

    text = (ROOT / "docs/drawing.md").read_text(encoding="utf-8")
    section = text.split("## The op palette", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| (\w+) \| `([^`]+)` \|$", section, re.MULTILINE)
    assert len(rows) == len(set(rows))
    assert sorted(rows) == sorted(palette())


def test_docs_block_kinds_match_the_drawing():
    """docs/drawing.md's table of block kinds gives the colours the drawer uses."""
    from dsl.draw.style import KIND_FILL

    text = (ROOT / "docs/drawing.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| (residual|downsampling|other|input) \| `?([#\w]+)`?", text, re.MULTILINE))
    names = {"residual": "residual", "downsampling": "downsample", "other": "plain", "input": "input"}
    assert {names[k]: v for k, v in rows.items()} == KIND_FILL == KIND_COLOURS


def test_docs_diagrams_are_committed():
    """The diagrams the README shows exist and have the article's blocks and clusters."""
    blocks = _svg(ROOT / "docs/img/residual_l1_l3_blocks.svg")
    assert {"layer1", "layer1/res", "fc"} <= set(_items(blocks, "node"))
    ops = _svg(ROOT / "docs/img/residual_l1_l3_ops.svg")
    assert {"cluster_layer1", "cluster_layer1/res", "cluster_layer3/res/conv_bn_2"} <= set(_items(ops, "cluster"))


# ------------------------------------------------------------------ random well-formed nets
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net_exprs, st.sampled_from([None, 0, 1, 2]), st.booleans())
def test_random_nets_draw_consistently(body, depth, fold):
    """Random nets draw in both views with every non-identity op accounted for, edges between
    drawn nodes only, the skip-edge rule, and the same text twice."""
    text = f"input 3x32x32\n{PRELUDE}\nconv(4) -> {body} -> gap -> linear(2)"
    try:
        g = dsl.loads(text, filename="fuzz.net")
    except dsl.NetError:
        return
    blocks = to_dot(g, level="blocks", fold=fold)
    d = parse_dot(blocks)
    check_every_op_accounted_for(g, d)
    check_skip_edges(d)
    for a, b, _ in d.edges:
        assert a in d.nodes and b in d.nodes and a != b, (a, b, text)
    ops = to_dot(g, level="ops", depth=depth, fold=fold)
    d = parse_dot(ops)
    if depth is None:
        check_ops_view(g, d, fold)
    else:
        check_every_op_accounted_for(g, d)
        for a, b, _ in d.edges:
            assert a in d.nodes and b in d.nodes and a != b, (a, b, text)
    assert max(len(v) for v in d.attr_values()) <= MAX_TEXT
    assert blocks == to_dot(g, level="blocks", fold=fold) and ops == to_dot(g, level="ops", depth=depth, fold=fold)


def test_a_block_holding_most_of_the_network_is_opened_in_the_blocks_view():
    # U-Net: everything is inside level1: the blocks view shows its encoder, pooling, the level below,
    # the up-convolution, the skip's concatenation and the decoder
    g = dsl.load(ROOT / "nets/zoo/unet.net")
    d = parse_dot(to_dot(g))
    assert list(d.nodes) == [
        "input",
        "level1/enc",
        "level1/down",
        "level1/level2",
        "level1/up",
        "level1/concat",
        "level1/dec",
        "out",
    ]
    assert ("level1/enc", "level1/concat") in d.plain_edges()  # the skip connection
    # torchvision's `features` of MobileNetV2 opens into its inverted-residual blocks
    m = parse_dot(to_dot(dsl.load(ROOT / "nets/zoo/mobilenet_v2.net")))
    assert "features" not in m.nodes and sum(n.startswith("features/") for n in m.nodes) >= 10
    # an explicit --depth keeps its meaning, and a network of several blocks is drawn as before
    assert "level1/level2/enc" in parse_dot(to_dot(g, level="blocks", depth=3)).nodes
    r = parse_dot(to_dot(dsl.load(ROOT / "nets/residual_l1_l3.net")))
    assert list(r.nodes) == ["input", "prep", "layer1", "layer1/res", "layer2", "layer3", "layer3/res", "gmp", "fc"]
    f = parse_dot(to_dot(_load(text=FOLD_NET)))  # layer1(res^3) holds most ops but sits among other blocks
    assert "layer1" in f.nodes


@needs_dot
@pytest.mark.parametrize("level", ["blocks", "ops"])
def test_the_committed_drawings_in_docs_are_current(netc, tmp_path, level):
    """docs/img holds what the README's two commands make today (every label, tooltip and title;
    the coordinates may differ between Graphviz versions, the content may not)."""

    def content(path):
        tree = ET.parse(path)
        return sorted(
            (el.tag.replace(SVG, ""), (el.text or "").strip(), el.get(f"{XLINK}title") or "")
            for el in tree.iter()
            if el.tag in (f"{SVG}text", f"{SVG}title", f"{SVG}a")
        )

    out = tmp_path / f"{level}.svg"
    assert netc("draw", ROOT / "nets/residual_l1_l3.net", "--level", level, "-o", out).code == 0
    committed = ROOT / "docs" / "img" / f"residual_l1_l3_{level}.svg"
    assert content(out) == content(committed), "regenerate docs/img with the commands in README.md"


def test_the_default_output_goes_to_the_current_folder_not_beside_the_file(netc, tmp_path, monkeypatch):
    src = tmp_path / "nets"
    src.mkdir()
    (src / "x.net").write_text(FOLD_NET)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    r = netc("draw", src / "x.net", "--format", "dot")
    assert r.code == 0 and (work / "x.dot").exists() and not (src / "x.dot").exists(), r


@needs_dot
def test_dpi_sets_a_pngs_resolution_and_only_a_pngs(netc, tmp_path):
    from PIL import Image

    sizes = []
    for dpi in (None, 192):
        out = tmp_path / f"x{dpi}.png"
        args = ["draw", ROOT / "nets/residual_l1_l3.net", "-o", out, *(["--dpi", str(dpi)] if dpi else [])]
        assert netc(*args).code == 0
        with Image.open(out) as im:
            sizes.append(im.size)
    assert abs(sizes[1][0] / sizes[0][0] - 2) < 0.05  # twice Graphviz's 96 dpi: twice the pixels
    r = netc("draw", ROOT / "nets/residual_l1_l3.net", "-o", tmp_path / "x.svg", "--dpi", "200")
    assert r.code == 2 and "--dpi" in r.err and not (tmp_path / "x.svg").exists()
