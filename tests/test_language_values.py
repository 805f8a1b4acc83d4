"""Values in the language: arithmetic, in_channels, value definitions (classes), tuples, flat inputs;
names for blocks (conv1: conv) and numbered lists ([a, b]) that give torchvision's module keys."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import dsl
from dsl.errors import NetError
from dsl.front.parser import parse
from dsl.front.printer import format_expr


def net(text: str, **kw):
    return dsl.loads(text, filename="v.net", **kw)


# ----------------------------------------------------------------------------- arithmetic
def test_arithmetic_in_parameters_and_repeat_counts():
    g = net(
        "input 3x16x16\n"
        "bottleneck(c, e=4) = conv(c, 1) -> conv(c, 3) -> conv(c*e, 1)\n"
        "stage(c, n) = bottleneck(c)^n\n"
        "stage(8, 1 + 1) -> conv(in_channels//2 + 1, 1) -> gap -> linear(100/4)*(1/9)"
    )
    convs = [n for n in g.nodes.values() if n.op == "conv"]
    assert [n.shape[0] for n in convs] == [8, 8, 32, 8, 8, 32, 17]
    assert g.nodes["linear"].shape == (25,) and g.nodes["scale"].params["k"] == pytest.approx(1 / 9)


def test_a_repeat_of_zero_copies_is_nothing():
    g = net("input 3x8x8\nrow(n) = [conv(8), (conv(8) -> relu)^(n - 1)]\nfirst: row(1) -> second: row(3)")
    assert [p for p in g.nodes if p.startswith("first/")] == ["first/0"]
    assert [p for p in g.nodes if p.startswith("second/")][-1] == "second/2/relu"
    assert net("input 3x8x8\nconv(8) -> relu^0 -> bn").nodes["bn"].inputs == ("conv",)


def test_in_channels_is_the_width_where_the_value_is_used():
    # a parameter default is evaluated at the call: the block's own input width
    se = "se(c=in_channels, r=4) = mul(identity, gap -> linear(c//r) -> relu -> linear(c) -> sigmoid)\n"
    g = net("input 3x8x8\n" + se + "conv(64) -> se -> gap -> linear(2)")
    assert g.nodes["se/linear_1"].shape == (16,) and g.nodes["se/linear_2"].shape == (64,)
    # inside the body it is the width at that point
    g = net("input 3x8x8\nconv(12) -> conv(in_channels*2) -> conv(in_channels//3)")
    assert [n.shape[0] for n in g.nodes.values() if n.op == "conv"] == [12, 24, 8]


@pytest.mark.parametrize(
    "text,message,where",
    [
        ("conv(8/0)", "division by zero", "1:6"),
        ("conv(8//(2 - 2))", "division by zero", "1:6"),
        ("conv(8/3)", "'c' expects a whole number or 'auto', got 2.6666666666666665", "1:6"),
        ("conv(3 - 8)", "'c' must be >= 1, got -5", "1:6"),
        ("conv(-8)", "'c' must be >= 1, got -8", "1:6"),
        ("relu^(2/4)", "a repeat count is a whole number", "1:7"),
        ("relu^(1 - 2)", "repeat count -1 is out of range", "1:1"),
        ("conv(8) -> relu + bn", "'+' combines numbers, not blocks", "1:12"),
        ("conv(8) -> 2*3", "2*3 is a value, not a block", "1:12"),
        ("conv(true + 1)", "'+' needs numbers, got True", "1:6"),
        ("conv(c*4)", "unknown name 'c' in parameter 'c'", "1:6"),
        ("conv(8)*relu", "'*' scales a block by a number", "1:1"),
        ("conv(8)*(1, 2)", "a block is scaled by a number", "1:9"),
        ("conv(99999999999*99999999999)", "is out of range", "1:6"),
        ("a = b + 1\nb = a\nconv(a)", "value definition refers to itself: a -> b -> a", "2:5"),
    ],
)
def test_value_mistakes_are_located(text, message, where):
    with pytest.raises(NetError) as e:
        net("input 3x8x8\n" + text)
    shifted = f"{int(where.split(':')[0]) + 1}:{where.split(':')[1]}"
    assert message in str(e.value) and f"v.net:{shifted}" in str(e.value), str(e.value)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 64), st.integers(1, 8), st.integers(0, 16))
def test_arithmetic_equals_python(c, d, a):
    g = net(f"input {c}x4x4\nconv(in_channels*{d} + {a}) -> conv((in_channels - {a})//{d} + 1)")
    convs = [n.shape[0] for n in g.nodes.values() if n.op == "conv"]
    assert convs == [c * d + a, (c * d + a - a) // d + 1]


def test_printing_keeps_the_meaning_of_arithmetic():
    for text in ["conv(c*4 + 1, (k - 1)//2) -> fc*(1/9)", "blk^(n + 1) -> a - (b - c)", "x(-(2 - 3), (1, 7))"]:
        once = format_expr(parse(text).net.expr)
        assert format_expr(parse(once).net.expr) == once


# ----------------------------------------------------------------------------- classes, flat inputs, tuples
def test_classes_is_set_once_per_file_and_reaches_the_prelude_fc():
    assert net("prep -> gmp -> fc").output_shape == (10,)
    g = net("classes = 100\nprep -> gmp -> fc")
    assert g.output_shape == (100,) and g.classes == 100
    with pytest.raises(NetError, match="'classes' is defined twice"):
        net("classes = 100\nclasses = 10\nprep -> gmp -> fc")
    with pytest.raises(NetError, match="classes must be a whole number"):
        net("classes = 2.5\nprep -> gmp -> linear(3)")
    with pytest.raises(NetError, match=r"'classes' is a value \(100\), not a block"):
        net("classes = 100\nprep -> classes")


def test_train_checks_the_declared_classes_against_the_data(tmp_path, capsys):
    from train_fixtures import write_npz

    from dsl.cli import main

    data = write_npz(tmp_path / "d.npz", 32, 16)  # 4 classes
    (tmp_path / "n.net").write_text("input 3x16x16\nclasses = 5\nconv(8) -> gmp -> fc\n")
    assert main(["train", str(tmp_path / "n.net"), "--data", str(data), "--out", str(tmp_path / "r")]) == 2
    assert "the data has 4 classes but 'n' declares classes = 5" in capsys.readouterr().err


def test_flat_inputs_for_mlps():
    g = net("input 784\nlinear(256) -> relu -> dropout(0.2) -> linear(10)")
    assert g.input_shape == (784,) and g.params == 784 * 256 + 256 + 2570
    model = dsl.build(g).eval()
    assert model(torch.randn(2, 784)).shape == (2, 10)
    with pytest.raises(NetError, match="input must be C×H×W .*, L×D .* or F"):
        net("input 2x3x4x5\nrelu")


def test_tuples_are_values_not_blocks():
    with pytest.raises(NetError, match=r"\(1, 7\) is a value, not a block"):
        net("input 3x8x8\nconv(8) -> (1, 7)")


# ----------------------------------------------------------------------------- names and lists
RESNET_STEM = """
input 3x32x32
basic(c, s=1) = add(conv1: conv(c, 3, s, bias=false) -> bn1: bn -> relu -> conv2: conv(c, 3, bias=false) -> bn2: bn,
                    downsample: [conv(c, 1, s, bias=false), bn]) -> relu
