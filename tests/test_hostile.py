"""Hostile and careless input to the front end: every case is exit 2 with a located message,
never exit 3 (internal error), a traceback, a hang or unbounded memory.

Each case here crashed, hung or was accepted wrongly before (issue: robustness)."""

from __future__ import annotations

import os
import stat
import threading

import pytest

import dsl
from dsl.errors import NetError


def check(netc, path, *extra):
    r = netc("check", path, *extra)
    assert "Traceback" not in r.err and "internal error" not in r.err, r.err
    return r


# ----------------------------------------------------------------------------- sizes and nesting
@pytest.mark.parametrize(
    "text,needle,where",
    [
        ("conv(8)" + "*1" * 600, "nested more than 200 levels", "1:1"),
        ("conv(8)" + "?" * 600, "nested more than 200 levels", "1:1"),
        ("conv(8)" + "^1" * 600, "nested more than 200 levels", "1:1"),
        ("conv(8)^" + "9" * 4300, "4300 digits is out of range", "1:9"),
        ("conv(8)*" + "9" * 400, "400 digits is out of range", "1:9"),
        ("conv(8)*" + "9" * 400 + ".5", "out of range", "1:9"),
        ("conv(8)*1e400", "out of range", "1:9"),
        ("input " + "9" * 4300 + "x3x3\nrelu", "input size out of range", "1:1"),
        ("input 3x32x32\nconv(" + "9" * 30 + ")", "30 digits is out of range", "2:6"),
        ("conv(8)^10001", "repeat count 10001 is out of range (0 to 10,000)", "1:1"),
        ("maxpool(3, padding=2)", "padding 2 is more than half the 3×3 window", "1:1"),
        ("bn(weight=1e9)", "'weight' must be <= 10000", "1:11"),
        ("bn(eps=0)", "'eps' must be >= 1e-12", "1:8"),
    ],
)
def test_absurd_literals_and_nesting_are_located(netc, write, text, needle, where):
    r = check(netc, write("x.net", text))
    assert r.code == 2 and needle in r.err and f"x.net:{where}" in r.err, r.err


@pytest.mark.parametrize("flag", ["inf", "nan", "-1", "0", "1e40", "abc"])
def test_max_params_must_be_a_sane_number(netc, root, flag):
    r = check(netc, root / "nets/residual_l1_l3.net", "--max-params", flag)
    assert r.code == 2 and "--max-params" in r.err, r.err


def test_a_long_chain_of_imports_is_refused_at_the_limit_not_by_the_stack(netc, tmp_path):
    n = 1200
    for i in range(n):
        (tmp_path / f"m{i}.net").write_text(f'use "m{i + 1}.net"\n' if i + 1 < n else "leaf = relu\n")
    (tmp_path / "main.net").write_text('use "m0.net"\nleaf -> gmp -> fc\n')
    r = check(netc, tmp_path / "main.net")
    # main.net and m0 .. m254 are 256 files: m254's import is the one refused
    assert r.code == 2 and "more than 256 imported files" in r.err and "m254.net:1:1" in r.err, r.err


def test_a_chain_of_imports_within_the_limit_works(tmp_path):
    n = 200
    for i in range(n):
        (tmp_path / f"m{i}.net").write_text(f'use "m{i + 1}.net"\n' if i + 1 < n else "leaf = relu\n")
    g = dsl.load(_write(tmp_path / "main.net", 'use "m0.net"\nleaf -> gmp -> fc\n'))
    assert g.output_shape == (10,)


def test_definitions_nested_to_the_limit_expand_without_recursion_errors():
    # 63 definitions deep, each body 190 postfix levels deep: far beyond Python's default stack
    lines = [f"d{i} = d{i + 1}" + "*1" * 190 for i in range(63)] + ["d63 = relu"]
    g = dsl.loads("input 3x4x4\n" + "\n".join(lines) + "\nd0 -> gmp -> linear(2)", max_nodes=10**6)
    assert g.output_shape == (2,) and sum(1 for n in g.nodes.values() if n.op == "scale") == 63 * 190


def test_deep_expansion_also_works_from_a_thread_with_a_small_stack():
    """The front end does not depend on its caller's stack (it runs on its own deep one)."""
    lines = [f"d{i} = d{i + 1}" + "*1" * 150 for i in range(60)] + ["d60 = relu"]
    text = "input 3x4x4\n" + "\n".join(lines) + "\nd0 -> gmp -> linear(2)"
    out = {}
    old = threading.stack_size(256 << 10)
    try:
        t = threading.Thread(target=lambda: out.setdefault("g", dsl.loads(text, max_nodes=10**6)))
        t.start()
    finally:
        threading.stack_size(old)
    t.join()
    assert out["g"].output_shape == (2,)


