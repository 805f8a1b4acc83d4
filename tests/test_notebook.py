"""Notebooks: `dsl.draw(graph)` returns the graphviz drawing (the DOT of `to_dot`), a graph
shows its blocks view inline (`_repr_mimebundle_`: SVG, the diagram above the summary table
as HTML, `describe()` as text), every user text escaped, and the display never raises:
without `dot`, with a failing `dot` or for a very large graph it leaves the SVG out and says
why. The real Graphviz `dot` renders; the HTML is well-formed XML, so it is read back with
ElementTree."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import graphviz
import pytest

import dsl
from dsl.draw import to_dot
from dsl.inspect.summary import HTML_MAX_ROWS, as_html

ROOT = Path(__file__).resolve().parents[1]
NET = ROOT / "nets" / "residual_l1_l3.net"
SVG = "{http://www.w3.org/2000/svg}"
ALL = {"text/plain", "image/svg+xml", "text/html"}
NO_SVG = {"text/plain", "text/html"}
# The article's net: its blocks view, node by node, and its totals.
BLOCKS = ["input", "prep", "layer1", "layer1/res", "layer2", "layer3", "layer3/res", "gmp", "fc"]
PARAMS, MACS = "6,573,120", "379,261,952"
HOSTILE = "<script>alert(1)</script>"

pytestmark = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")


def node_titles(svg: ET.Element) -> list[str]:
    """The titles of the node groups of a `dot` SVG."""
    assert svg.tag == f"{SVG}svg"
    return [g.findtext(f"{SVG}title") or "" for g in svg.iter(f"{SVG}g") if g.get("class") == "node"]


def cells(tr: ET.Element) -> list[str]:
    return ["".join(c.itertext()) for c in tr]


def table(html: str) -> tuple[ET.Element, list[list[str]], list[str], list[str]]:
    """The HTML read back: its root, the body rows, the header row and the totals row."""
    root = ET.fromstring(html)
    (t,) = root.iter("table")
    body = [cells(tr) for tr in t.find("tbody") or []]
    (head,) = t.find("thead") or []
    (foot,) = t.find("tfoot") or []
    return root, body, cells(head), cells(foot)


def counting_pipe(monkeypatch) -> list[bytes]:
    """Record every run of `dot` (through graphviz.pipe) from now on."""
    calls: list[bytes] = []
    real = graphviz.pipe

    def pipe(engine, fmt, data, *args, **kwargs):
        calls.append(data)
        return real(engine, fmt, data, *args, **kwargs)

    monkeypatch.setattr(graphviz, "pipe", pipe)
    return calls


# ------------------------------------------------------------------ dsl.draw
@pytest.mark.parametrize(
    "kwargs,titles",
    [
        ({}, BLOCKS),
        (
            {"level": "ops", "depth": 1, "direction": "TB", "fold": False},
            ["input", "prep/conv_bn", "layer1/conv_bn", "layer1/maxpool", "layer1/res", "layer2/conv_bn"]
            + ["layer2/maxpool", "layer3/conv_bn", "layer3/maxpool", "layer3/res", "gmp", "fc/linear", "fc/scale"],
        ),
    ],
    ids=["blocks", "ops-depth1-TB-nofold"],
)
def test_draw_returns_the_graphviz_drawing(kwargs, titles):
    g = dsl.load(NET)
    d = dsl.draw(g, **kwargs)
    assert isinstance(d, graphviz.Digraph)
    assert d.source == to_dot(g, **kwargs)  # one way to make the diagram
    assert node_titles(ET.fromstring(d.pipe(format="svg"))) == titles
    assert d._repr_mimebundle_()["image/svg+xml"].lstrip().startswith("<?xml")  # Jupyter shows it by itself


def test_draw_checks_its_arguments():
    g = dsl.load(NET)
    for bad in ({"level": "bricks"}, {"direction": "RL"}, {"level": "blocks", "depth": 0}):
        with pytest.raises(ValueError):
            dsl.draw(g, **bad)


def test_draw_is_callable_whatever_was_imported_and_nothing_imports_torch():
    """Importing the package `dsl.draw` binds it over the function `dsl.draw` (Python does):
    calling it still draws. Neither the table nor the drawing imports torch; the table does not
    even import graphviz."""
    code = f"""
