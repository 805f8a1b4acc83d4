"""A killed `netc train` (SIGKILL, or Ctrl-C) resumes from its last epoch to a complete record."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from train_fixtures import REPO, write_net, write_npz

from dsl.cli import main

EPOCHS = 8


def _rows(run):
    p = run / "metrics.csv"
    if not p.exists():
        return []
    with open(p) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    return write_net(d / "tiny.net", epochs=EPOCHS), write_npz(d / "d.npz", 512, 128)


@pytest.fixture(scope="module")
def reference(inputs, tmp_path_factory):
    """The uninterrupted run, trained once for every parametrisation."""
    net, data = inputs
    run = tmp_path_factory.mktemp("ref") / "run"
    assert main(["train", str(net), "--data", str(data), "--out", str(run), "--runs", "2", "--quiet"]) == 0
    return _rows(run)


def _start(inputs, run):
    net, data = inputs
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dsl.cli", "train", str(net), "--data", str(data), "--out", str(run), "--runs", "2"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, net, data


def _wait_for_epochs(proc, run, n, timeout=120):
    t = time.time()
    while time.time() - t < timeout:
        if len(_rows(run)) >= n and (run / "checkpoint.pt").exists():
            return
        if proc.poll() is not None:
            pytest.fail(f"training ended early: {proc.communicate()}")
        time.sleep(0.01)
    pytest.fail("training made no progress")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_run_resumes_to_a_complete_record(tmp_path, capsys, sig, inputs, reference):
    run = tmp_path / "run"
    proc, net, data = _start(inputs, run)
    # stopped as soon as the first checkpoint is on disk: 15 of the 16 epochs are still to run, so even
    # on a loaded machine the signal arrives long before the run could finish
    _wait_for_epochs(proc, run, 1)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    done_before = len(_rows(run))
    assert done_before < 2 * EPOCHS, "the run finished before it could be killed"
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "--resume" in out + err and "Traceback" not in err
    else:
        assert proc.returncode == -signal.SIGKILL
    assert not (run / "result.json").exists() or not json.loads((run / "result.json").read_text())["complete"]

    code = main(["train", "--resume", str(run)])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "resuming at epoch" in out.out
    rows = _rows(run)
    assert [(r["run"], int(r["epoch"])) for r in rows] == [(str(r), e) for r in range(2) for e in range(1, EPOCHS + 1)]
    res = json.loads((run / "result.json").read_text())
    assert res["complete"] and [r["epochs"] for r in res["runs"]] == [EPOCHS, EPOCHS]

    # resuming replays the same random draws: the record equals an uninterrupted run's
    assert len(rows) == len(reference)
    for a, b in zip(rows, reference):
        assert float(a["train_loss"]) == pytest.approx(float(b["train_loss"]), rel=1e-4)
        assert float(a["test_acc"]) == pytest.approx(float(b["test_acc"]), abs=0.01)


def test_resume_refuses_changed_settings(tmp_path, capsys):
    data = write_npz(tmp_path / "d.npz", 64, 32)
    net = write_net(tmp_path / "tiny.net", epochs=1)
    run = tmp_path / "run"
    assert main(["train", str(net), "--data", str(data), "--out", str(run), "--quiet"]) == 0
    code = main(["train", "--resume", str(run), "--epochs", "5"])
    assert code == 2 and "--epochs" in capsys.readouterr().err
    assert main(["train", "--resume", str(run)]) == 0
    assert "already complete" in capsys.readouterr().out
