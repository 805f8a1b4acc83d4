"""`netc draw`: golden DOT sources, SVGs rendered by the real `dot`, every net in both
views, --depth / --variant / folding, missing Graphviz, and no torch.

Regenerate the golden files with:  NETC_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_draw.py
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import dsl
from dsl.draw import to_dot
from dsl.draw.style import ROLE_FILL
from dsl.ops import REGISTRY, fmt_shape

ROOT = Path(__file__).resolve().parents[1]
NETS = sorted((ROOT / "nets").glob("*.net"))
GOLDEN = ROOT / "tests" / "golden" / "draw"
UPDATE = os.environ.get("NETC_UPDATE_GOLDEN") == "1"
SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"
HAVE_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAVE_DOT, reason="Graphviz `dot` is not installed (.ci/run installs it)")

FOLD_NET = """input 3x32x32
prep -> layer1(res^3) -> layer2 -> gmp -> fc*0.125
"""

# (golden name, net file or None for FOLD_NET, variant, level, depth)
CASES = [
    ("residual_l1_l3.blocks", "residual_l1_l3", None, "blocks", None),
    ("residual_l1_l3.ops", "residual_l1_l3", None, "ops", None),
    ("residual_l1_l3.ops.depth1", "residual_l1_l3", None, "ops", 1),
    ("backbone_1_original.blocks", "backbone_1_original", None, "blocks", None),
    ("backbone_1_original.ops", "backbone_1_original", None, "ops", None),
    ("search_residual.blocks", "search_residual", None, "blocks", None),
    ("search_residual.ops", "search_residual", None, "ops", None),
    ("search_residual.L1+L3.blocks", "search_residual", "Residual:L1+L3", "blocks", None),
    ("search_extra.ops.depth1", "search_extra", None, "ops", 1),
    ("fold.blocks", None, None, "blocks", None),
    ("fold.ops", None, None, "ops", None),
]


def _graph(net, variant=None):
    if net is None:
        return dsl.loads(FOLD_NET, variant=variant, filename="fold.net")
    return dsl.load(ROOT / "nets" / f"{net}.net", variant=variant)


def _source(net, variant, level, depth, **kw):
    return to_dot(_graph(net, variant), level=level, depth=depth, dashed=variant is None, **kw)


# ------------------------------------------------------------------ golden DOT
@pytest.mark.parametrize("name,net,variant,level,depth", CASES, ids=[c[0] for c in CASES])
def test_golden_dot(name, net, variant, level, depth):
    source = _source(net, variant, level, depth)
    path = GOLDEN / f"{name}.dot"
    if UPDATE or not path.exists():
        if not UPDATE:
            pytest.fail(f"missing golden file {path}; run NETC_UPDATE_GOLDEN=1 pytest tests/test_draw.py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    assert source == path.read_text(encoding="utf-8"), (
        f"{path.name} changed; if intended, regenerate with NETC_UPDATE_GOLDEN=1 pytest tests/test_draw.py")


def test_dot_is_deterministic_across_processes():
    code = ("import dsl; from dsl.draw import to_dot; import sys; "
            "sys.stdout.write(to_dot(dsl.load('nets/search_residual.net'), level='ops'))")
    outs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        outs.add(subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                                text=True, check=True).stdout)
    assert len(outs) == 1


# ------------------------------------------------------------------ SVG via the real dot
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
        fills = [(e.get("fill"), e.get("fill-opacity")) for e in g.iter()
                 if e.tag in (SVG + "path", SVG + "polygon", SVG + "ellipse") and e.get("fill") not in (None, "none")]
        tips = [a.get(XLINK + "title") for a in g.iter(SVG + "a") if a.get(XLINK + "title")]
        out[title] = (texts, fills, tips[0] if tips else None)
    return out


@needs_dot
def test_ops_svg_clusters_and_op_colours(netc, tmp_path):
    out = tmp_path / "r.svg"
    r = netc("draw", ROOT / "nets/residual_l1_l3.net", "--level", "ops", "-o", out)
    assert r.code == 0, r
    root = _svg(out)
    clusters = _items(root, "cluster")
    labels = {texts[0] for texts, _, _ in clusters.values()}
    assert {"prep", "layer1", "res", "conv_bn", "conv_bn_1", "conv_bn_2", "layer2", "layer3", "fc"} <= labels
    assert "cluster_layer1/res/conv_bn_1" in clusters
    for title, (_, fills, _) in clusters.items():
        assert fills and fills[0] == ("#777777", "0.266667"), title   # translucent grey #77777744
    nodes = _items(root, "node")
    g = dsl.load(ROOT / "nets/residual_l1_l3.net")
    drawn = [n for n in g.nodes.values() if n.op != "identity"]
    assert set(nodes) == {n.name for n in drawn}            # every primitive, identities removed
    for n in drawn:
        texts, fills, tip = nodes[n.name]
        assert fills[0][0] == REGISTRY[n.op].style["fillcolor"], n.name
        assert texts == [n.local_name]
        assert n.op in tip and fmt_shape(n.shape) in tip, n.name     # the op, its parameters, its shape
    assert "conv(c=64, k=3" in nodes["prep/conv_bn/conv"][2] and "64×32×32" in nodes["prep/conv_bn/conv"][2]
    # the shortcut goes straight from the pool to the add (the identity node is gone)
    edges = _items(root, "edge")
    assert "layer1/maxpool&#45;&gt;layer1/res/add" in edges or "layer1/maxpool->layer1/res/add" in edges


@needs_dot
def test_blocks_svg_roles_and_labels(netc, tmp_path):
    out = tmp_path / "r.svg"
    r = netc("draw", ROOT / "nets/residual_l1_l3.net", "-o", out)
    assert r.code == 0, r
    nodes = _items(_svg(out), "node")
    want = {"prep": ("plain", ["prep", "64×32×32"]), "layer1": ("downsample", ["layer1", "128×16×16"]),
            "layer1/res": ("residual", ["res", "128×16×16"]), "layer2": ("downsample", ["layer2", "256×8×8"]),
            "layer3": ("downsample", ["layer3", "512×4×4"]), "layer3/res": ("residual", ["res", "512×4×4"]),
            "gmp": ("plain", ["gmp", "512"]), "fc": ("plain", ["fc×0.125", "10"])}
    for title, (role, texts) in want.items():
        got_texts, fills, _ = nodes[title]
        assert got_texts == texts, title
        assert fills[0][0] == ROLE_FILL[role], title
    assert ROLE_FILL["residual"] != ROLE_FILL["downsample"] != ROLE_FILL["plain"]
    # skip edges: the residual shortcuts
    edges = _items(_svg(out), "edge")
    assert any(t.replace("&#45;&gt;", "->") == "layer1->layer2" for t in edges)
    assert any(t.replace("&#45;&gt;", "->") == "layer3->gmp" for t in edges)


def _render_ok(source: str) -> bytes:
    return subprocess.run(["dot", "-Tsvg"], input=source.encode(), capture_output=True, check=True).stdout


@needs_dot
@pytest.mark.parametrize("net", NETS, ids=[p.stem for p in NETS])
def test_every_net_draws_in_both_views(net):
    g = dsl.load(net)
    for level in ("blocks", "ops"):
        svg = _render_ok(to_dot(g, level=level))
        root = ET.fromstring(svg)
        n_nodes = sum(1 for e in root.iter(SVG + "g") if e.get("class") == "node")
        assert n_nodes >= 3, (net.name, level)
    for depth in (0, 1):
        ET.fromstring(_render_ok(to_dot(g, level="ops", depth=depth)))


def test_every_variant_of_the_search_spaces_draws():
    for net in ("search_residual", "search_extra"):
        path = ROOT / "nets" / f"{net}.net"
        for v in dsl.variants(path):
            g = dsl.load(path, variant=v)
            for level in ("blocks", "ops"):
                assert "dashed" not in to_dot(g, level=level, dashed=False)


# ------------------------------------------------------------------ --depth, --variant, folding
def _node_ids(source: str) -> set[str]:
    ids = {m.group(1).strip('"') for m in re.finditer(r'^\s*("[^"]+"|\w+) \[', source, re.M)}
    return ids - {"node", "edge", "graph"}


def _clusters(source: str) -> set[str]:
    return {m.group(1).strip('"')[len("cluster_"):] for m in re.finditer(r'subgraph ("cluster_[^"]+"|cluster_\w+)', source)}


def test_depth_collapses_deeper_clusters():
    g = dsl.load(ROOT / "nets/residual_l1_l3.net")
    full = to_dot(g, level="ops")
    assert {"layer1/res/conv_bn_1", "layer1/res", "layer1"} <= _clusters(full)
    d2 = to_dot(g, level="ops", depth=2)
    assert _clusters(d2) == {"prep", "prep/conv_bn", "layer1", "layer1/conv_bn", "layer1/res", "layer2",
                            "layer2/conv_bn", "layer3", "layer3/conv_bn", "layer3/res", "fc"}
    assert {"layer1/res/conv_bn_1", "layer1/res/conv_bn_2", "layer1/res/add"} <= _node_ids(d2)
    d1 = to_dot(g, level="ops", depth=1)
    assert _clusters(d1) == {"prep", "layer1", "layer2", "layer3", "fc"}
    assert {"layer1/conv_bn", "layer1/maxpool", "layer1/res"} <= _node_ids(d1)
    assert 'label="res\\n128×16×16"' in d1 and "box3d" in d1
    d0 = to_dot(g, level="ops", depth=0)
    assert _clusters(d0) == set()
    assert _node_ids(d0) == {"input", "prep", "layer1", "layer2", "layer3", "gmp", "fc"}
    assert 'fc [label="fc×0.125\\n10"' in d0


def test_variant_and_optional_blocks_dashed():
    path = ROOT / "nets/search_residual.net"
    space = to_dot(dsl.load(path), level="blocks")
    for p in ("layer1/res", "layer2/res", "layer3/res"):
        line = next(ln for ln in space.splitlines() if ln.strip().startswith(f'"{p}" ['))
        assert "dashed" in line, p
    ops = to_dot(dsl.load(path), level="ops")
    assert _clusters(ops) >= {"layer2/res"}
    assert 'style="rounded,filled,dashed"' in ops
    one = to_dot(dsl.load(path, variant="Residual:L1+L3"), level="blocks", dashed=False)
    ids = _node_ids(one)
    assert "layer1/res" in ids and "layer3/res" in ids and "layer2/res" not in ids
    assert "dashed" not in one
    # the chosen variant draws like the hand-written file (same blocks, same roles)
    ref = to_dot(dsl.load(ROOT / "nets/residual_l1_l3.net"), level="blocks")
    assert _node_ids(ref) == ids


def test_folding_repeated_blocks():
    g = dsl.loads(FOLD_NET, filename="fold.net")
    blocks = to_dot(g, level="blocks")
    assert 'label="res ×3\\n128×16×16"' in blocks
    ids = _node_ids(blocks)
    assert "layer1/res_1" in ids and "layer1/res_2" not in ids and "layer1/res_3" not in ids
    unfolded = to_dot(g, level="blocks", fold=False)
    assert {"layer1/res_1", "layer1/res_2", "layer1/res_3"} <= _node_ids(unfolded)
    ops = to_dot(g, level="ops")
    assert "label=\"res ×3\"" in ops
    assert not any(i.startswith("layer1/res_2") for i in _node_ids(ops)) and "layer1/res_2" not in _clusters(ops)
    assert '"layer1/res_1/add" -> "layer2/conv_bn/conv"' in ops
    ops_unfolded = to_dot(g, level="ops", fold=False)
    assert {"layer1/res_1", "layer1/res_2", "layer1/res_3"} <= _clusters(ops_unfolded)


def test_repeats_with_different_shapes_do_not_fold():
    g = dsl.loads("input 3x32x32\nprep -> conv_bn(128)^3 -> gmp -> fc\n", filename="r.net")
    ids = _node_ids(to_dot(g, level="blocks"))
    assert "conv_bn_1" in ids and "conv_bn_2" in ids          # 64 -> 128 differs from 128 -> 128
    assert "conv_bn_3" not in ids                              # ... but copies 2 and 3 fold
    assert 'label="conv_bn ×2' in to_dot(g, level="blocks")


# ------------------------------------------------------------------ the command
@needs_dot
def test_default_output_next_to_input(netc, tmp_path):
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
    assert r.code == 0 and "cluster_layer1" in r.out and "box3d" in r.out


def test_command_errors(netc, tmp_path):
    net = ROOT / "nets/residual_l1_l3.net"
    r = netc("draw", net, "--level", "blocks", "--depth", "1", "-o", tmp_path / "a.svg")
    assert r.code == 2 and "--depth applies to the ops view" in r.err
    r = netc("draw", net, "-o", tmp_path / "a.jpeg")
    assert r.code == 2 and "cannot tell the format" in r.err
    r = netc("draw", net, "-o", tmp_path / "a.svg", "--format", "png")
    assert r.code == 2 and "--format says png" in r.err
    r = netc("draw", ROOT / "nets/search_residual.net", "--variant", "Residual:L9", "-o", tmp_path / "a.svg")
    assert r.code == 2 and "Traceback" not in r.err
    r = netc("draw", tmp_path / "missing.net", "-o", tmp_path / "a.svg")
    assert r.code == 2


def _run_cli(args, cwd, path_env):
    env = {**os.environ, "PATH": path_env}
    return subprocess.run([sys.executable, "-m", "dsl.cli", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True)


def test_missing_dot_writes_source_and_says_how_to_install(tmp_path):
    net = tmp_path / "x.net"
    shutil.copy(ROOT / "nets/residual_l1_l3.net", net)
    empty = tmp_path / "bin"
    empty.mkdir()
    # default format: the .dot source is written, one line says how to install Graphviz, exit 0
    r = _run_cli(["draw", net], tmp_path, str(empty))
    assert r.returncode == 0, r
    assert (tmp_path / "x.dot").read_text().startswith("digraph x {")
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
    code = ("import sys; from dsl.cli import main; "
            f"rc = main(['draw', 'nets/residual_l1_l3.net', '--level', 'ops', '-o', {str(tmp_path / 'a.dot')!r}]); "
            "assert rc == 0, rc; assert 'torch' not in sys.modules, 'torch imported'; print('ok')")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr


def test_palette_comes_from_the_registry():
    """The ops view has no table of op names: each drawn op's fill is its registry style."""
    g = dsl.load(ROOT / "nets/backbone_1_original.net")
    src = to_dot(g, level="ops")
    for n in g.nodes.values():
        if n.op == "identity":
            continue
        fill = REGISTRY[n.op].style["fillcolor"]
        line = next(ln for ln in src.splitlines() if ln.strip().startswith((f'"{n.name}" [', f"{n.name} [")))
        assert (f'fillcolor="{fill}"' in line) or (f"fillcolor={fill}" in line), n.name
    import dsl.draw.ops_view as ov
    text = Path(ov.__file__).read_text()
    assert not any(f'"{op}"' in text for op in ("conv", "bn", "relu", "maxpool", "linear"))