conv1: conv(16, 3, bias=false) -> bn1: bn -> relu -> layer1: [basic(16), basic(16)] -> avgpool: gap -> fc: linear(10)
"""


def test_names_and_lists_give_torch_style_module_keys():
    g = net(RESNET_STEM)
    keys = list(dsl.build(g).state_dict())
    assert keys[:2] == ["conv1.weight", "bn1.weight"]
    for k in (
        "layer1.0.conv1.weight",
        "layer1.0.bn2.running_var",
        "layer1.1.downsample.0.weight",
        "layer1.1.downsample.1.bias",
        "fc.weight",
        "fc.bias",
    ):
        assert k in keys, k


def test_list_items_are_numbered_through_repeats_and_skip_absent_options():
    g = net("input 3x8x8\nfeatures: [conv(8), relu?, (conv(8) -> relu)^2, last: bn, conv(4)] -> gap -> linear(2)")
    assert [p for p in g.nodes if p.startswith("features/")] == [
        "features/0",
        "features/1",
        "features/2/conv",
        "features/2/relu",
        "features/3/conv",
        "features/3/relu",
        "features/last",
        "features/4",
    ]
    v = dsl.loads("input 3x8x8\nfeatures: [conv(8), relu?, bn] -> gap -> linear(2)", variant="Backbone")
    assert [p for p in v.nodes if p.startswith("features/")] == ["features/0", "features/1"]


def test_explicit_names_must_be_unique_and_automatic_names_step_aside():
    with pytest.raises(NetError, match="two blocks here are named 'a'"):
        net("input 3x8x8\na: conv(8) -> a: relu")
    g = net("input 3x8x8\nconv(8) -> conv: relu -> conv(8)")
    assert list(g.nodes)[1:4] == ["conv_1", "conv", "conv_2"]


def test_a_named_definition_call_and_a_named_scaled_block():
    g = net("input 3x8x8\nblk = conv(8) -> relu\nfirst: blk -> head: (gap -> linear(3))*0.5")
    assert "first/conv" in g.nodes and "head/linear" in g.nodes and "head/scale" in g.nodes
    assert g.blocks["first"].definition == "blk"


# ----------------------------------------------------------------------------- value functions
def _make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """torchvision's `_make_divisible` (torchvision.models._utils), as the reference."""
    from torchvision.models._utils import _make_divisible

    return _make_divisible(v, divisor, min_value)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 4000), st.sampled_from([0.25, 0.35, 0.5, 0.75, 1.0, 1.3, 1.4, 2.0]), st.sampled_from([4, 8, 16]))
