"""Fault injection for `netc train`: a resumed run is always the same run, and nothing finished is lost.

Each test interrupts a real training run (Ctrl-C after some epochs, through the real CLI), then
breaks something (an import, the settings, the data, a checkpoint, config.json, the disk) and
resumes. A refusal is exit 2 with a message saying what changed; an accepted resume ends with
exactly the record of an uninterrupted run (same seeds, same draws).
"""

from __future__ import annotations

import csv
import errno
import json
import os
import shutil
from pathlib import Path

import pytest
from train_fixtures import ctrl_c_at_epoch, write_npz

from dsl.cli import main
from dsl.train.rundir import RunDir

EPOCHS = 3
NET = """\
input 3x16x16
use "lib.net"
conv_bn(8) -> blk -> maxpool(2) -> conv_bn(16) -> gmp -> linear(4)
train {
  epochs = 3
  batch_size = 32
  eval_batch_size = 64
  lr = [(0, 0), (1, 0.2), (3, 0)]
  pad = 2
  cutout = 4
}
"""
LIB = "blk = relu\n"


def metrics(run: Path) -> list[dict[str, str]]:
    with open(run / "metrics.csv") as f:
        return list(csv.DictReader(f))


def losses(run: Path) -> list[tuple[str, str, str]]:
    """What must not change: (run, epoch, train loss) of every epoch."""
    return [(r["run"], r["epoch"], r["train_loss"]) for r in metrics(run)]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    (d / "lib.net").write_text(LIB)
    (d / "net.net").write_text(NET)
    write_npz(d / "d.npz", 128, 64)
    return d


@pytest.fixture(scope="module")
def reference(inputs, tmp_path_factory):
    """The uninterrupted run every resumed run must reproduce (trained once for the module)."""
    run = tmp_path_factory.mktemp("ref") / "run"
    assert (
        main(
            [
                "train",
                str(inputs / "net.net"),
                "--data",
                str(inputs / "d.npz"),
                "--out",
                str(run),
                "--runs",
                "2",
                "--quiet",
            ]
        )
        == 0
    )
    return losses(run)


@pytest.fixture
def case(inputs, tmp_path):
    """A private copy of the inputs (tests edit them)."""
    for name in ("lib.net", "net.net", "d.npz"):
        shutil.copy(inputs / name, tmp_path / name)
    return tmp_path


def interrupted(case: Path, after: int, capsys) -> Path:
    """A run (2 seeds x 3 epochs) stopped by Ctrl-C as epoch `after + 1` begins."""
    run = case / "run"
    with ctrl_c_at_epoch(after):
        code = main(["train", str(case / "net.net"), "--data", str(case / "d.npz"), "--out", str(run), "--runs", "2"])
    out = capsys.readouterr()
    assert code == 130 and "--resume" in out.out, out
    assert len(metrics(run)) == after
    return run


def resume(run: Path, capsys, *extra: str):
    code = main(["train", "--resume", str(run), *extra])
    return code, capsys.readouterr()


def test_resume_after_ctrl_c_gives_the_uninterrupted_record(case, reference, capsys):
    run = interrupted(case, 4, capsys)
    code, out = resume(run, capsys)
    assert code == 0, out.err
    assert losses(run) == reference
    assert json.loads((run / "result.json").read_text())["complete"]


def test_a_changed_import_is_refused_and_says_what_changed(case, reference, capsys):
    run = interrupted(case, 2, capsys)
    before = (run / "metrics.csv").read_bytes()
    (case / "lib.net").write_text("blk = dropout(0.9)\n")
    code, out = resume(run, capsys)
    assert code == 2 and "the network changed since this run started" in out.err
    assert "lib.net changed: line 1 was 'blk = relu', now 'blk = dropout(0.9)'" in out.err
    assert "Traceback" not in out.err and (run / "metrics.csv").read_bytes() == before
    # a change that leaves the network as it was (a comment) is fine, and the run completes as if never stopped
    (case / "lib.net").write_text("# the block after the stem\nblk = relu\n")
    code, out = resume(run, capsys)
    assert code == 0, out.err
    assert losses(run) == reference


def test_changed_settings_are_refused(case, capsys):
    run = interrupted(case, 2, capsys)
    (case / "net.net").write_text(NET.replace("cutout = 4", "cutout = 2"))
    code, out = resume(run, capsys)
    assert code == 2 and "the training settings changed" in out.err and "cutout: 4 -> 2" in out.err


def test_changed_data_is_refused(case, capsys):
    run = interrupted(case, 2, capsys)
    write_npz(case / "d.npz", 128, 64, size=16)  # same sizes ...
    import numpy as np

    z = dict(np.load(case / "d.npz"))
    z["train_x"] = 255 - z["train_x"]  # ... other pixels
    np.savez(case / "d.npz", **z)
    code, out = resume(run, capsys)
    assert code == 2 and "the data differs from the data this run trained on" in out.err


def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_one(case, reference, capsys):
    run = interrupted(case, 4, capsys)
    ck = run / "checkpoint.pt"
    data = bytearray(ck.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)  # 64 bytes zeroed
    ck.write_bytes(bytes(data))
    code, out = resume(run, capsys)
    assert code == 0, out.err
    assert "checkpoint.pt" in out.out and "damaged" in out.out and "checkpoint.prev.pt" in out.out
    assert losses(run) == reference  # the lost epoch was redone, identically


