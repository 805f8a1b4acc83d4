"""`netc fmt`: the canonical layout keeps meaning, comments and blank-line groups; it is idempotent;
the command checks, rewrites, reads stdin, formats Markdown ```net blocks and locates syntax errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from fmt_strategies import net_files, ugly_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dsl.fmt
from dsl.commands.fmt import command
from dsl.errors import NetError
from dsl.fmt import WIDTH, FormatterBug, format_text
from dsl.front.loader import loads_program

ROOT = Path(__file__).resolve().parents[1]
NETS = sorted((ROOT / "nets").rglob("*.net"))


def meaning(text: str) -> tuple[object, ...]:
    """What a file means: its graph's fingerprint, its variants (names and fingerprints), its settings;
    for a network that does not check (random ones may not), the error message (without its place)."""
    try:
        prog = loads_program(text, filename="t.net")
        return prog.graph().fingerprint, [(v.name, v.fingerprint) for v in prog.variants()], prog.settings
    except NetError as err:
        return ("error", err.message)


def assert_tidy(out: str) -> None:
    """The layout's promises that hold for any input: one final newline, no trailing blanks,
    no runs of blank lines, spaces only for indentation, code lines within the width."""
    assert out == "" or (out.endswith("\n") and not out.endswith("\n\n"))
    lines = out.split("\n")[:-1]
    assert all(line == line.rstrip() for line in lines)
    assert "\n\n\n" not in out and not out.startswith("\n")
    for line in lines:
        code = line.split("#", 1)[0]
        assert "\t" not in code and len(code.rstrip()) <= WIDTH


# ---------------------------------------------------------------- the repository's files


@pytest.mark.parametrize("path", NETS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_repository_nets_are_formatted(path: Path):
    text = path.read_text(encoding="utf-8")
    assert format_text(text, str(path)) == text, f"run: netc fmt {path.relative_to(ROOT)}"


def test_check_passes_on_nets_and_docs():
    """What CI runs: `netc fmt --check nets/ docs/` (docs: the ```net blocks of the Markdown pages)."""
    res = CliRunner().invoke(command, ["--check", str(ROOT / "nets"), str(ROOT / "docs")])
    assert res.exit_code == 0, res.output
    assert "would be reformatted" in res.output and "already formatted" in res.output


# ---------------------------------------------------------------- properties


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ugly_files())
def test_formatting_keeps_meaning_and_comments_and_is_idempotent(case: tuple[str, str, list[str]]):
    clean, ugly, comments = case
    out = format_text(ugly)
    assert meaning(out) == meaning(clean)
    assert re.findall(r"#[^\n]*", out) == [c.rstrip() for c in comments]
    assert format_text(out) == out
    assert_tidy(out)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ugly_files(), st.integers(10, 60))
def test_narrow_widths_break_many_lines_and_keep_meaning(case: tuple[str, str, list[str]], width: int):
    """At small widths nearly every line is broken: the breaking never changes meaning or comments and
    a second pass changes nothing."""
    clean, ugly, comments = case
    out = format_text(ugly, width=width)
    assert meaning(out) == meaning(clean)
    assert re.findall(r"#[^\n]*", out) == [c.rstrip() for c in comments]
    assert format_text(out, width=width) == out


@settings(max_examples=15, deadline=None)
@given(net_files())
def test_a_one_line_file_gets_the_same_layout_as_its_tokens_spread_out(clean: str):
    """Canonical: breaks in places the layout does not keep are forgotten, so every spacing of
    one-statement-per-line text comes out alike."""
    spread = re.sub(r" ", "   ", clean).replace("(", "(  ").replace(",", " ,")
    assert format_text(spread) == format_text(clean)


# ---------------------------------------------------------------- the layout rules

RULES = [
    # spacing: -> | = , : * ^ ? unary and binary minus, calls, labels, kwargs
    ("a=b->c|d", "a = b -> c | d\n"),
    ("f( c,k = 3 )=conv( c ,k )  ->bn", "f(c, k=3) = conv(c, k) -> bn\n"),
    ('res  "R"=add( identity , conv_bn->conv_bn )', 'res "R" = add(identity, conv_bn -> conv_bn)\n'),
    ("x = a ^ 2 -> b ? -> fc * 0.125 -> c // 4 + 1 - - 2", "x = a^2 -> b? -> fc*0.125 -> c//4 + 1 - -2\n"),
    ("x = conv(c * - 1, k = - 2)", "x = conv(c*-1, k=-2)\n"),
    ("x = l1 :  conv(8) -> 2 :bn", "x = l1: conv(8) -> 2: bn\n"),
    ('input   3x32x32\nuse   "a.net"', 'input 3x32x32\nuse "a.net"\n'),
    # statements start lines; number spellings and strings are kept
    ("a = 1e-3 b = .5 c = 5E+2", "a = 1e-3\nb = .5\nc = 5E+2\n"),
    # breaks: kept before -> and |, after , ( [ and a definition's =; moved there; dropped elsewhere
    ("x = a ->\n  b", "x = a\n    -> b\n"),
    ("x = f(a\n , b)", "x = f(a,\n      b)\n"),
    ("x = conv\n(8)", "x = conv(8)\n"),
    ("x =\nconv(8)", "x =\n    conv(8)\n"),
    ("x\n= conv(8)", "x = conv(8)\n"),
    ("x = [\na, b]", "x = [\n    a, b\n]\n"),
    ("x = [a, b\n]", "x = [a, b]\n"),
    ("x = [\n  a,\n]\n -> relu", "x = [\n    a,\n]\n-> relu\n"),
    ("x = add(a -> b,\n c\n -> d)", "x = add(a -> b,\n        c\n        -> d)\n"),
    # blank lines: groups become one; none at the start, the end, after ( or before )
    ("\n\n# c\n\n\n\na = 1\n\n\n\nb = 2\n\n\n", "# c\n\na = 1\n\nb = 2\n"),
    ("x = [\n\n a,\n\n\n b\n\n]", "x = [\n    a,\n\n    b\n]\n"),
    # comments: end-of-line comments keep a hand-aligned column, else two spaces; own-line ones indent
    ("a = 1      # one\nbb = 22    # two", "a = 1      # one\nbb = 22    # two\n"),
    ("a=1 # one", "a = 1  # one\n"),
    ("x = [a,   # first\n# own\n b]", "x = [a,   # first\n     # own\n     b]\n"),
    ("x=[a, # first\n b]", "x = [a,  # first\n     b]\n"),
    ("x = a ->  # why\n b", "x = a ->  # why\n    b\n"),
    ("#c1\n  #   c2   \nx = a", "#c1\n#   c2\nx = a\n"),
    # train: one line if written so and short enough; else one setting per line, indented 2
    ("train{epochs=3 lr=[(0,0),(4,0.4)]}", "train { epochs = 3 lr = [(0, 0), (4, 0.4)] }\n"),
    ("train{epochs=3\nlr=0.1,}", "train {\n  epochs = 3\n  lr = 0.1,\n}\n"),
    ("train {\n# first\nepochs = 3 # e\n\n\n# c\n}", "train {\n  # first\n  epochs = 3  # e\n\n  # c\n}\n"),
    ("train {}", "train {}\n"),
    ("", ""),
    ("\n\n  \n", ""),
    ("# only a comment", "# only a comment\n"),
    ("a = 1\r\nb = 2 # c\r\n", "a = 1\nb = 2 # c\n"),
]


@pytest.mark.parametrize("text,expected", RULES)
def test_layout_rules(text: str, expected: str):
    assert format_text(text) == expected
    assert format_text(expected) == expected


def test_long_lines_break_at_the_loosest_place_that_fits():
    out = format_text("x = " + " -> ".join(["conv(64, 3, bias=false)"] * 12))
    assert out.splitlines()[1].startswith("    -> conv(64")
    assert all(len(line) <= WIDTH for line in out.splitlines())
    # inside brackets: after a comma (looser than ->), lined up after the bracket
    out = format_text("x = add(" + ", ".join(["conv(8) -> bn -> relu"] * 8) + ")")
    lines = out.splitlines()
    assert lines[0].endswith(",") and lines[1].startswith(" " * len("x = add(") + "conv(8)")
    assert format_text(out) == out
    # a chain of thousands of blocks on one line: every line within the width, linear work
    big = "x = " + " -> ".join(["relu"] * 1500) + "\n"
    out = format_text(big)
    assert all(len(line) <= WIDTH for line in out.splitlines()) and format_text(out) == out


def test_a_line_without_a_place_to_break_stays_long():
    name = "n" * (WIDTH + 10)
    assert format_text(f"{name} = relu") == f"{name} = relu\n"


def test_syntax_errors_are_the_parsers_located_errors():
    with pytest.raises(NetError) as err:
        format_text("x = conv(8\n\ny = relu\n", "f.net")
    assert str(err.value).startswith("f.net:3:1: error: unexpected 'y'")
    with pytest.raises(NetError, match="f.net:1:5"):
        format_text("x = 'a'", "f.net")


def test_the_safety_net_refuses_a_layout_that_changes_tokens(monkeypatch, tmp_path):
    """If the layout ever changed a token, nothing is written and the message says it is netc's bug."""
    real = dsl.fmt.canonical_text
    monkeypatch.setattr(dsl.fmt, "canonical_text", lambda sc, width: real(sc, width).replace("relu", "gelu"))
    f = tmp_path / "a.net"
    f.write_text("x=relu\n")
    res = CliRunner().invoke(command, [str(f)])
    assert res.exit_code == 2 and "internal error" in res.output and "other tokens" in res.output
    assert f.read_text() == "x=relu\n"
    monkeypatch.setattr(dsl.fmt, "canonical_text", lambda sc, width: real(sc, width).replace("# c", "# d"))
    with pytest.raises(FormatterBug, match="other comments"):
        format_text("x=relu # c\n")


# ---------------------------------------------------------------- the command

UGLY = "x=conv(8)->relu\n"
NICE = "x = conv(8) -> relu\n"


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(command, list(args), input=input)


def test_check_lists_files_that_would_change_and_exits_1(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.net").write_text(NICE)
    (tmp_path / "sub" / "b.net").write_text(UGLY)
    (tmp_path / "c.txt").write_text(UGLY)  # not a .net or .md file: not in a folder's list
    res = run("--check", str(tmp_path))
    assert res.exit_code == 1
    assert f"would reformat {tmp_path / 'sub' / 'b.net'}" in res.output
    assert "a.net" not in res.output and "1 file would be reformatted, 1 file already formatted" in res.output
    assert (tmp_path / "sub" / "b.net").read_text() == UGLY  # --check writes nothing
    assert run("--check", str(tmp_path / "a.net")).exit_code == 0


def test_rewrites_in_place_only_what_changes(tmp_path):
    a, b = tmp_path / "a.net", tmp_path / "b.net"
    a.write_text(NICE)
    b.write_text(UGLY)
    b.chmod(0o640)
    before = a.stat().st_mtime_ns, a.stat().st_ino
    res = run(str(a), str(b))
    assert res.exit_code == 0, res.output
    assert f"reformatted {b}" in res.output and "1 file reformatted, 1 file left unchanged" in res.output
    assert b.read_text() == NICE and (b.stat().st_mode & 0o777) == 0o640
    assert (a.stat().st_mtime_ns, a.stat().st_ino) == before
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_a_syntax_error_is_located_exits_2_and_the_other_files_are_still_formatted(tmp_path):
    bad, good = tmp_path / "bad.net", tmp_path / "good.net"
    bad.write_text("x = conv(8\n\ny = relu\n")
    good.write_text(UGLY)
    res = run(str(bad), str(good))
    assert res.exit_code == 2
    assert f"{bad}:3:1: error: unexpected 'y'" in res.output
    assert good.read_text() == NICE and bad.read_text() == "x = conv(8\n\ny = relu\n"


def test_missing_paths_and_folders_without_files_are_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    res = run("--check", str(tmp_path / "empty"), str(tmp_path / "nope.net"))
    assert res.exit_code == 2
    assert "holds no .net or .md files" in res.output and "no such file or folder" in res.output


def test_stdin_to_stdout_and_diff():
    res = run("-", input=UGLY)
    assert res.exit_code == 0 and res.stdout == NICE
    res = run("--check", "-", input=UGLY)
    assert res.exit_code == 1 and res.stdout == ""
    res = run("--diff", "-", input=UGLY)
    assert res.exit_code == 1 and f"-{UGLY}+{NICE}" in res.stdout
    res = run("-", input="x = (\n")
    assert res.exit_code == 2 and "<stdin>:1:6: error: unexpected end of file" in res.stderr


def test_the_real_command_line(tmp_path):
    """`netc fmt` through the installed entry point: exit codes as documented."""
    f = tmp_path / "a.net"
    f.write_text(UGLY)
    netc = [sys.executable, "-m", "dsl.cli", "fmt"]
    assert subprocess.run([*netc, "--check", str(f)], capture_output=True).returncode == 1
    done = subprocess.run([*netc, str(f)], capture_output=True, text=True)
    assert done.returncode == 0 and f.read_text() == NICE and "1 file reformatted" in done.stdout
    assert subprocess.run([*netc, "--check", str(f)], capture_output=True).returncode == 0


MARKDOWN = """# Title

Text with `code` and a block that is not .net:

```
x=conv(8)->relu
```

- A list item with a block:

   ```net
   x=conv(8)->relu   # a comment
   ```

~~~~
```net
not .net: inside another fence
```
~~~~
"""


def test_markdown_net_blocks_are_formatted_in_place(tmp_path):
    md = tmp_path / "doc.md"
    md.write_text(MARKDOWN)
    assert run("--check", str(md)).exit_code == 1
    assert run(str(md)).exit_code == 0
    expected = MARKDOWN.replace("   x=conv(8)->relu   # a comment", "   x = conv(8) -> relu  # a comment")
    assert md.read_text() == expected
    assert run("--check", str(tmp_path)).exit_code == 0


def test_markdown_errors_point_into_the_markdown_file(tmp_path):
    md = tmp_path / "doc.md"
    md.write_text("Intro\n\n  ```net\n  x = conv(8)\n  y = (relu\n  ```\n")
    res = run("--check", str(md))
    assert res.exit_code == 2
    assert f"{md}:5:12: error: unexpected end of file" in res.output
    assert "   5 |   y = (relu" in res.output


def test_folders_are_walked_in_order_skipping_hidden_ones_and_links_stay_links(tmp_path):
    for rel in ["b/z.net", "b/a.net", "a.md", ".venv/x.net", "b/.hidden.net"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(UGLY if rel.endswith(".net") else "no net blocks\n")
    (tmp_path / "link.net").symlink_to(tmp_path / "b" / "z.net")
    res = run("--check", str(tmp_path), str(tmp_path / "b" / "a.net"))  # a.net twice: checked once
    listed = [line.split()[-1] for line in res.output.splitlines() if line.startswith("would reformat")]
    assert listed == [str(tmp_path / "b" / "a.net"), str(tmp_path / "b" / "z.net")]
    assert "2 files would be reformatted, 1 file already formatted" in res.output
    assert run(str(tmp_path / "link.net")).exit_code == 0
    assert (tmp_path / "link.net").is_symlink() and (tmp_path / "b" / "z.net").read_text() == NICE
