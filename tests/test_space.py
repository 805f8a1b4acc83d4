"""Value choices, ranges, recipe choices, and spaces that are counted and sampled instead of listed."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dsl
from dsl.cli import main
from dsl.errors import NetError
from dsl.expand.choices import ChoiceWalker, enumerate_decisions
from dsl.front.loader import loads_program
from dsl.front.parser import parse
from dsl.front.printer import format_module


def names(text: str) -> list[str]:
    return [v.name for v in loads_program(text).variants()]


def leaves(text: str) -> list[dict]:
    p = loads_program(text)
    walker = ChoiceWalker(p.defs, p.limits)
    return [leaf for leaf, _ in enumerate_decisions(p.net, walker, p.limits, p.setting_values)]


# ----------------------------------------------------------------------------- the examples
def test_a_choice_of_widths_is_three_variants_named_by_their_values():
    text = "conv(16 | 32 | 64) -> relu -> gmp -> fc"
    assert names(text) == ["c=16", "c=32", "c=64"]
    assert loads_program(text).count() == 3
    g = dsl.loads(text, variant="c=32")
    assert g.canonical == "conv(32) -> relu -> gmp -> fc"


def test_a_value_definition_used_twice_is_one_decision():
    text = "w = 16 | 32\nconv(w) -> conv(w) -> gmp -> fc"
    assert names(text) == ["w=16", "w=32"]
    g = dsl.loads(text, variant="w=32")
    assert [n.params["c"] for n in g.nodes.values() if n.op == "conv"] == [32, 32]


def test_a_choice_of_repeat_counts():
    text = "blk = conv(8) -> relu\nblk^(1 | 2 | 3) -> gmp -> fc"
    assert names(text) == ["blk^1", "blk^2", "blk^3"]
    assert sum(n.op == "conv" for n in dsl.loads(text, variant="blk^3").nodes.values()) == 3


def test_stride_and_kernel_choices_and_a_range():
    text = "s = (1 | 2)\nconv(8..32 step 8, k=3 | 5, stride=s) -> gmp -> fc"
    p = loads_program(text)
    assert p.count() == 16 and len(p.variants()) == 16
    assert "c=24 k=5 s=2" in names(text)


def test_block_choices_keep_the_articles_names_and_values_follow():
    text = "input 3x32x32\nk = 3 | 5\nres = (conv(64, k) -> relu)?\nconv(64) -> res -> gmp -> fc"
    # k is reached only where res is present: three variants, not four
    assert names(text) == ["Backbone", "conv(64, k) -> relu:res k=3", "conv(64, k) -> relu:res k=5"]


def test_choices_in_the_training_recipe():
    text = "prep -> gmp -> fc\ntrain { lr = [(0, 0), (5, 0.2 | 0.4), (24, 0)], label_smoothing = 0 | 0.1 }"
    p = loads_program(text)
    got = [(v.name, v.settings.lr[1][1], v.settings.label_smoothing) for v in p.variants()]
    assert got == [
        ("lr=0.2 label_smoothing=0", 0.2, 0.0),
        ("lr=0.2 label_smoothing=0.1", 0.2, 0.1),
        ("lr=0.4 label_smoothing=0", 0.4, 0.0),
        ("lr=0.4 label_smoothing=0.1", 0.4, 0.1),
    ]
    job = dsl.loads_job(text, variant="lr=0.4 label_smoothing=0.1")
    assert job.settings.lr[1] == (5, 0.4) and job.settings.label_smoothing == 0.1


def test_every_option_of_a_recipe_choice_is_checked():
    with pytest.raises(NetError, match="label_smoothing"):
        loads_program("prep -> gmp -> fc\ntrain { label_smoothing = 0 | 2 }")


@pytest.mark.parametrize(
    "text, message",
    [
        ("conv(16..250 step 16)", "does not reach 250: its last value would be 240"),
        ("conv(16..8)", "a range goes up"),
        ("conv(1..9 step 0)", "step must be positive"),
        ("conv(0.1..0.5)", "needs a step"),
        ("k = 3\nconv(k..9)", "ends and step are numbers written out"),
        ("conv(1..2000000000)", "at most 1,000,000,000"),
    ],
)
def test_ranges_are_checked_where_written(text, message):
    with pytest.raises(NetError, match=message):
        loads_program(text + " -> gmp -> fc")


def test_decimal_ranges_hold_the_written_values():
    p = loads_program("dropout(0.1..0.3 step 0.1) -> gmp -> fc\ninput 3x8x8")
    assert [v.name for v in p.variants()] == ["p=0.1", "p=0.2", "p=0.3"]


def test_ranges_and_recipe_choices_survive_printing_and_formatting():
    text = "k = 1..7 step 2\nconv(16..64 step 16, k) -> gmp -> fc\ntrain { lr = [(0, 0), (5, 0.2 | 0.4), (24, 0)] }\n"
    again = format_module(parse(text))
    assert "k = 1..7 step 2" in again and "conv(16..64 step 16, k)" in again and "(5, 0.2 | 0.4)" in again
    assert names(again) == names(text)


def test_a_name_called_step_is_still_a_name_where_no_range_ends():
    assert names("blk(step) = conv(step)\nblk(8 | 16) -> gmp -> fc") == ["step=8", "step=16"]


def test_shared_names_are_told_apart():
    text = "stage(c, n) = (conv(c) -> relu)^n\nstage(16 | 32, 1..2) -> stage(32 | 64, 1) -> gmp -> fc"
    assert names(text)[0] == "c.1=16 n=1 c.2=32"
    text = "stage(c) = conv(c)\na: stage(16 | 32) -> b: stage(8 | 64) -> gmp -> fc"
    assert names(text)[0] == "a.c=16 b.c=8"


# ----------------------------------------------------------------------------- large spaces
BIG = (
    "input 3x16x16\ns(c, k) = conv(c, k) -> bn -> relu\n"
    + " -> ".join("s(8..80 step 8, 3 | 5 | 7 | 9 | 11 | 13 | 15 | 17 | 19 | 21)" for _ in range(6))
    + " -> gmp -> fc\n"
)


def test_a_space_of_a_trillion_variants_is_counted_exactly():
    p = loads_program(BIG)
    assert p.count() == 10**12 and not p.listable()
    with pytest.raises(NetError, match="1,000,000,000,000 combinations of choices, more than 4,096 to list"):
        p.variants()


def test_netc_check_counts_and_samples_a_large_space(tmp_path, capsys):
    f = tmp_path / "big.net"
    f.write_text(BIG)
    assert main(["check", str(f), "--samples", "3"]) == 0
    out = capsys.readouterr().out
    assert "search space of 1,000,000,000,000 variants (1.00e+12), too many to list; 3 drawn at random" in out
    rows = [line for line in out.splitlines() if line.startswith("  ")]
    assert len(rows) == 3 and all("c.1=" in r and "k.6=" in r for r in rows)


def test_a_command_on_a_large_space_without_variant_names_two_that_work(tmp_path, capsys):
    import re

    f = tmp_path / "big.net"
    f.write_text(BIG)
    assert main(["export", str(f), "--format", "py", "-o", str(tmp_path / "m.py")]) == 2
    err = capsys.readouterr().err
    assert "is a search space of 1,000,000,000,000 networks, too many to list; pick one with --variant" in err
    names = re.findall(r'--variant "([^"]+)"', err)
    assert len(names) == 2 and not (tmp_path / "m.py").exists()
    assert main(["export", str(f), "--format", "py", "-o", str(tmp_path / "m.py"), "--variant", names[0]]) == 0


def test_a_sampled_variant_is_found_again_by_its_name():
    p = loads_program(BIG)
    v = p.variant_of(p.sample(random.Random(3)))
    again = p.variant(v.name)
    assert again.fingerprint == v.fingerprint and again.name == v.name
    with pytest.raises(NetError, match="does not say"):
        p.variant(" ".join(v.name.split()[:-1]))
    with pytest.raises(NetError, match="not an option"):
        p.variant(v.name.replace("c.1=", "c.1=7"))


def test_names_of_repeat_counts_tuples_and_ranges_hold_no_space_and_are_found_again():
    p = loads_program(
        "input 3x16x16\nres(k) = add(identity, conv_bn(auto, k))\ns = (1, 1) | (2, 2)\n"
        "conv_bn(8 | 16) -> res(3 | 5)^(1 | 2 | 3) -> conv(16, 3, s) -> conv_bn(8..64 step 8)^(1 | 2) "
        "-> conv_bn(8..512 step 8) -> gmp -> linear(10)\n"
    )
    assert not p.listable()
    rng = random.Random(0)
    for _ in range(20):
        v = p.variant_of(p.sample(rng))
        assert "res(3|5)^" in v.name and "conv_bn(8..64_step_8)^" in v.name and "s=(" in v.name, v.name
        again = p.variant(v.name)
        assert again.fingerprint == v.fingerprint and again.name == v.name


def test_a_large_space_with_tied_and_conditional_choices_is_counted():
    text = "k = 1..99 step 2\nblk = (conv(8, k) -> relu)?\n" + " -> ".join(["blk", "(conv(8..800 step 8) | blk)"] * 3)
    p = loads_program(text + " -> gmp -> fc")
    # blk is one decision: absent (k unreached) or present (k: 50 values); each (a | blk) is 100 + 1
    absent = 101**3  # blk absent: k is reached by no option
    present = 50 * 101**3  # blk present: k reached
    assert p.count() == absent + present


# ----------------------------------------------------------------------------- counting = listing
@st.composite
def spaces(draw) -> str:
    """Small random spaces: block and value choices, nested options, definitions used in several places."""
    values = draw(st.sampled_from(["8", "8 | 16", "8..24 step 8", "w", "w*2 | 8"]))
    width = draw(st.sampled_from(["w = 8", "w = 8 | 16", "w = 4..12 step 4"]))

    def block(depth: int) -> str:
        atoms = ["relu", f"conv({values})", "a", "bn", "(relu | bn)", "conv(w)?"]
        if depth <= 0:
            return draw(st.sampled_from(atoms[:2] + atoms[3:]))
        kind = draw(st.sampled_from(["atom", "opt", "alt", "seq"]))
        if kind == "atom":
            return draw(st.sampled_from(atoms))
        if kind == "opt":
            return f"({block(depth - 1)})?"
        if kind == "alt":
            return f"({block(depth - 1)} | {block(depth - 1)})"
        return f"{block(depth - 1)} -> {block(depth - 1)}"

    a = block(1).replace(" a", " relu").replace("(a", "(relu")
    if a == "a":
        a = "relu"
    net = block(3)
    return f"input 8x4x4\n{width}\na = {a}\nconv(8) -> {net} -> gmp -> fc\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spaces())
def test_the_count_equals_the_listing_on_small_spaces(text):
    p = loads_program(text)
    assert p.count() == len(leaves(text)) if p.is_space() else p.count() == 1


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spaces(), st.integers(0, 2**32))
def test_a_sample_is_one_of_the_listed_combinations(text, seed):
    p = loads_program(text)
    if not p.is_space():
        return
    listed = [tuple(sorted((c.span.line, c.span.col, i) for c, i in leaf.items())) for leaf in leaves(text)]
    got = p.sample(random.Random(seed))
    assert tuple(sorted((c.span.line, c.span.col, i) for c, i in got.items())) in listed


def test_sampling_is_uniform_over_a_conditional_space():
    from scipy.stats import chisquare  # here: scipy takes a second to import, for this test only

    text = (
        "input 8x4x4\nk = 3 | 5 | 7\nblk = (conv(8, k) -> (relu | bn))?\n"
        "conv(8) -> (blk | conv(8..32 step 8) -> blk?) -> gmp -> fc\n"
    )
    p = loads_program(text)
    combos = [tuple(sorted((c.span.line, c.span.col, i) for c, i in leaf.items())) for leaf in leaves(text)]
    assert p.count() == len(combos) == len(set(combos))
    rng = random.Random(0)
    draws = Counter(
        tuple(sorted((c.span.line, c.span.col, i) for c, i in p.sample(rng).items())) for _ in range(20 * len(combos))
    )
    assert set(draws) <= set(combos)
    observed = [draws.get(c, 0) for c in combos]
    assert chisquare(observed).pvalue > 1e-4, observed