def test_no_good_checkpoint_is_refused_not_restarted(case, capsys):
    run = interrupted(case, 4, capsys)
    before = (run / "metrics.csv").read_bytes()
    for name in ("checkpoint.pt", "checkpoint.prev.pt"):
        p = run / name
        p.write_bytes(p.read_bytes()[:1000])  # truncated
    code, out = resume(run, capsys)
    assert code == 2 and "no usable checkpoint" in out.err and "Traceback" not in out.err
    assert (run / "metrics.csv").read_bytes() == before
    for name in ("checkpoint.pt", "checkpoint.prev.pt"):
        (run / name).unlink()
    code, out = resume(run, capsys)
    assert code == 2 and "has no checkpoint, but metrics.csv records 4 finished epoch(s)" in out.err


def test_a_checkpoint_of_another_run_is_not_taken(case, capsys):
    run = interrupted(case, 2, capsys)
    other = interrupted_other = case / "other"
    (case / "lib.net").write_text("blk = identity\n")
    assert (
        main(
            [
                "train",
                str(case / "net.net"),
                "--data",
                str(case / "d.npz"),
                "--out",
                str(other),
                "--quiet",
                "--epochs",
                "1",
            ]
        )
        == 0
    )
    (case / "lib.net").write_text(LIB)
    for name in ("checkpoint.pt", "checkpoint.prev.pt"):
        (run / name).unlink(missing_ok=True)
    shutil.copy(interrupted_other / "checkpoint.pt", run / "checkpoint.pt")
    code, out = resume(run, capsys)
    assert code == 2 and "belongs to another network" in out.err


def test_two_resumes_of_one_folder_never_interleave(case, capsys):
    run = interrupted(case, 2, capsys)
    with RunDir(run).lock():  # what a running `netc train --resume` holds
        code, out = resume(run, capsys)
    assert code == 2 and "another netc train is already using" in out.err
    assert [int(r["epoch"]) for r in metrics(run)] == [1, 2]


@pytest.mark.parametrize(
    "config,needle",
    [
        ({}, "lacks 'format'"),
        ([1], "is not a JSON object"),
        ("garbage", "is not valid JSON"),
        ("settings.epochs=four", "epochs = 'four' must be"),
        ("runs=-1", "runs must be at least 1"),
        ("net.sources=5", "'net.sources' should be dict"),
    ],
)
def test_a_damaged_config_is_refused_cleanly(case, capsys, config, needle):
    run = interrupted(case, 2, capsys)
    cfg = json.loads((run / "config.json").read_text())
    if config == "garbage":
        (run / "config.json").write_text("{not json")
    elif isinstance(config, str):
        path, value = config.split("=")
        *parents, key = path.split(".")
        target = cfg
        for p in parents:
            target = target[p]
        target[key] = json.loads(value) if value[0] in "-0123456789" else value
        (run / "config.json").write_text(json.dumps(cfg))
    else:
        (run / "config.json").write_text(json.dumps(config))
    code, out = resume(run, capsys)
    assert code == 2 and needle in out.err and "Traceback" not in out.err, out.err


def test_resume_after_the_net_file_is_gone_uses_the_saved_sources(case, reference, capsys):
    run = interrupted(case, 3, capsys)
    (case / "net.net").unlink()
    (case / "lib.net").unlink()
    code, out = resume(run, capsys)
    assert code == 0, out.err
    assert "using the copy of its sources saved in config.json" in out.out
    assert losses(run) == reference


def test_a_full_disk_stops_training_cleanly_and_loses_nothing(case, reference, capsys, monkeypatch):
    """The disk fills up after the first epochs: exit 2 with "no space left on device", no
    temporary file left, the files written before intact; after space is freed, resuming gives
    the uninterrupted record."""
    real_fsync = os.fsync
    calls = {"n": 0}

    def fsync(fd):
        calls["n"] += 1
        if calls["n"] > 6:  # config.json, then a few epochs' metrics and checkpoints
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    run = case / "run"
    monkeypatch.setattr(os, "fsync", fsync)
    code = main(["train", str(case / "net.net"), "--data", str(case / "d.npz"), "--out", str(run), "--runs", "2"])
    monkeypatch.setattr(os, "fsync", real_fsync)
    out = capsys.readouterr()
    assert code == 2, out
    assert "no space left on device" in out.err and "Traceback" not in out.err, out.err
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]
    json.loads((run / "config.json").read_text())  # intact
    done = len(metrics(run))
    assert 0 < done < 2 * EPOCHS
    code, out = resume(run, capsys)
    assert code == 0, out.err
    assert losses(run) == reference


def test_files_netc_writes_follow_the_umask(case, capsys):
    old = os.umask(0o027)
    try:
        run = interrupted(case, 1, capsys)
    finally:
        os.umask(old)
    for name in ("config.json", "metrics.csv", "checkpoint.pt"):
        assert (run / name).stat().st_mode & 0o777 == 0o640, name
