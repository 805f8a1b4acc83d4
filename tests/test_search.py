"""`netc search`: the grid, results.csv, resume after a real SIGKILL, workers, user errors.

Tiny generated data (16x16 images in the .npz layout `dsl.data` reads) and a tiny search space
written here; everything runs on the CPU in a few seconds per test.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dsl.search import grid
from dsl.search.results import FIELDS, ResultsFile, SearchLock, read_rows

TINY_NET = """\
# a 4-network search space: the backbone, L1, L2, L1+L2 residual blocks
input 3x16x16
prep = conv_bn(8)
layer1 "L1" = conv_bn(8) -> maxpool(2)
layer2 "L2" = conv_bn(16) -> maxpool(2)
net = prep -> layer1(res?) -> layer2(res?) -> gmp -> linear(10, bias=false)*0.125
train {
  epochs = 2
  batch_size = 32
  lr = [(0, 0), (1, 0.4), (2, 0)]
  pad = 2
  cutout = 4
}
"""
VARIANTS = ["Backbone", "Residual:L1", "Residual:L2", "Residual:L1+L2"]


def make_npz(path: Path, n_train: int = 64, n_test: int = 32, size: int = 16, seed: int = 0) -> Path:
    """An easy 10-class task: each class brightens one colour channel by a class-dependent amount."""
    rng = np.random.default_rng(seed)

    def split(n):
        y = rng.integers(0, 10, n)
        x = rng.integers(0, 60, (n, size, size, 3))
        for i in range(n):
            x[i, :, :, y[i] % 3] += 40 * (y[i] // 3 + 1)
        return x.astype(np.uint8), y.astype(np.int64)

    tx, ty = split(n_train)
    vx, vy = split(n_test)
    np.savez(path, train_x=tx, train_y=ty, test_x=vx, test_y=vy)
    return path


@pytest.fixture(autouse=True)
def one_torch_thread(monkeypatch):
    """Tiny nets train fastest on one thread, and far faster so on a busy machine (no spinning)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # for the subprocesses
    yield
    torch.set_num_threads(n)


@pytest.fixture
def space(tmp_path):
    net = tmp_path / "tiny_search.net"
    net.write_text(TINY_NET)
    data = make_npz(tmp_path / "tiny.npz")
    return net, data, tmp_path / "out"


def keys(rows):
    return [(r["variant"], r["epochs"], r["seed"]) for r in rows]


# ----------------------------------------------------------------------------- grid
def test_grid_expands_files_epochs_seeds(space):
    net, _, _ = space
    nets = grid.networks([net])
    assert [n.name for n in nets] == VARIANTS
    assert len({n.net_hash for n in nets}) == 4
    specs = grid.plan(nets, [2, 3], runs=2, seed=5, data_id="d")
    assert len(specs) == 16
    assert [(s.name, s.epochs, s.seed) for s in specs[:4]] == [
        ("Backbone", 2, 5),
        ("Backbone", 2, 6),
        ("Backbone", 3, 5),
        ("Backbone", 3, 6),
    ]
    s3 = next(s for s in specs if s.epochs == 3)
    assert s3.settings.epochs == 3 and s3.settings.lr == ((0, 0), (2, 0.4), (3, 0))
    assert len({s.key for s in specs}) == 16
    # the key changes with the data and the precision, not with the reporting target
    other = grid.plan(nets, [2], runs=1, data_id="other")[0]
    assert other.config_hash != specs[0].config_hash
    s = specs[0].settings
    assert grid.config_hash("n", s.with_overrides(target=0.5), "d", "auto") == grid.config_hash(
        "n", s.with_overrides(target=0.9), "d", "auto"
    )
    assert grid.config_hash("n", s.with_overrides(cutout=2), "d", "auto") != grid.config_hash("n", s, "d", "auto")


def test_equal_networks_share_a_resume_key(tmp_path):
    """Regression: `conv(8) -> conv` and `conv(8) -> conv(8)` build the same module but had
    different fingerprints (auto left in the graph), so a resumed search retrained them."""
    a = tmp_path / "a.net"
    b = tmp_path / "b.net"
    a.write_text("input 3x8x8\nconv(8) -> conv -> gmp -> linear(2)")
    b.write_text("input 3x8x8\nconv(8, padding=1) -> conv(8, k=3) -> gmp -> linear(2, bias=true)")
    na, nb = grid.networks([a])[0], grid.networks([b])[0]
    assert na.net_hash == nb.net_hash
    assert grid.plan([na], None, 1)[0].key == grid.plan([nb], None, 1)[0].key


