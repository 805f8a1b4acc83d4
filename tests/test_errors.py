"""Every user mistake: one paragraph with file:line:col, the line, a caret; exit 2; no traceback."""

from __future__ import annotations

import os

import pytest

CASES = [
    # (name, file text, expected "file:line:col" suffix, message fragment, hint fragment)
    ("syntax", "prep -> (layer1\n", "1:16", "unexpected end of file; expected", None),
    ("syntax_char", "prep -> layer1 $ gmp", "1:16", "unexpected character '$'", None),
    ("syntax_quote", "use 'x.net'", "1:5", "unexpected character", "double quotes"),
    ("two_nets", "prep -> layer1\ngmp -> fc", "2:1", "a second network expression", "'->'"),
    ("unknown_name", "prep -> layr1 -> gmp -> fc", "1:9", "unknown name 'layr1'", "did you mean 'layer1'"),
    ("unknown_kw", "conv(64, kernal=3) -> gmp -> fc", "1:10", "conv has no parameter 'kernal'", "parameters: c, k"),
    ("too_many_args", "conv(1, 2, 3, 4, true, 1, 7)", "1:27", "conv takes at most 6 arguments", None),
    ("def_arity", "conv_bn(64, 3, 4) -> gmp -> fc", "1:16", "'conv_bn' takes 2 arguments (c, k), got 3", None),
    ("missing_arg", "f(c) = conv(c)\nnet = f -> gmp -> fc", "2:7", "'f' needs argument 'c'", None),
    ("wrong_type", "conv(3.5) -> gmp -> fc", "1:6", "'c' expects a whole number", None),
    ("bad_symbol", "bn(weight=unifrm) -> gmp -> fc", "1:11", "unknown name 'unifrm'", "did you mean 'uniform'"),
    ("value_not_block", "conv(8) -> 3", "1:12", "3 is a value, not a block", None),
    ("recursion_direct", "a = conv(8) -> a\nnet = a", "1:16", "recursive definition: a -> a", "^N"),
    (
        "recursion_indirect",
        "a = b\nb = relu -> c\nc = a\nnet = a -> gmp -> fc",
        "3:5",
        "recursive definition: a -> b -> c -> a",
        None,
    ),
    (
        "add_mismatch",
        "add(identity, conv(16)) -> gmp -> fc",
        "1:1",
        "shape mismatch at add",
        "this branch gives 16×32×32",
    ),
    ("concat_mismatch", "concat(identity, maxpool(2)) -> gmp -> fc", "1:1", "shape mismatch at concat", "3×16×16"),
    ("shrinks", "input 3x8x8\nconv(8) -> maxpool(2)^4 -> gmp -> fc", "2:12", "shrinks below 1", None),
    ("conv_shrinks", "input 3x4x4\nconv(8, k=7, padding=0) -> gmp -> fc", "2:1", "shrinks below 1", None),
    ("flat_into_conv", "gmp -> conv(8)", "1:8", "conv needs a C×H×W feature map", None),
    (
        "budget",
        "conv(50000) -> conv(50000) -> gmp -> fc",
        "1:16",
        "exceeds the parameter budget",
        "nothing was allocated",
    ),
    ("huge_activation", "conv(1000000000) -> gmp -> fc", "1:1", "over the limit", None),
    ("huge_input", "input 3x100000x100000\nrelu", "1:1", "over the limit of 2,147,483,648", None),
    ("repeat_negative", "relu^(0 - 1) -> gmp -> fc", "1:1", "repeat count -1 is out of range (0 to 10,000)", None),
    ("repeat_signed", "relu^-1 -> gmp -> fc", "1:6", "unexpected '-1'", "needs parentheses here: (-1)"),
    ("too_many_ops", "(relu^10000)^10000", "1:2", "more than 200,000 ops", None),
    (
        "unknown_setting",
        "gmp -> fc\ntrain { epoks = 3 }",
        "2:9",
        "unknown training setting 'epoks'",
        "did you mean 'epochs'",
    ),
    ("bad_setting", "gmp -> fc\ntrain { epochs = -3 }", "2:9", "'epochs' must be an integer", None),
    (
        "bad_knots",
        "gmp -> fc\ntrain { lr = [(5, 1), (2, 0)] }",
        "2:9",
        "'lr' must be a list of at least two (epoch, lr) pairs",
        None,
    ),
    (
        "missing_import",
        'use "nope.net"\nrelu',
        "1:1",
        'cannot import "nope.net": no such file',
        "relative to the importing file",
    ),
    ("duplicate_def", "a = relu\na = relu\nnet = a", "2:1", "'a' is defined twice", None),
    ("no_network", "input 3x8x8", None, "describes no network and defines nothing", None),  # a = relu: a library
    ("inside_prelude", "conv(8) -> fc", "1:12", "linear needs flat features", "inside this definition"),
    ("extend_with_value", "layer1(3) -> gmp -> fc", "1:8", "'layer1' takes no parameters", None),
    ("branches_needed", "add(relu) -> gmp -> fc", "1:1", "add needs at least two branches", None),
]