def test_divisible_is_torchvisions_make_divisible(c, width, d):
    g = net(f"input 3x8x8\nconv(divisible({c} * {width}, {d}), 1) -> gap -> linear(2)")
    assert g.nodes["conv"].shape[0] == _make_divisible(c * width, d)


def test_min_max_and_rounding_on_values():
    g = net(
        "input 3x8x8\nw = max(16, 40 // 3)\n"
        "conv(min(w, 12)) -> conv(round(in_channels * 0.75)) -> conv(floor(10 / 4)) -> conv(ceil(10 / 4)) "
        "-> conv(max(1, 2, w - 20)) -> gap -> linear(2)"
    )
    assert [n.shape[0] for n in g.nodes.values() if n.op == "conv"] == [12, 9, 2, 3, 2]


@pytest.mark.parametrize(
    "body, message, col",
    [
        ("conv(max(16))", "max() takes at least 2 arguments, got 1", 6),
        ("conv(round(3, 4))", "round() takes 1 argument, got 2", 6),
        ("conv(divisible(16, 0))", "divisible(): the divisor must be above 0", 6),
        ("conv(floor(1e30))", "out of range", 6),
        ("conv(max(16, relu))", "expects a value, got a block", 6),
    ],
)
def test_value_functions_misused_are_located(body, message, col):
    with pytest.raises(NetError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        net(f"input 3x8x8\n{body} -> gap -> linear(2)")
    assert (err.value.span.line, err.value.span.col) == (2, col)


def test_a_definition_or_op_named_like_a_function_keeps_its_meaning():
    g = net("input 3x8x8\nmax(c) = conv(c) -> relu\nmax(4) -> gap -> linear(2)")
    assert [n.op for n in g.nodes.values()][1:3] == ["conv", "relu"]


# ----------------------------------------------------------------------------- defaults
def test_a_default_uses_the_parameters_before_it():
    g = net(
        "input 3x8x8\nblk(c, w=c*2, k=3) = conv(c, k) -> conv(w, k)\n"
        "blk(8) -> blk(4, k=5) -> blk(4, w=6) -> gap -> linear(2)"
    )
    convs = [n for n in g.nodes.values() if n.op == "conv"]
    assert [n.shape[0] for n in convs] == [8, 16, 4, 8, 4, 6]
    assert [n.params["k"] for n in convs][2:4] == [5, 5]


def test_a_default_cannot_use_a_parameter_after_it():
    with pytest.raises(NetError, match="the default of 'w' uses 'c', a parameter declared after it") as err:
        net("input 3x8x8\nblk(w=c*2, c=4) = conv(w)\nblk -> gap -> linear(2)")
    assert (err.value.span.line, err.value.span.col) == (2, 7)


# ----------------------------------------------------------------------------- the copy index
def test_copy_is_the_index_of_the_copy_inside_a_repeat():
    g = net(
        "input 3x8x8\nblk(c, p=0.0) = conv(c) -> dropout(p)\n"
        "blk(4 + copy, p=0.1 * copy)^3 -> [conv(8 * (copy + 1))^2] -> (relu^copy)^3 -> gap -> linear(2)"
    )
    convs = [n for n in g.nodes.values() if n.op == "conv"]
    assert [n.shape[0] for n in convs] == [4, 5, 6, 8, 16]
    assert [n.params["p"] for n in g.nodes.values() if n.op == "dropout"] == pytest.approx([0.0, 0.1, 0.2])
    assert sum(n.op == "relu" for n in g.nodes.values()) == 0 + 1 + 2  # the innermost repeat's copy


def test_copies_that_read_their_index_are_not_marked_as_repeats():
    # diagrams fold a run of identical copies into one box "x3"; copies that differ stay apart
    same = dsl.loads("input 3x8x8\nb = conv(8) -> relu\nb^3 -> gap -> linear(2)")
    differ = dsl.loads("input 3x8x8\nb(c) = conv(c) -> relu\nb(8 + copy)^3 -> gap -> linear(2)")
    assert [blk.repeat_of for name, blk in sorted(same.blocks.items())] == [None, "b_1", "b_1"]
    assert [blk.repeat_of for blk in differ.blocks.values()] == [None, None, None]


def test_copy_outside_a_repeat_is_an_unknown_name_with_a_hint():
    with pytest.raises(NetError, match="unknown name 'copy'") as err:
        net("input 3x8x8\nconv(8 + copy) -> gap -> linear(2)")
    assert "index of the copy being made inside a repeat" in (err.value.hint or "")
    # a definition called copy keeps its meaning (the index is not bound over it)
    g = net("input 3x8x8\ncopy = conv(4)\n(copy -> relu)^2 -> gap -> linear(2)")
    assert sum(n.op == "conv" for n in g.nodes.values()) == 2


# ----------------------------------------------------------------------------- quoted names
def test_a_quoted_name_gives_any_state_dict_key():
    text = 'input 3x8x8\nblock(c) = "conv-a": conv(c) -> relu\n"block1-0": block(4) -> "7x": block(8) -> gap -> fc: linear(2)'
    g = net(text)
    m = dsl.build(g)
    assert list(m.state_dict()) == [
        "block1-0.conv-a.weight", "block1-0.conv-a.bias", "7x.conv-a.weight", "7x.conv-a.bias", "fc.weight", "fc.bias"
    ]  # fmt: skip
    assert m(torch.randn(2, 3, 8, 8)).shape == (2, 2)
    printed = format_expr(parse(text).net.expr)
    assert printed.startswith('"block1-0": block(4) -> "7x": block(8)')
    assert net(text.replace('"7x"', "seven")).fingerprint != g.fingerprint


@pytest.mark.parametrize(
    "name, message",
    [('""', "is empty"), ('"a.b"', "holds '.'"), ('"a b"', "holds white space"), ('"a/b"', "holds '/'")],
)
def test_a_quoted_name_that_cannot_be_a_key_part_is_refused_where_written(name, message):
    with pytest.raises(NetError, match=f"quoted name {message}") as err:
        net(f"input 3x8x8\nconv(8) -> {name}: relu -> gap -> linear(2)")
    assert (err.value.span.line, err.value.span.col) == (2, 12)


def test_a_name_given_to_a_merge_wraps_its_branches_as_documented():
    g = net("input 3x8x8\nconv(8) -> blk: add(conv(8) -> relu, identity) -> gap -> linear(2)")
    assert [p for p in g.nodes if p.startswith("blk/")] == ["blk/conv", "blk/relu", "blk/identity", "blk/add"]
    assert list(dsl.build(g).state_dict())[:4] == ["conv.weight", "conv.bias", "blk.conv.weight", "blk.conv.bias"]