def test_net_hash_sees_definitions_not_only_the_network_line(root):
    a = grid.networks([root / "nets" / "backbone_6_bn_init.net"])[0]
    b = grid.networks([root / "nets" / "double_width_60.net"])[0]
    assert a.canonical == b.canonical  # the same network line ...
    assert a.net_hash != b.net_hash  # ... but different layers


def test_same_network_in_two_search_spaces_runs_once(root):
    nets = grid.networks([root / "nets" / "search_residual.net", root / "nets" / "search_extra.net"])
    names = [n.name for n in nets]
    assert len(nets) == 15 and names.count("Backbone") == 1
    assert "Residual:L1+L3" in names and "Extra:L1+L2+L3" in names


def test_parse_epochs():
    assert grid.parse_epochs("20,22") == [20, 22]
    assert grid.parse_epochs(" 20 ") == [20]
    assert grid.parse_epochs(None) is None
    for bad in ("20,x", "0", "-3", "20,,22", "1.5"):
        with pytest.raises(grid.NetError):
            grid.parse_epochs(bad)


# ----------------------------------------------------------------------------- results.csv
def test_results_file_tolerates_a_cut_off_line_and_keeps_it(tmp_path):
    rf = ResultsFile(tmp_path)
    row = dict(variant="A", file="f", net_hash="n", config_hash="c", epochs=2, seed=0, test_acc=0.5, seconds=1.0)
    rf.append(row)
    rf.append({**row, "seed": 1})
    text = (tmp_path / "results.csv").read_text()
    (tmp_path / "results.csv").write_text(text + "A,f,n,c,2,2,0.7")  # a foreign writer cut off mid-line
    (tmp_path / ".results.csv.x.tmp").write_text("junk")  # and a killed writer's temp file
    rows = read_rows(tmp_path / "results.csv")
    assert [r["seed"] for r in rows] == [0, 1]
    with SearchLock(tmp_path):  # the lock holder clears stale temps
        rf = ResultsFile(tmp_path)
        assert rf.done_keys() == {("c", 2, 0), ("c", 2, 1)}
        rf.append({**row, "seed": 2})
    lines = (tmp_path / "results.csv").read_text().splitlines()
    assert lines[0] == ",".join(FIELDS) and len(lines) == 5 and lines[-1] == "A,f,n,c,2,2,0.7"  # kept, last
    assert [r["seed"] for r in read_rows(tmp_path / "results.csv")] == [0, 1, 2]
    assert not list(tmp_path.glob(".results.csv.*.tmp"))


# ----------------------------------------------------------------------------- the CLI
def test_full_grid_then_rerun_skips_everything(space, netc):
    net, data, out = space
    r = netc("search", net, "--data", data, "--epochs", "2,3", "--runs", "2", "--out", out)
    assert r.code == 0, r
    assert "16 runs; 0 already done, 16 to go" in r.out
    assert "[16/16]" in r.out and "ETA" in r.out
    rows = read_rows(out / "results.csv")
    assert sorted(keys(rows)) == sorted((v, e, s) for v in VARIANTS for e in (2, 3) for s in (0, 1))
    for row in rows:
        assert 0.0 <= row["test_acc"] <= 1.0 and row["seconds"] > 0
        assert row["device"] == "cpu" and row["precision"] == "fp32"
        assert len(row["net_hash"]) == 16 and row["params"] > 0
    assert len({r["net_hash"] for r in rows}) == 4
    assert len(list((out / "runs").glob("*.json"))) == 16
    before = (out / "results.csv").read_bytes()
    r = netc("search", net, "--data", data, "--epochs", "2,3", "--runs", "2", "--out", out)
    assert r.code == 0 and "16 already done, 0 to go" in r.out
    assert (out / "results.csv").read_bytes() == before
    # one more seed: only the new runs are trained
    r = netc("search", net, "--data", data, "--epochs", "2", "--runs", "3", "--out", out, "--variant", "backbone")
    assert r.code == 0 and "3 runs; 2 already done, 1 to go" in r.out, r
    assert len(read_rows(out / "results.csv")) == 17
    # the dry run lists the grid
    r = netc("search", net, "--data", data, "--epochs", "2,3", "--runs", "2", "--out", out, "--dry-run")
    assert r.code == 0 and r.out.count("  done  ") == 16


