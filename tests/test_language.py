"""The language: parsing, definitions, naming, branches, repetition, imports, settings."""

from __future__ import annotations

import pytest

import dsl
from dsl.front.parser import parse
from dsl.front.printer import format_expr

DESIGN_LINE = "prep -> layer1(res) -> layer2 -> layer3(res) -> gmp -> fc*0.125"


def test_design_card_line_compiles_verbatim():
    g = dsl.loads(DESIGN_LINE)
    assert g.params == 6_573_120
    assert g.output_shape == (10,)
    assert g.canonical == DESIGN_LINE


def test_extension_is_named_and_nested_inside_its_block():
    g = dsl.loads(DESIGN_LINE)
    assert "layer1/res/conv_bn_1/conv" in g.nodes
    assert "layer1/res/conv_bn_2/relu" in g.nodes
    add = g.nodes["layer1/res/add"]
    assert add.inputs == ("layer1/res/identity", "layer1/res/conv_bn_2/relu")
    assert g.nodes["layer1/res/identity"].inputs == ("layer1/maxpool",)
    assert g.blocks["layer1/res"].extension and g.blocks["layer1/res"].label == "Residual"
    assert g.nodes["fc/scale"].params == {"k": 0.125}


def test_shapes_are_inferred_and_channels_come_from_the_input():
    g = dsl.loads("input 3x40x24\nconv(16, k=5, stride=2) -> maxpool(2) -> conv -> gap")
    assert g.nodes["conv_1"].shape == (16, 20, 12)
    assert g.nodes["maxpool"].shape == (16, 10, 6)
    assert g.nodes["conv_2"].shape == (16, 10, 6)  # conv() keeps the width
    assert g.nodes["gap"].shape == (16,)


def test_definitions_with_parameters_defaults_and_keywords():
    src = """
    block(c, k=3, s=1) = conv(c, k, stride=s, bias=false) -> bn -> relu
    net = block(8) -> block(16, s=2) -> block(c=32, k=1) -> gmp -> linear(4)
    """
    g = dsl.loads(src)
    assert g.nodes["block_1/conv"].params["k"] == 3
    assert g.nodes["block_2/conv"].shape == (16, 16, 16)
    assert g.nodes["block_3/conv"].params["k"] == 1
    assert g.nodes["block_3/conv"].n_params == 16 * 32
    assert g.output_shape == (4,)


def test_block_parameters_are_passed_as_arguments():
    g = dsl.loads("wrap(inner) = conv(8) -> inner -> relu\nnet = wrap(maxpool(2) -> bn) -> gap")
    assert [n for n in g.nodes if n.startswith("wrap/")] == ["wrap/conv", "wrap/maxpool", "wrap/bn", "wrap/relu"]


def test_concat_branches_and_add_branches():
    g = dsl.loads("conv(8) -> concat(gmp, gap) -> linear(3)")
    assert g.nodes["concat"].shape == (16,)
    assert g.nodes["concat"].inputs == ("gmp", "gap")
    g = dsl.loads("conv(8) -> add(identity, conv, conv_bn) -> gap")
    assert len(g.nodes["add"].inputs) == 3


def test_repetition_numbers_the_copies_and_does_not_clash_with_scaling():
    g = dsl.loads("conv_bn(8)^3 -> gap -> linear(2)*0.5")
    assert {"conv_bn_1/conv", "conv_bn_2/conv", "conv_bn_3/conv"} <= set(g.nodes)
    assert g.blocks["conv_bn_2"].repeat_of == "conv_bn_1"
    assert g.nodes["scale"].params["k"] == 0.5


def test_comments_newlines_and_chains_over_lines():
    g = dsl.loads("# a comment\nnet = conv(8)   # trailing\n  -> relu\n  -> gap\n")
    assert list(g.nodes) == ["input", "conv", "relu", "gap"]


def test_local_definitions_override_the_prelude():
    g = dsl.loads("fc = linear(3)\nconv(8) -> gmp -> fc")
    assert g.output_shape == (3,)
    assert g.nodes["fc/linear"].params["bias"] is True


def test_use_imports_relative_to_the_importing_file(write):
    write("lib/blocks.net", 'use "more.net"\nstem = conv(c=w)\nw_default = relu')
    write("lib/more.net", "head = gmp -> linear(5)\ntrain { epochs = 7 }")
    main = write("lib/../main.net", 'use "lib/blocks.net"\nnet = conv(4) -> head\ntrain { batch_size = 32 }')
    job = dsl.load_job(main)
    assert job.graph.output_shape == (5,)
    assert job.settings.epochs == 7 and job.settings.batch_size == 32
    assert job.settings.lr == ((0, 0.0), (1, 0.4), (7, 0.0))  # epochs without lr: the default schedule, stretched


def test_training_settings_default_to_the_article_recipe():
    s = dsl.loads_job("relu -> gmp -> fc").settings
    assert (s.epochs, s.batch_size, s.momentum, s.weight_decay) == (24, 512, 0.9, 5e-4)
    assert s.lr == ((0, 0.0), (5, 0.4), (24, 0.0))
    assert (s.pad, s.flip, s.cutout) == (4, True, 8)


def test_train_section_overrides():
    s = dsl.loads_job(
        "relu -> gmp -> fc\ntrain { epochs = 60, lr = [(0, 0), (12, 0.4), (60, 0)], cutout = 12 }"
    ).settings
    assert s.epochs == 60 and s.cutout == 12
    assert s.lr[1] == (12, 0.4)


def test_primitives_all_parse_with_their_parameters():
    g = dsl.loads("""
    conv(8, k=3, stride=1, padding=1, bias=true, groups=1) -> bn(weight=uniform, eps=1e-3, momentum=0.2, frozen=true)
    -> relu -> dropout(0.1) -> avgpool(2) -> maxpool(k=3, stride=1, padding=1) -> conv(8, groups=4)
    -> add(identity, conv) -> concat(gmp, gap) -> scale(2) -> linear(10, bias=false) -> identity
    """)
    assert g.output_shape == (10,)
    assert g.nodes["bn"].params["weight"] == "uniform"
    assert g.nodes["conv_2"].n_params == 8 * 2 * 9 + 8
    g = dsl.loads("conv(4) -> flatten -> linear(2)")
    assert g.nodes["flatten"].shape == (4 * 32 * 32,)


def test_the_parser_keeps_positions():
    m = parse("a = conv(8)\n\nnet = a ->   relu", "f.net")
    d = m.defs[0]
    assert (d.name_span.line, d.name_span.col) == (1, 1)
    relu = m.defs[1].body.items[1]
    assert (relu.span.file, relu.span.line, relu.span.col, relu.span.end_col) == ("f.net", 3, 14, 18)


@pytest.mark.parametrize(
    "text",
    [
        DESIGN_LINE,
        "a -> (b | c -> d)? -> e^3 -> f*0.5",
        "add(identity, conv_bn -> conv_bn) -> concat(gmp, gap)",
        'x(c=3, k=true) -> y("s", -1.5e3)',
    ],
)
def test_printer_round_trips(text):
    m = parse(text)
    once = format_expr(m.net.expr)
    assert format_expr(parse(once).net.expr) == once


def test_a_net_file_cannot_run_code(write, tmp_path):
    marker = tmp_path / "pwned"
    evil = f'__import__("os").system("touch {marker}")'
    for text in (evil, f"net = conv(8)\ntrain {{ epochs = {evil} }}", f'use "{marker}"\nrelu'):
        with pytest.raises(dsl.NetError):
            dsl.load(write("evil.net", text))
    assert not marker.exists()