# ----------------------------------------------------------------------------- lexical
def test_brackets_in_comments_and_strings_do_not_count_as_nesting(netc, write):
    text = "# " + "(" * 300 + "\n" + 'blk "' + "(" * 300 + '" = relu\n' + "blk -> gmp -> fc\n"
    r = check(netc, write("c.net", text))
    assert r.code == 0, r.err


@pytest.mark.parametrize("ending", ["\r", "\r\n", "\n"])
def test_every_line_ending_style_works(netc, write, ending):
    text = ending.join(
        [
            "# a comment",
            "input 3x32x32",
            "prep -> layer1(res) # trailing comment",
            "-> gmp -> fc*0.125",
            "train { epochs = 3 }",
            "",
        ]
    )
    path = write("e.net", text.encode())
    r = check(netc, path)
    assert r.code == 0, r.err
    job = dsl.load_job(path)
    assert job.settings.epochs == 3 and "layer1/res/add" in job.graph.nodes
    bad = write("bad.net", ending.join(["input 3x32x32", "prep ->", "lyer1"]).encode())
    r = check(netc, bad)
    assert r.code == 2 and "bad.net:3:1" in r.err, r.err  # lines still count with any ending


# ----------------------------------------------------------------------------- special files
def test_special_files_are_refused_before_reading(netc, tmp_path, write):
    fifo = tmp_path / "pipe.net"
    os.mkfifo(fifo)
    for path in ("/dev/zero", "/dev/urandom", str(fifo)):
        r = check(netc, path)
        assert r.code == 2 and "not a regular file" in r.err, r.err
    for target in ("/dev/zero", str(fifo)):
        r = check(netc, write("imp.net", f'use "{target}"\nrelu'))
        assert r.code == 2 and "not a regular file" in r.err and "imp.net:1:1" in r.err, r.err


def test_a_huge_file_is_refused_by_size_without_reading_it_all(netc, tmp_path):
    big = tmp_path / "big.net"
    with open(big, "wb") as f:
        f.truncate(3 << 30)  # a 3 GiB sparse file
    r = check(netc, big)
    assert r.code == 2 and "limited to 1,048,576 bytes" in r.err


def test_an_unreadable_file_is_refused(netc, write):
    p = write("secret.net", "relu")
    p.chmod(0)
    try:
        if os.access(p, os.R_OK):
            pytest.skip("running as root: permissions are not enforced")
        r = check(netc, p)
        assert r.code == 2 and "permission denied" in r.err
    finally:
        p.chmod(stat.S_IRUSR | stat.S_IWUSR)


# ----------------------------------------------------------------------------- imports
def test_errors_in_nested_imports_name_the_file_as_the_user_would_type_it(netc, tmp_path):
    (tmp_path / "nets" / "lib").mkdir(parents=True)
    (tmp_path / "nets" / "lib" / "a.net").write_text('use "b.net"\na = b\n')
    (tmp_path / "nets" / "lib" / "b.net").write_text("b = conv(8, k=0)\n")
    (tmp_path / "nets" / "main.net").write_text('use "lib/a.net"\na -> gmp -> fc\n')
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        r = netc("check", "nets/main.net")
    finally:
        os.chdir(cwd)
    assert r.code == 2, r.err
    assert "nets/lib/b.net:1:15" in r.err and "nets/lib/a.net:2:5" in r.err and "nets/main.net:2:1" in r.err
    assert "\nb.net:" not in r.err and "\nlib/b.net:" not in r.err


# ----------------------------------------------------------------------------- search spaces
def test_a_space_over_the_variant_limit_is_counted_and_sampled_not_listed(netc, write):
    r = check(netc, write("s.net", "input 3x8x8\nconv(8)" + " -> relu?" * 13 + " -> gmp -> linear(2)"))
    assert r.code == 0 and "search space of 8,192 variants" in r.out and "too many to list" in r.out, r.err
    assert len([line for line in r.out.splitlines() if line.startswith("  ")]) == 5
    with pytest.raises(NetError, match="8,192 combinations of choices, more than 4,096 to list"):
        dsl.variants(write("t.net", "input 3x8x8\nconv(8)" + " -> relu?" * 13 + " -> gmp -> linear(2)"))


def test_a_space_over_the_op_budget_is_refused_before_expanding(netc, write):
    text = (
        "input 3x8x8\nblk = ((conv(8) -> relu)^200)^100\n"
        "net = conv(8) -> (relu | bn)? -> (relu | bn)? -> blk -> gmp -> linear(2)"
    )
    r = check(netc, write("s.net", text))
    assert r.code == 2 and "ops over its variants" in r.err, r.err


