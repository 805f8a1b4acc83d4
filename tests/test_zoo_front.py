"""Every file in nets/zoo/, through the front end: `netc check` accepts it, `netc summary`'s totals equal
torch's FlopCounterMode, and `netc draw --direction TB` renders both levels with every top-level block (or
the blocks inside one that holds most of the network).

The zoo files are found by listing the folder, so a file added to the zoo is held to these checks too;
the comparisons with each network's reference (torchvision, or a module written in the test) are in
test_zoo_a.py and test_zoo_b.py.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from conftest import ROOT
from test_counts import check_counts

import dsl

ZOO = sorted((ROOT / "nets" / "zoo").glob("*.net"))
SIZE = 32  # every zoo network takes a 32×32 image (ImageNet nets down to a 1×1 map), which keeps this fast
SVG = "{http://www.w3.org/2000/svg}"


def test_the_zoo_is_listed():
    assert len(ZOO) >= 11, ZOO


@pytest.mark.parametrize("file", ZOO, ids=lambda p: p.stem)
def test_summary_totals_equal_torchs_flop_counter(file):
    graph = dsl.load(file, input_shape=(3, SIZE, SIZE))
    assert graph.macs > 0
    check_counts(graph)


@pytest.mark.parametrize("file", ZOO, ids=lambda p: p.stem)
def test_check_accepts_the_file(file, netc):
    r = netc("check", file)
    assert r.code == 0 and f"{file.name}: ok" in r.out, r


def node_titles(svg_file) -> list[str]:
    """The titles of the node groups of a real `dot` render (the SVG must parse)."""
    svg = ET.parse(svg_file).getroot()
    assert svg.tag == f"{SVG}svg"
    return [g.findtext(f"{SVG}title") or "" for g in svg.iter(f"{SVG}g") if g.get("class") == "node"]


@pytest.mark.parametrize("file", ZOO, ids=lambda p: p.stem)
def test_draw_top_to_bottom_renders_every_top_level_block(file, netc, tmp_path):
    titles = {}
    for level in ("blocks", "ops"):
        out = tmp_path / f"{file.stem}.{level}.svg"
        r = netc("draw", file, "--direction", "TB", "--level", level, "-o", out)
        assert r.code == 0, r
        titles[level] = node_titles(out)
    top = {path for path in dsl.load(file).blocks if "/" not in path}
    # each top-level block is drawn, or, holding most of the network (torchvision's `features`), opened
    # into the blocks inside it
    shown = set(titles["blocks"])
    missing = {p for p in top if p not in shown and not any(t.startswith(p + "/") for t in shown)}
    assert "input" in shown and not missing, (missing, shown)
    assert len(titles["ops"]) > len(titles["blocks"])  # the ops view opens every block


def test_the_zoo_table_gives_each_files_counts():
    text = (ROOT / "docs" / "zoo.md").read_text()
    for file in ZOO:
        g = dsl.load(file)
        row = next((line for line in text.splitlines() if line.startswith(f"| [`{file.name}`]")), None)
        assert row is not None, file.name
        assert f"| {g.params:,} | {g.macs:,} |" in row, row
