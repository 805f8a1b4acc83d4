"""`netc summary` (golden files, JSON totals equal torch's) and search-space variants."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT
from golden_files import check_golden

import dsl


@pytest.mark.parametrize("stem", ["residual_l1_l3", "backbone_1_original", "double_width_60"])
def test_summary_matches_golden(netc, stem):
    r = netc("summary", ROOT / f"nets/{stem}.net")
    assert r.code == 0, r
    check_golden(f"summary/{stem}.txt", r.out)


def test_summary_json_totals_equal_torch(netc):
    import torch  # noqa: F401  (only this test needs torch: it compares with the compiled module)

    r = netc("summary", "--json", ROOT / "nets/residual_l1_l3.net")
    data = json.loads(r.out)
    assert data["params"] == 6_573_120
    assert data["params"] == sum(layer["params"] for layer in data["layers"])
    assert data["macs"] == sum(layer["macs"] for layer in data["layers"])
    model = dsl.build(dsl.load(ROOT / "nets/residual_l1_l3.net"))
    assert data["params"] == sum(p.numel() for p in model.parameters())
    conv = next(layer for layer in data["layers"] if layer["name"] == "prep/conv_bn/conv")
    assert conv == {
        "name": "prep/conv_bn/conv",
        "op": "conv",
        "shape": [64, 32, 32],
        "params": 1728,
        "macs": 1728 * 32 * 32,
    }


def test_check_lists_the_variants_of_a_search_space(netc):
    r = netc("check", ROOT / "nets/search_residual.net")
    assert r.code == 0
    lines = r.out.splitlines()
    assert "search space with 8 variants" in lines[0]
    names = [ln.split()[0] for ln in lines[1:]]
    assert names == [
        "Backbone",
        "Residual:L1",
        "Residual:L2",
        "Residual:L3",
        "Residual:L1+L2",
        "Residual:L1+L3",
        "Residual:L2+L3",
        "Residual:L1+L2+L3",
    ]
    assert "prep -> layer1(res) -> layer2 -> layer3(res) -> gmp -> fc*0.125" in lines[6]


def test_variants_match_the_hand_written_networks():
    space = ROOT / "nets/search_residual.net"
    v = dsl.load(space, variant="residual:l1+l3")  # names match case-insensitively
    assert v.name == "Residual:L1+L3"
    assert v.canonical == dsl.load(ROOT / "nets/residual_l1_l3.net").canonical
    assert v.params == 6_573_120
    backbone = dsl.load(space, variant="Backbone")
    assert backbone.params == dsl.load(ROOT / "nets/backbone_6_bn_init.net").params
    extra = dsl.load(ROOT / "nets/search_extra.net", variant="Extra:L1+L2+L3")
    assert extra.params == dsl.load(ROOT / "nets/extra_l1_l2_l3_60.net").params


def test_the_search_space_graph_marks_optional_blocks():
    g = dsl.load(ROOT / "nets/search_extra.net")
    assert g.variant_names[0] == "Backbone" and len(g.variant_names) == 8
    opt = sorted(p for p, b in g.blocks.items() if b.optional)
    assert opt == ["layer1/extra", "layer2/extra", "layer3/extra"]


def test_alternatives_and_optional_anywhere():
    src = """
    input 3x16x16
    wide "Wide" = conv_bn(32)
    slim "Slim" = conv_bn(8)
    stage "S1" = conv_bn(16) -> maxpool(2)
    net = stage(wide | slim) -> (dropout(0.5))? -> gmp -> linear(3)
    """
    prog = dsl.front.loader.loads_program(src)
    names = [v.name for v in prog.variants()]
    assert names == ["Wide:S1", "Slim:S1", "Wide:S1 dropout(0.5)", "Slim:S1 dropout(0.5)"]
    canon = {v.name: v.canonical for v in prog.variants()}
    assert canon["Slim:S1 dropout(0.5)"] == "stage(slim) -> dropout(0.5) -> gmp -> linear(3)"
    g = prog.graph("Slim:S1")
    assert g.nodes["stage/slim/conv_bn/conv"].shape == (8, 8, 8)
    assert "dropout" not in g.nodes


def test_a_choice_inside_a_definition_is_one_decision():
    src = "blk = conv_bn(8) -> res?\nnet = blk -> blk -> gap -> linear(2)"
    prog = dsl.front.loader.loads_program(src)
    assert [v.name for v in prog.variants()] == ["Backbone", "Residual:blk"]
    g = prog.graph("Residual:blk")
    assert "blk_1/res/add" in g.nodes and "blk_2/res/add" in g.nodes


def test_fingerprint_sees_the_structure_not_the_text():
    a = dsl.load(ROOT / "nets/backbone_6_bn_init.net")
    b = dsl.load(ROOT / "nets/double_width_60.net")
    assert a.canonical == b.canonical and a.fingerprint != b.fingerprint  # same line, other layers
    v = dsl.load(ROOT / "nets/search_residual.net", variant="Residual:L1+L3")
    assert v.fingerprint == dsl.load(ROOT / "nets/residual_l1_l3.net").fingerprint


def test_summary_depth_groups_ops_into_their_blocks(netc, root):
    import json

    graph = dsl.load(root / "nets/zoo/resnet50.net")
    r = netc("summary", root / "nets/zoo/resnet50.net", "--depth", "1", "--json")
    assert r.code == 0, r
    layers = json.loads(r.out)["layers"]
    names = [row["name"] for row in layers]
    assert names == [
        "input",
        "conv1",
        "bn1",
        "relu",
        "maxpool",
        "layer1",
        "layer2",
        "layer3",
        "layer4",
        "avgpool",
        "fc",
    ]
    assert sum(row["params"] for row in layers) == graph.params and sum(row["macs"] for row in layers) == graph.macs
    layer4 = layers[names.index("layer4")]
    assert layer4["shape"] == [2048, 7, 7]
    assert layer4["params"] == sum(n.n_params for n in graph.nodes.values() if n.name.startswith("layer4/"))
    text = netc("summary", root / "nets/zoo/resnet50.net", "--depth", "2").out
    assert "layer1/0" in text and "bottleneck" in text and "layer1/0/conv1" not in text
    full = netc("summary", root / "nets/zoo/resnet50.net").out
    assert len(text.splitlines()) < len(full.splitlines()) // 3
    assert text.splitlines()[-1].split() == full.splitlines()[-1].split()  # the same totals
    assert netc("summary", root / "nets/zoo/resnet50.net", "--depth", "0").code == 2
