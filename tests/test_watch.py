"""`netc watch`: a real process redraws on every change of the file and of the files it uses.

Every wait polls with a generous deadline (a loaded machine is slow, never wrong)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dsl.inspect.watch import used_files

DEADLINE = 60.0  # seconds; only reached when something is broken

pytestmark = pytest.mark.skipif(shutil.which("dot") is None, reason="netc watch draws with Graphviz `dot`")


class Proc:
    """A running `netc watch`, its output lines collected by reader threads."""

    def __init__(self, args: list[str], cwd: Path):
        self.p = subprocess.Popen(
            [sys.executable, "-m", "dsl.cli", "watch", *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, lines in ((self.p.stdout, self.out), (self.p.stderr, self.err)):
            threading.Thread(target=lambda s=stream, ls=lines: ls.extend(iter(s.readline, "")), daemon=True).start()

    def wait_for(self, what, condition) -> None:
        end = time.monotonic() + DEADLINE
        while not condition():
            if self.p.poll() is not None or time.monotonic() > end:
                raise AssertionError(f"waiting for {what}: exit {self.p.poll()}\nout: {self.out}\nerr: {self.err}")
            time.sleep(0.02)

    def drawn(self) -> int:
        return sum(" wrote " in line for line in self.out)

    def stop(self) -> int:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
            try:
                self.p.wait(DEADLINE)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode


def save(path: Path, text: str) -> None:
    """Save as editors do: a new file renamed over the old one."""
    tmp = path.with_name(path.name + ".tmp~")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def test_watch_redraws_on_changes_reports_errors_and_follows_use_lines(tmp_path):
    (tmp_path / "lib").mkdir()
    lib = tmp_path / "lib" / "blocks.net"
    lib.write_text("blk = conv(4)\n", encoding="utf-8")
    main = tmp_path / "main.net"
    main.write_text('use "lib/blocks.net"\ninput 3x8x8\nblk -> relu\n', encoding="utf-8")
    svg = tmp_path / "out" / "main.svg"
    proc = Proc(["main.net", "-o", "out/main.svg", "--level", "ops"], tmp_path)
    try:
        proc.wait_for("the first drawing", lambda: proc.drawn() == 1 and any("watching" in x for x in proc.out))
        first = svg.read_text(encoding="utf-8")
        assert first.lstrip().startswith("<?xml") and "relu" in first and "conv" in first
        assert any("lib/blocks.net" in x for x in proc.out)  # the used file is watched

        # an edit: redrawn
        main.write_text('use "lib/blocks.net"\ninput 3x8x8\nblk -> relu -> gap\n', encoding="utf-8")
        proc.wait_for("a redraw after an edit", lambda: proc.drawn() == 2)
        second = svg.read_text(encoding="utf-8")
        assert second != first and "gap" in second

        # a mistake: reported where it is, the process lives on, the drawing stays
        save(main, 'use "lib/blocks.net"\ninput 3x8x8\nblk -> relu -> nosuch\n')
        proc.wait_for("the error", lambda: any("unknown name 'nosuch'" in x for x in proc.err))
        assert any("main.net:3:16: error" in x for x in proc.err)
        proc.wait_for("the kept-drawing line", lambda: any("not drawn" in x for x in proc.out))
        assert proc.p.poll() is None and svg.read_text(encoding="utf-8") == second
        assert not any("Traceback" in x for x in proc.err)

        # the fix: redrawn
        save(main, 'use "lib/blocks.net"\ninput 3x8x8\nblk -> gelu\n')
        proc.wait_for("a redraw after the fix", lambda: proc.drawn() == 3)
        third = svg.read_text(encoding="utf-8")
        assert "gelu" in third and "relu" not in third

        # a used file's change: redrawn
        lib.write_text("blk = conv(4) -> bn\n", encoding="utf-8")
        proc.wait_for("a redraw after the used file changed", lambda: proc.drawn() == 4)
        assert svg.read_text(encoding="utf-8") != third and ">bn<" in svg.read_text(encoding="utf-8")

        # a new `use` line (in another folder): its file is watched from then on
        (tmp_path / "more").mkdir()
        extra = tmp_path / "more" / "extra.net"
        extra.write_text("tail = maxpool(2)\n", encoding="utf-8")
        save(main, 'use "lib/blocks.net"\nuse "more/extra.net"\ninput 3x8x8\nblk -> gelu -> tail\n')
        proc.wait_for("a redraw with the new use line", lambda: proc.drawn() == 5)
        assert "maxpool" in svg.read_text(encoding="utf-8")
        extra.write_text("tail = avgpool(2)\n", encoding="utf-8")
        proc.wait_for("a redraw after the new used file changed", lambda: proc.drawn() == 6)
        assert "avgpool" in svg.read_text(encoding="utf-8")
    finally:
        code = proc.stop()
    assert code == 130  # Ctrl-C, as every netc command reports it
    assert not any("Traceback" in x for x in proc.err)


def test_watch_refuses_what_it_cannot_do(netc, write, tmp_path):
    net = write("a.net", "relu\n")
    r = netc("watch", str(tmp_path / "missing.net"))
    assert r.code == 2 and "no such file" in r.err
    r = netc("watch", str(net), "-o", "-")
    assert r.code == 2 and "writes a file" in r.err
    r = netc("watch", str(net), "-o", str(net), "--format", "svg")
    assert r.code == 2 and "would overwrite a file the network is read from" in r.err
    assert net.read_text(encoding="utf-8") == "relu\n"
    r = netc("watch", str(net), "-o", str(tmp_path / "a.svg"), "--level", "blocks", "--depth", "0")
    assert r.code == 2 and "--depth 1" in r.err


def test_used_files_follows_use_lines_through_broken_and_missing_files(write, tmp_path):
    a = write("a.net", 'use "sub/b.net"\nuse "gone.net"\nrelu\n')
    write("sub/b.net", 'use "../c.net"\nuse "b.net"\nuse "d.net"\n')  # itself: no second entry
    write("c.net", 'use "a.net"\nx = relu\n')  # a cycle back to a.net
    write("sub/d.net", 'use "never.net"\nblk = (\n')  # a syntax error: listed, not followed
    files = [os.path.normpath(os.path.relpath(f, tmp_path)) for f in used_files(a)]
    assert files == ["a.net", os.path.join("sub", "b.net"), "gone.net", "c.net", os.path.join("sub", "d.net")]


def test_used_files_stops_at_the_import_limit(write):
    first = write("f0.net", 'use "f1.net"\n')
    for i in range(1, 400):
        write(f"f{i}.net", f'use "f{i + 1}.net"\n')
    assert len(used_files(first)) == 257
