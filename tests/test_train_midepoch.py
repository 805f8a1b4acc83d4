"""Ctrl-C inside an epoch: the run is saved where it is and `--resume` continues from that step
to exactly the weights and metrics of a run never stopped (dropout and augmentation included);
a periodic save inside long epochs; a resume with nothing to resume says so (issue: first hour)."""

from __future__ import annotations

import csv
import os
import signal

import pytest
import torch
from train_fixtures import write_npz

from dsl.cli import main
from dsl.train import checkpoint
from dsl.train import report as report_mod

# dropout draws from the RNG at every step; cutout, crops and flips at every epoch start
NET = """\
input 3x16x16
conv_bn(16) -> dropout(0.3) -> maxpool(2) -> conv_bn(32) -> gmp -> linear(4)
train {
  epochs = 3
  batch_size = 32
  lr = [(0, 0), (1, 0.2), (3, 0)]
  pad = 2
  cutout = 4
}
"""


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    (d / "drop.net").write_text(NET)
    return d / "drop.net", write_npz(d / "d.npz", 256, 64)  # 8 steps an epoch


@pytest.fixture(scope="module")
def reference(inputs, tmp_path_factory):
    net, data = inputs
    run = tmp_path_factory.mktemp("ref") / "run"
    assert main(["train", str(net), "--data", str(data), "--out", str(run), "--runs", "2", "--quiet"]) == 0
    return run


def rows(run):
    with open(run / "metrics.csv") as f:
        return list(csv.DictReader(f))


def weights(run, i=0):
    return torch.load(run / f"weights-run{i}.pt", weights_only=True)


class CtrlC:
    """Presses Ctrl-C (a real SIGINT to this process) as training step `at` (counted over the
    whole session, from 1) finishes; `twice` presses it again at once."""

    def __init__(self, at: int, twice: bool = False):
        self.at, self.twice, self.n = at, twice, 0
        self.real = report_mod.Reporter.step

    def __enter__(self):
        me = self

        def step(reporter):
            me.n += 1
            if me.n == me.at:
                os.kill(os.getpid(), signal.SIGINT)
                if me.twice:
                    os.kill(os.getpid(), signal.SIGINT)

        report_mod.Reporter.step = step
        return self

    def __exit__(self, *exc):
        report_mod.Reporter.step = self.real


@pytest.mark.parametrize("at", [3, 11, 21])  # inside epoch 1, inside epoch 2, inside run 1's epoch 3 (8+8+5)
def test_ctrl_c_inside_an_epoch_saves_and_resume_gives_the_same_run(tmp_path, capsys, inputs, reference, at):
    net, data = inputs
    run = tmp_path / "run"
    with CtrlC(at):
        code = main(["train", str(net), "--data", str(data), "--out", str(run), "--runs", "2", "--quiet"])
    assert code == 130
    err = capsys.readouterr().err
    assert "stopping after this step" in err
    snap = checkpoint.load(run / "checkpoint.pt")["snapshot"]
    assert (snap["epoch"], snap["step"]) == divmod(at, 8)
    assert main(["train", "--resume", str(run)]) == 0
    out = capsys.readouterr().out
    assert f"after step {at % 8} of 8" in out
    assert [{k: r[k] for k in r if k not in ("epoch_s", "total_s", "images_s")} for r in rows(run)] == [
        {k: r[k] for k in r if k not in ("epoch_s", "total_s", "images_s")} for r in rows(reference)
    ]
    for i in (0, 1):
        mine, ref = weights(run, i), weights(reference, i)
        assert all(torch.equal(mine[k], ref[k]) for k in ref), i


def test_a_second_ctrl_c_stops_at_once_and_the_last_epoch_resumes(tmp_path, capsys, inputs, reference):
    net, data = inputs
    run = tmp_path / "run"
    with CtrlC(12, twice=True):
        code = main(["train", str(net), "--data", str(data), "--out", str(run), "--quiet"])
    assert code == 130
    snap = checkpoint.load(run / "checkpoint.pt")["snapshot"]
    assert (snap["epoch"], snap["step"]) == (1, 0)  # the epoch-end checkpoint: nothing half-saved
    assert main(["train", "--resume", str(run)]) == 0
    mine, ref = weights(run), weights(reference)
    assert all(torch.equal(mine[k], ref[k]) for k in ref)


def test_a_long_epoch_is_saved_every_few_minutes(tmp_path, capsys, inputs, monkeypatch):
    import types

    from dsl.train import engine

    net, data = inputs
    run = tmp_path / "run"
    saved = []
    real = checkpoint.save

    def spy(obj, path):
        saved.append((obj["snapshot"]["epoch"], obj["snapshot"]["step"]))
        real(obj, path)

    clock = {"t": 0.0}

    def perf_counter():  # a slow machine: every reading of the clock is a minute later
        clock["t"] += 60.0
        return clock["t"]

    monkeypatch.setattr(checkpoint, "save", spy)
    monkeypatch.setattr(engine, "time", types.SimpleNamespace(perf_counter=perf_counter))
    assert main(["train", str(net), "--data", str(data), "--out", str(run), "--quiet", "--save-every", "1"]) == 0
    inside = sorted(s for s in saved if s[1] > 0)
    assert inside == [(e, k) for e in range(3) for k in range(1, 8)]  # after every step but an epoch's last
    assert main(["train", str(net), "--data", str(data), "--out", str(tmp_path / "r2"), "--quiet"]) == 0
    assert all(torch.equal(v, weights(tmp_path / "r2")[k]) for k, v in weights(run).items())  # saving changes nothing


def test_resume_with_nothing_to_resume_says_so(tmp_path, capsys, inputs):
    net, data = inputs
    run = tmp_path / "run"
    with CtrlC(1, twice=True):  # stopped at once inside the first epoch: no checkpoint yet
        assert main(["train", str(net), "--data", str(data), "--out", str(run), "--quiet"]) == 130
    assert not (run / "checkpoint.pt").exists()
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    assert "nothing to resume, the run starts from its beginning" in capsys.readouterr().out


def test_a_complete_run_keeps_one_checkpoint(reference):
    assert (reference / "checkpoint.pt").exists() and not (reference / "checkpoint.prev.pt").exists()
