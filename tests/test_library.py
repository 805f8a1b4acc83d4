"""A file of definitions only (a library, read by others through `use`): `netc check` checks it on
its own, for what can be told without an input."""

from __future__ import annotations

from dsl.cli import main


def test_a_library_checks_on_its_own_and_is_usable(tmp_path, capsys):
    lib = tmp_path / "blocks.net"
    lib.write_text("blk(c, w=c*2) = conv(c) -> bn -> conv(w)\nstage(c, n=2) = blk(c)^n -> maxpool(2)\nbase = 16\n")
    assert main(["check", str(lib)]) == 0
    assert "ok, a library of 3 definitions: blk, stage, base" in capsys.readouterr().out
    net = tmp_path / "net.net"
    net.write_text('use "blocks.net"\ninput 3x16x16\nstage(base) -> stage(base * 2, n=1) -> gmp -> linear(10)\n')
    assert main(["check", str(net)]) == 0


def test_a_librarys_mistakes_are_located_and_exit_2(tmp_path, capsys):
    lib = tmp_path / "bad.net"
    lib.write_text("blk(c) = conv(c) -> bnn -> relu\nw = 16 // 0\nstage(w=c*2, c=4) = blk(w)\nk = in_channels // 2\n")
    assert main(["check", str(lib)]) == 2
    err = capsys.readouterr().err
    assert f"{lib}:1:21: error: unknown name 'bnn' in 'blk'" in err and "did you mean 'bn'?" in err
    assert f"{lib}:2:5: error: division by zero" in err
    assert f"{lib}:3:9: error: the default of 'w' uses 'c', a parameter declared after it" in err
    assert "in_channels" not in err  # known where the value is used, not in the library


def test_a_file_with_nothing_in_it_is_still_refused(tmp_path, capsys):
    f = tmp_path / "empty.net"
    f.write_text("# nothing yet\n")
    assert main(["check", str(f)]) == 2
    assert "describes no network and defines nothing" in capsys.readouterr().err