def test_a_variant_that_does_not_fit_is_reported_with_its_choices(netc, write):
    r = check(netc, write("s.net", "input 3x8x8\nconv(8) -> (gmp | relu) -> linear(2)"))
    assert r.code == 0 and "1 variant, 1 more that do not build" in r.out
    assert "linear needs flat features" in r.err and "in the variant conv(8) -> relu" in r.err
    r = check(netc, write("t.net", "input 3x8x8\nconv(8) -> (flatten | gmp) -> conv(8)"))
    assert r.code == 2 and "in the variant" in r.err  # nothing builds: the file is in error


def _write(path, text):
    path.write_text(text)
    return path


def test_loads_refuses_text_with_nul_like_a_file():
    with pytest.raises(NetError, match="NUL byte"):
        dsl.loads("relu\x00")


def test_a_block_passed_to_the_definition_it_is_passed_to_is_not_recursion():
    """`w(w(relu))` is finite text: the inner w is expanded as an argument, not by w's own body."""
    g = dsl.loads("input 3x8x8\nw(x) = conv(8) -> x\nw(w(w(relu))) -> gmp -> linear(2)")
    assert [n.op for n in g.nodes.values()] == ["input", "conv", "conv", "conv", "relu", "gmp", "linear"]
    with pytest.raises(NetError, match="recursive definition: w -> w"):
        dsl.loads("input 3x8x8\nw(x) = conv(8) -> w(x)\nw(relu) -> gmp -> linear(2)")


# ----------------------------------------------------------------------------- exponential expansion
def _doubling(kind: str, n: int) -> str:
    """A file whose network doubles at each of `n` levels of definitions (2^n ops as text)."""
    body = {
        "add": "add(x{p}, x{p})",
        "concat": "concat(x{p}, x{p})",
        "chain": "x{p} -> x{p}",
        "choice": "add(x{p}, x{p}?)",
        "named": "n{i}: add(x{p}, x{p})",
    }[kind]
    lines = ["input 3x8x8", "x0 = conv(4) -> relu"]
    lines += [f"x{i} = " + body.format(p=i - 1, i=i) for i in range(1, n + 1)]
    lines.append(f"net = x{n} -> gmp -> fc")
    return "\n".join(lines) + "\n"


def test_a_network_that_doubles_at_every_level_is_refused_not_hung(netc_proc, write):
    # 2^36 ops as text: refused at the op bound, located at the network, in a few seconds (a hang
    # shows up as subprocess.TimeoutExpired); `netc train` as a user runs it, in a process of its own
    r = netc_proc("train", write("x.net", _doubling("add", 36)), timeout=60)
    assert r.code == 2, r
    assert "Traceback" not in r.err and "internal error" not in r.err, r.err
    assert "expands to more than" in r.err and "x.net:39:" in r.err, r.err


@pytest.mark.parametrize("command", ["check", "summary"])
def test_check_and_summary_refuse_a_doubling_network_at_the_real_bound(netc, write, command):
    r = netc(command, write("x.net", _doubling("add", 36)))
    assert r.code == 2 and "expands to more than 300,000 ops" in r.err and "x.net:39:" in r.err, r


@pytest.mark.parametrize("kind", ["add", "concat", "chain", "choice", "named"])
def test_every_kind_of_doubling_is_bounded(kind):
    # the same bound, made small so that each kind is refused at once (in-process)
    with pytest.raises(NetError, match="expands to more than") as got:
        dsl.loads(_doubling(kind, 60), filename="x.net", max_space_ops=5_000)
    assert got.value.span is not None and got.value.span.line == 63  # the network's line (after 62 definitions)


# ----------------------------------------------------------------------------- address-space limits
AS_LIMITED = """
import resource, sys
import torch  # maps its libraries first: what is left of the address space is small
import dsl
vm = int([l for l in open("/proc/self/status") if l.startswith("VmSize")][0].split()[1]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + (200 << 20), resource.RLIM_INFINITY))  # no room for 512 MB
print(dsl.loads("input 3x8x8\\nconv(8) -> relu -> gmp -> linear(2)").params)
deep = "input 3x8x8\\n" + "".join(f"b{i} = relu -> b{i + 1}\\n" for i in range(60)) + "b60 = relu\\nb0 -> gmp -> linear(2)"
print(len(dsl.loads(deep).nodes))
"""


def test_the_front_end_works_when_a_big_stack_cannot_be_had(tmp_path):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", AS_LIMITED], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["242", "64"], r.stdout