@pytest.mark.parametrize("name,text,where,message,hint", CASES, ids=[c[0] for c in CASES])
def test_user_errors_point_at_the_source(netc, write, name, text, where, message, hint):
    path = write(f"{name}.net", text)
    r = netc("check", path)
    assert r.code == 2, r
    assert "Traceback" not in r.err
    first = r.err.splitlines()[0]
    expected_where = f"{path}:{where}" if where else str(path)
    assert first.startswith(f"{expected_where}: error: "), r.err
    assert message in r.err, r.err
    if hint:
        assert hint in r.err, r.err
    if where:  # the source line and a caret under the column
        line_no, col = map(int, where.split(":"))
        lines = r.err.splitlines()
        src = text.splitlines()[line_no - 1]
        assert lines[1].endswith(src)
        caret = lines[2]
        assert caret.index("^") - caret.index("|") - 2 == col - 1, r.err


def test_import_cycle(netc, write):
    write("a.net", 'use "b.net"\nx = relu')
    write("b.net", 'use "a.net"\ny = relu')
    main = write("main.net", 'use "a.net"\nrelu -> gmp -> fc')
    r = netc("check", main)
    assert r.code == 2 and "import cycle: a.net -> b.net -> a.net" in r.err
    assert "b.net:1:1: error:" in r.err


def test_missing_file_directory_and_unreadable(netc, tmp_path):
    r = netc("check", tmp_path / "nope.net")
    assert r.code == 2 and "no such file" in r.err
    r = netc("check", tmp_path)
    assert r.code == 2 and "directory" in r.err
    if os.geteuid() != 0:  # root reads everything
        p = tmp_path / "locked.net"
        p.write_text("relu")
        p.chmod(0)
        r = netc("check", p)
        assert r.code == 2 and "permission denied" in r.err


def test_non_utf8_file(netc, write):
    p = write("latin1.net", b"# caf\xe9\nrelu -> gmp -> fc\n")
    r = netc("check", p)
    assert r.code == 2 and f"{p}:1:6" in r.err and "not valid UTF-8" in r.err and "0xe9" in r.err


def test_binary_file(netc, write):
    r = netc("check", write("bin.net", b"relu\x00\x01\x02"))
    assert r.code == 2 and "NUL byte" in r.err


def test_file_over_the_size_limit(netc, write):
    r = netc("check", write("big.net", "# " + "x" * (1 << 20) + "\nrelu"))
    assert r.code == 2 and "limited to 1,048,576 bytes" in r.err


def test_deep_nesting_is_refused_cleanly(netc, write):
    """Grouping brackets add no nesting (5,000 of them around relu is relu); nested calls and
    postfix operators do, and beyond 200 levels they are refused at their place."""
    r = netc("check", write("parens.net", "(" * 5000 + "relu" + ")" * 5000))
    assert r.code == 0, r
    r = netc("check", write("deep.net", "w(x) = x\n" + "w(" * 300 + "relu" + ")" * 300))
    assert r.code == 2 and "nested more than 200 levels" in r.err and "deep.net:2:" in r.err, r
    r = netc("check", write("postfix.net", "conv(8)" + "*1" * 600))
    assert r.code == 2 and "nested more than 200 levels" in r.err and "Traceback" not in r.err, r


def test_deep_definition_chain_is_refused_cleanly(netc, write):
    defs = "\n".join(f"d{i} = d{i + 1}" for i in range(200)) + "\nd200 = relu\nnet = d0 -> gmp -> fc"
    r = netc("check", write("chain.net", defs))
    assert r.code == 2 and "nest more than 64 deep" in r.err


def test_unknown_variant_has_did_you_mean(netc, root):
    r = netc("summary", root / "nets/search_residual.net", "--variant", "Residual:L1+L4")
    assert r.code == 2 and "no variant 'Residual:L1+L4'" in r.err and "Residual:L1+L3" in r.err


def test_several_files_report_each_and_exit_2(netc, write, root):
    bad = write("bad.net", "relu ->")
    r = netc("check", root / "nets/residual_l1_l3.net", bad)
    assert r.code == 2
    assert "residual_l1_l3.net: ok" in r.out and "bad.net:1:8: error" in r.err


def test_cli_usage_errors_exit_2(netc):
    r = netc("check")
    assert r.code == 2 and "Traceback" not in r.err
    r = netc("frobnicate")
    assert r.code == 2