def test_docs_palette_matches_the_registry():
    from dsl.draw.style import palette
    text = (ROOT / "docs/drawing.md").read_text(encoding="utf-8")
    section = text.split("## The op palette", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| (\w+) \| `([^`]+)` \|$", section, re.M)
    assert rows == list(palette())


def test_docs_diagrams_are_committed():
    blocks = _svg(ROOT / "docs/img/residual_l1_l3_blocks.svg")
    assert {"layer1", "layer1/res", "fc"} <= set(_items(blocks, "node"))
    ops = _svg(ROOT / "docs/img/residual_l1_l3_ops.svg")
    assert {"cluster_layer1", "cluster_layer1/res", "cluster_layer3/res/conv_bn_2"} <= set(_items(ops, "cluster"))


def test_bare_top_level_branches():
    """A top-level add of bare nodes is no residual block, and a bare identity is not drawn."""
    g = dsl.loads("input 3x32x32\nconv_bn(64) -> add(identity, conv_bn -> conv_bn) -> concat(gmp, gap) -> linear(10)\n",
                  filename="odd.net")
    src = to_dot(g, level="blocks")
    assert "identity" not in _node_ids(src)
    assert "conv_bn_1 -> add" in src and "identity ->" not in src
    assert ROLE_FILL["residual"] not in src
    ops = to_dot(g, level="ops")
    assert '"conv_bn_1/relu" -> add' in ops


# ------------------------------------------------------------------ random well-formed nets
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402
from net_strategies import PRELUDE, net_exprs  # noqa: E402

def _edges(source: str) -> list[tuple[str, str]]:
    return [(a.strip('"'), b.strip('"')) for a, b in
            re.findall(r'^\s*("[^"]+"|\w+) -> ("[^"]+"|\w+)', source, re.M)]


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")
@settings(max_examples=80, deadline=4000, suppress_health_check=[HealthCheck.too_slow])
@given(net_exprs, st.sampled_from([None, 0, 1, 2]), st.booleans())
def test_random_nets_draw_consistently(body, depth, fold):
    text = f"input 3x32x32\n{PRELUDE}\nconv(4) -> {body} -> gap -> linear(2)"
    try:
        g = dsl.loads(text, filename="fuzz.net")
    except dsl.NetError:
        return
    for level, d in (("blocks", None), ("ops", depth)):
        src = to_dot(g, level=level, depth=d, fold=fold)
        ids = _node_ids(src)
        for a, b in _edges(src):
            assert a in ids and b in ids and a != b, (level, a, b, text)
        assert src == to_dot(g, level=level, depth=d, fold=fold)
    ops_ids = _node_ids(to_dot(g, level="ops"))
    assert not any(g.nodes[n].op == "identity" for n in ops_ids if n in g.nodes)