import sys, types
import dsl
g = dsl.load({str(NET)!r})
html = g._repr_html_()
assert 'graphviz' not in sys.modules and 'torch' not in sys.modules, sorted(sys.modules)
assert isinstance(dsl.draw, types.FunctionType)
first = dsl.draw(g).source
bundle = g._repr_mimebundle_()
import dsl.draw
assert isinstance(dsl.draw, types.ModuleType)
assert dsl.draw(g).source == first == dsl.draw.to_dot(g)
assert sorted(bundle) == ['image/svg+xml', 'text/html', 'text/plain'], sorted(bundle)
assert 'torch' not in sys.modules, 'torch imported'
print('ok')
"""
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


# ------------------------------------------------------------------ the bundle
def test_bundle_shows_the_diagram_above_the_summary():
    g = dsl.load(NET)
    b = g._repr_mimebundle_()
    assert set(b) == ALL
    assert b["text/plain"] == g.describe()
    assert node_titles(ET.fromstring(b["image/svg+xml"].encode())) == BLOCKS
    root, body, head, foot = table(b["text/html"])
    # notebooks prefer HTML to SVG: the HTML holds the same diagram, without the XML prolog
    (inline,) = root.iter(f"{SVG}svg")
    assert node_titles(inline) == BLOCKS
    assert "<?xml" not in b["text/html"] and "<!DOCTYPE" not in b["text/html"]
    assert head == ["layer", "op", "output", "params", "MACs"]
    assert len(body) == len(g.nodes)
    assert body[0] == ["input", "input", "3×32×32", "0", "0"]
    assert body[1] == ["prep/conv_bn/conv", "conv", "64×32×32", "1,728", "1,769,472"]
    assert foot == ["total", "", "10", PARAMS, MACS]
    assert [r[0] for r in body] == list(g.nodes)
    assert sum(int(r[3].replace(",", "")) for r in body) == g.params
    # _repr_html_ is the table alone: no dot run
    root, body2, _, foot2 = table(g._repr_html_())
    assert body2 == body and foot2 == foot and not list(root.iter(f"{SVG}svg"))


def test_bundle_honours_include_and_exclude(monkeypatch):
    g = dsl.load(NET)
    calls = counting_pipe(monkeypatch)
    assert g._repr_mimebundle_(include={"text/plain"}) == {"text/plain": g.describe()}
    assert g._repr_mimebundle_(exclude={"image/svg+xml", "text/html"}) == {"text/plain": g.describe()}
    assert calls == []  # nothing asked for a diagram: dot never ran
    b = g._repr_mimebundle_(exclude={"image/svg+xml"})
    assert set(b) == NO_SVG and "<svg" in b["text/html"] and len(calls) == 1


def test_user_text_is_escaped(write):
    """A label reaches the graph's name (the variant `<script>…`): escaped in the table,
    quoted in the DOT (as an HTML-like name `dot` would refuse it), escaped by dot in the SVG."""
    net = write("hostile.net", f'input 3x32x32\nr "{HOSTILE}" = conv_bn\nprep -> r? -> gmp -> fc\n')
    assert dsl.variants(net) == ["Backbone", HOSTILE]
    g = dsl.load(net, variant=HOSTILE)
    assert g.name == HOSTILE
    b = g._repr_mimebundle_()
    assert set(b) == ALL  # dot drew it
    svg = ET.fromstring(b["image/svg+xml"].encode())
    assert svg.findtext(f"{SVG}g/{SVG}title") == HOSTILE
    assert "r" in node_titles(svg)
    html = b["text/html"]
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    root = ET.fromstring(html)
    assert root.findtext(".//caption") == g.describe() and g.describe().startswith(HOSTILE)
    assert not [e for e in root.iter() if e.tag.rpartition("}")[2] == "script"]
    # the note is escaped too
    assert "<p>&lt;b&gt;</p>" in as_html(g, note="<b>")


def test_every_cell_is_escaped():
    """Layer and op names are identifiers in .net files, but the table escapes every cell:
    a graph made another way (a plugin, a hand-built Graph) cannot inject markup."""
    g = dsl.load(NET)
    nodes = {k: dataclasses.replace(n, name=f"{HOSTILE}{k}&") for k, n in g.nodes.items()}
    html = as_html(dataclasses.replace(g, nodes=nodes))
    assert "<script" not in html
    _, body, _, _ = table(html)
    assert [r[0] for r in body] == [f"{HOSTILE}{k}&" for k in g.nodes]


# ------------------------------------------------------------------ never raises
@pytest.mark.parametrize("dot", ["missing", "failing", "not-executable"])
def test_without_a_working_dot_the_bundle_has_no_svg(dot, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if dot != "missing":
        fake = bin_dir / "dot"
        fake.write_text("#!/bin/sh\necho 'Error: boom' >&2\nexit 1\n")
        fake.chmod(0o755 if dot == "failing" else 0o644)
    monkeypatch.setenv("PATH", str(bin_dir))
    g = dsl.load(NET)
    b = g._repr_mimebundle_()
    assert set(b) == NO_SVG and b["text/plain"] == g.describe()
    root, body, _, foot = table(b["text/html"])
    assert len(body) == len(g.nodes) and foot == ["total", "", "10", PARAMS, MACS]
    assert not list(root.iter(f"{SVG}svg"))
    note = root.findtext("div/p") or ""
    expected = {
        "missing": "Graphviz `dot` was not found",
        "failing": "Graphviz `dot` failed: Error: boom",
        "not-executable": "could not run Graphviz `dot`",
    }[dot]
    assert note.startswith("no diagram: ") and expected in note, note
    if dot == "missing":
        assert "apt-get install graphviz" in note
    # dsl.draw itself needs no dot: only rendering does
    assert dsl.draw(g).source == to_dot(g)


def test_a_large_graph_shows_a_bounded_table_and_no_diagram(write, monkeypatch):
    net = write("long.net", "input 3x32x32\nrelu^3000 -> gmp -> linear(10)\n")
    g = dsl.load(net)
    n = len(g.nodes)
    assert n == 3003
    calls = counting_pipe(monkeypatch)
    start = time.perf_counter()
    b = g._repr_mimebundle_()
    elapsed = time.perf_counter() - start
    assert calls == [] and set(b) == NO_SVG
    assert elapsed < 2.0, elapsed
    root, body, _, foot = table(b["text/html"])
    half = HTML_MAX_ROWS // 2
    assert len(body) == HTML_MAX_ROWS + 1
    assert body[half] == [f"… {n - HTML_MAX_ROWS:,} more rows"]
    assert body[0][0] == "input" and body[-1][:2] == ["linear", "linear"]
    names = list(g.nodes)
    assert [r[0] for r in body[:half] + body[half + 1 :]] == names[:half] + names[-half:]
    assert foot == ["total", "", "10", f"{g.params:,}", f"{g.macs:,}"]
    assert (
        root.findtext("div/p")
        == "no diagram inline: 3,003 ops (more than 2,000); draw it with dsl.draw(graph) or netc draw"
    )
    assert len(b["text/html"]) < 150_000  # bounded by the rows shown, not by the graph


@pytest.mark.parametrize("repeat,hidden", [(497, 0), (498, 1), (499, 2)])
def test_the_table_is_cut_only_over_its_limit(repeat, hidden, write):
    g = dsl.load(write("t.net", f"input 3x32x32\nrelu^{repeat} -> gmp -> linear(10)\n"))
    assert len(g.nodes) == HTML_MAX_ROWS + hidden
    _, body, _, _ = table(as_html(g))
    more = [r for r in body if len(r) == 1]
    if hidden == 0:
        assert more == [] and [r[0] for r in body] == list(g.nodes)
    else:
        assert more == [[f"… {hidden} more {'row' if hidden == 1 else 'rows'}"]]
        assert len(body) == HTML_MAX_ROWS + 1
