"""`netc draw --direction TB` lays a deep network out top to bottom (the article's is left to right)."""

from __future__ import annotations

import re

import graphviz

import dsl
from dsl.draw import to_dot


def positions(source: str) -> dict[str, tuple[float, float]]:
    """Node name -> (x, y) as Graphviz lays the DOT out (plain format)."""
    out = graphviz.pipe("dot", "plain", source.encode()).decode()
    return {m[1].strip('"'): (float(m[2]), float(m[3])) for m in re.finditer(r"^node (\S+) (\S+) (\S+)", out, re.M)}


def test_top_to_bottom_puts_each_block_below_the_one_before():
    g = dsl.loads("input 3x32x32\nblk = conv(8) -> relu\nblk^6 -> gmp -> linear(2)")
    lr = positions(to_dot(g, fold=False))
    tb = positions(to_dot(g, fold=False, direction="TB"))
    chain = ["input", "blk_1", "blk_2", "blk_3", "blk_4", "blk_5", "blk_6", "gmp"]
    assert all(lr[a][0] < lr[b][0] for a, b in zip(chain, chain[1:]))  # left to right
    assert all(tb[a][1] > tb[b][1] for a, b in zip(chain, chain[1:]))  # top to bottom (y grows upwards)


def test_the_cli_takes_the_direction(netc, tmp_path):
    r = netc("draw", "nets/residual_l1_l3.net", "--direction", "tb", "-o", tmp_path / "x.dot")
    assert r.code == 0 and "rankdir=TB" in (tmp_path / "x.dot").read_text()