def test_search_of_a_plain_file_prints_the_recap(space, netc, tmp_path):
    net, data, out = space
    plain = tmp_path / "plain.net"
    plain.write_text(TINY_NET.replace("layer1(res?) -> layer2(res?)", "layer1 -> layer2"))
    r = netc("search", plain, "--data", data, "--runs", "2", "--out", out)
    assert r.code == 0, r
    rows = read_rows(out / "results.csv")
    assert keys(rows) == [("plain", 2, 0), ("plain", 2, 1)]
    acc = [r["test_acc"] for r in rows]
    line = next(ln for ln in r.out.splitlines() if ln.startswith("plain "))
    assert f"{sum(acc) / 2:.2%}" in line and "0/2 ≥ 94.00%" in line


def kill_after_rows(args: list[str], results, rows: int, env: dict | None = None) -> subprocess.Popen:
    """Run `python -m dsl.cli ARGS` and SIGKILL it once `results` holds `rows` rows (it must still be running)."""
    proc = subprocess.Popen([sys.executable, "-m", "dsl.cli", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True, env=env)  # fmt: skip
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if results.exists() and len(read_rows(results)) >= rows:
                break
            time.sleep(0.01)
        assert proc.poll() is None, f"the search ended before it could be killed: {proc.stderr.read()!r}"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    return proc


def test_killed_search_resumes_without_redoing_runs(space, netc):
    """SIGKILL the search process mid-way; the rerun finishes the grid, keeps the finished rows."""
    net, _, out = space
    data = make_npz(net.parent / "bigger.npz", n_train=192, n_test=32)
    args = ["search", str(net), "--data", str(data), "--epochs", "3", "--runs", "3", "--out", str(out)]
    results = out / "results.csv"
    proc = kill_after_rows(args, results, 3)
    assert proc.returncode == -signal.SIGKILL
    text = results.read_text()
    assert text.endswith("\n")
    with open(results, newline="") as f:
        raw = list(csv.reader(f))
    assert raw[0] == FIELDS and all(len(line) == len(FIELDS) for line in raw)
    done_before = read_rows(results)
    assert 3 <= len(done_before) < 12

    r = netc("search", net, "--data", data, "--epochs", "3", "--runs", "3", "--out", out)
    assert r.code == 0, r
    assert f"{len(done_before)} already done, {12 - len(done_before)} to go" in r.out
    rows = read_rows(results)
    assert len(rows) == 12 and len(set(keys(rows))) == 12
    assert rows[: len(done_before)] == done_before  # untouched, not retrained
    assert r.out.count(" epochs seed ") == 12 - len(done_before)


def test_workers_share_the_grid(space, netc):
    net, data, out = space
    r = netc("search", net, "--data", data, "--runs", "1", "--out", out, "--workers", "2")
    assert r.code == 0, r
    assert "2 worker processes on cpu" in r.out
    rows = read_rows(out / "results.csv")
    assert sorted(keys(rows)) == sorted((v, 2, 0) for v in VARIANTS)
    assert all(r["worker"].endswith("/cpu") for r in rows)


# ----------------------------------------------------------------------------- user errors
def test_user_errors_are_one_paragraph(space, netc, monkeypatch):
    net, data, out = space
    cases = [
        (("--data", net.parent / "missing.npz"), "does not exist"),
        (("--data", data, "--epochs", "20,x"), "--epochs must be a comma-separated list"),
        (("--data", data, "--variant", "Residual:L3"), "no network named 'Residual:L3'"),
        (("--data", data, "--workers", "2", "--ray", "local"), "do not mix"),
        (("--data", data, "--runs", "0"), "0 is not in the range 1<=x<=10000"),
    ]
    for args, message in cases:
        r = netc("search", net, "--out", out, *args)
        assert r.code == 2, (args, r)
        assert message in r.err, (args, r.err)
        assert "Traceback" not in r.err
    r = netc("search", net.parent / "nope.net", "--data", data, "--out", out)
    assert r.code == 2 and "Traceback" not in r.err
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    r = netc("search", net, "--data", data, "--out", out, "--ray", "local")
    assert r.code == 2 and "pip install 'netc[ray]'" in r.err, r


def test_wrong_input_shape_fails_the_runs_cleanly(space, netc, tmp_path):
    net, _, out = space
    data = make_npz(tmp_path / "big.npz", n_train=32, n_test=16, size=8)
    r = netc("search", net, "--data", data, "--out", out, "--variant", "Backbone")
    assert r.code == 2 and "the images are 3x8x8" in r.err and "Traceback" not in r.err, r


def test_second_search_on_the_same_folder_is_refused(space, netc):
    from dsl.search.results import FolderLock

    net, data, out = space
    out.mkdir()
    with FolderLock(out):
        r = netc("search", net, "--data", data, "--out", out)
    assert r.code == 2 and "netc search is already using" in r.err
