"""One run over several processes (`netc train --gpus N`, DistributedDataParallel): on the CPU with
the gloo backend, two processes train the one-process run with the same global batch, only rank 0
writes the run folder, and a checkpoint written by two processes resumes in one."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from train_fixtures import write_net, write_npz

from dsl.cli import main
from dsl.train.distributed import World, check_gpus, device_for
from dsl.train.weights import load_weights

# 200 images in global batches of 64: three full batches and one of 8, split 4 + 4; a BN net,
# so the processes must share batch statistics to match the one-process run
N_TRAIN, N_TEST = 200, 70


def _rows(run):
    with open(run / "metrics.csv") as f:
        return list(csv.DictReader(f))


def _close(a, b, tol=2e-4):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=tol, rtol=tol), (k, (a[k] - b[k]).abs().max())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same network trained by one process and by two (`--gpus 2 --device cpu`: torchrun's
    launcher starting two real processes), the latter started without --out in an empty folder."""
    d = tmp_path_factory.mktemp("ddp")
    net, data = write_net(d / "tiny.net", epochs=2), write_npz(d / "d.npz", N_TRAIN, N_TEST)
    one = d / "one"
    assert main(["train", str(net), "--data", str(data), "--device", "cpu", "--out", str(one), "--quiet"]) == 0
    work = d / "work"
    work.mkdir()
    out, err = work.parent / "stdout.txt", work.parent / "stderr.txt"
    with pytest.MonkeyPatch.context() as mp, open(out, "w") as fo, open(err, "w") as fe:
        mp.chdir(work)
        # the processes inherit file descriptors 1 and 2: point them at files while the launch runs
        saved = os.dup(1), os.dup(2)
        os.dup2(fo.fileno(), 1), os.dup2(fe.fileno(), 2)
        try:
            code = main(["train", str(net), "--data", str(data), "--device", "cpu", "--gpus", "2"])
        finally:
            sys.stdout.flush(), sys.stderr.flush()
            os.dup2(saved[0], 1), os.dup2(saved[1], 2)
            os.close(saved[0]), os.close(saved[1])
    printed = subprocess.CompletedProcess([], code, out.read_text(), err.read_text())
    assert code == 0, printed.stdout + printed.stderr
    return net, data, one, work, printed


def test_two_processes_train_the_one_process_run(runs):
    net, data, one, work, proc = runs
    folders = list((work / "runs").iterdir())
    assert len(folders) == 1, folders  # rank 1 made no folder of its own
    two = folders[0]
    # only rank 0 wrote, and wrote what a one-process run writes
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())
    assert sorted(p.name for p in work.iterdir()) == ["runs"]
    _close(load_weights(one / "weights-run0.pt"), load_weights(two / "weights-run0.pt"))
    for a, b in zip(_rows(one), _rows(two)):
        for key in ("train_loss", "train_acc", "test_loss", "test_acc"):
            assert float(a[key]) == pytest.approx(float(b[key]), abs=1e-5), key
    # rank 0 printed the run once; rank 1 printed nothing
    assert proc.stdout.count("netc train tiny") == 1 and proc.stdout.count("results in") == 1
    assert "Traceback" not in proc.stderr and "process 1/2" not in proc.stderr


def test_a_checkpoint_written_by_two_processes_resumes_in_one(runs, tmp_path):
    net, data, one, work, _ = runs
    two = next((work / "runs").iterdir())
    from dsl.train import checkpoint

    # the checkpoints hold the plain model, the optimizer and the RNG as one process writes them
    a, b = checkpoint.load(one / "checkpoint.pt"), checkpoint.load(two / "checkpoint.pt")
    _close(a["snapshot"]["model"], b["snapshot"]["model"])
    assert a["snapshot"]["optimizer"]["state"].keys() == b["snapshot"]["optimizer"]["state"].keys()
    assert not (two / "checkpoint.prev.pt").exists()  # a complete run keeps one checkpoint
    # the folder as a run stopped after its last epoch, before its weights and result were written
    stopped = tmp_path / "stopped"
    shutil.copytree(two, stopped)
    for name in ("weights-run0.pt", "weights-run0.pt.sha256", "result.json"):
        (stopped / name).unlink()
    assert main(["train", "--resume", str(stopped), "--quiet"]) == 0  # one process
    _close(load_weights(one / "weights-run0.pt"), load_weights(stopped / "weights-run0.pt"))
    assert [r["epoch"] for r in _rows(stopped)] == ["1", "2"]


@given(st.integers(0, 10_000), st.integers(1, 64))
def test_shards_cut_every_batch_into_contiguous_parts(n, size):
    parts = [World(r, size).shard(n) for r in range(size)]
    assert [p.start for p in parts] == [0] + [p.stop for p in parts[:-1]] and parts[-1].stop == n
    lengths = [p.stop - p.start for p in parts]
    assert max(lengths) - min(lengths) <= 1


def test_the_loss_scale_makes_the_average_of_shards_the_global_gradient():
    # DDP averages: mean over processes of (scale * shard sum) must be the global sum (or mean)
    sums = [3.0, 5.0]
    for mean, want in ((False, 8.0), (True, 8.0 / 10)):
        w = World(0, 2)
        assert sum(s * w.loss_scale(10, mean) for s in sums) / 2 == pytest.approx(want)


def test_the_environment_torchrun_sets(monkeypatch):
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    assert World.from_env() == World()
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert World.from_env() == World(1, 4, 1) and not World.from_env().main
    monkeypatch.setenv("RANK", "7")
    with pytest.raises(Exception, match="inconsistent torchrun environment"):
        World.from_env()
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(Exception, match="must be integers"):
        World.from_env()


def test_device_choice_and_refusals(monkeypatch):
    assert device_for(World(1, 2, 1), "cpu") == "cpu"
    with pytest.raises(Exception, match="names one GPU"):
        device_for(World(1, 2, 1), "cuda:0")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with pytest.raises(Exception, match="no GPU found") as err:
        check_gpus(2, "auto")
    assert "--device cpu" in (err.value.hint or "")
    check_gpus(2, "cpu")  # N CPU processes: allowed
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(Exception, match="has 2 GPUs"):
        check_gpus(4, "cuda")


def test_gpus_without_a_gpu_is_refused_before_any_process_starts(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    net, data = write_net(tmp_path / "tiny.net"), write_npz(tmp_path / "d.npz", 64, 32)
    assert main(["train", str(net), "--data", str(data), "--gpus", "2"]) == 2
    err = capsys.readouterr().err
    assert "--gpus 2: no GPU found" in err and "Traceback" not in err


def test_a_batch_smaller_than_the_process_count_is_refused():
    from dsl.settings import TrainSettings
    from dsl.train.engine import Trainer

    t = Trainer("cpu", world=World(0, 4))
    s = TrainSettings().with_overrides(batch_size=64)
    with pytest.raises(Exception, match="split over 4 processes"):
        t._check_shards(64 * 3 + 2, s)  # the last batch has 2 images for 4 processes
    t._check_shards(64 * 3, s)
    t._check_shards(64 * 3 + 2, s.with_overrides(drop_last=True))


@pytest.mark.parametrize("size", [2, 3])
def test_the_streamed_path_decodes_only_each_process_s_rows(size):
    from types import SimpleNamespace

    from dsl.settings import TrainSettings
    from dsl.train.stream import StreamEpochs

    s = TrainSettings().with_overrides(batch_size=16, eval_batch_size=8)
    data = SimpleNamespace(n_train=70, n_test=29)
    whole = StreamEpochs(data, s, 3, False, World()).train_plan(1, 5)
    parts = [StreamEpochs(data, s, 3, False, World(r, size)).train_plan(1, 5) for r in range(size)]
    for b, batch in enumerate(whole):  # each global batch is the ranks' shards, in rank order
        assert sum((p[b] for p in parts), []) == batch
    tests = [
        StreamEpochs(data, s, 3, False, World(r, size))._plain("test", 29, World(r, size).shard(29))
        for r in range(size)
    ]
    assert sorted(k[-1] for p in tests for batch in p for k in batch) == list(range(29))


def test_a_process_that_dies_is_named_with_how_to_resume(tmp_path):
    rank = 1  # rank 0 then says how to resume (the launcher's lines for a dead rank 0: the test below)
    import signal
    import time

    net, data = write_net(tmp_path / "tiny.net", epochs=30), write_npz(tmp_path / "d.npz", 400, 40)
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "dsl.cli", "train", str(net), "--data", str(data), "--device", "cpu"]
    proc = subprocess.Popen(
        [*cmd, "--gpus", "2", "--out", str(run), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        deadline = time.time() + 120
        while not (run / "checkpoint.pt").exists():
            assert proc.poll() is None and time.time() < deadline, proc.communicate()
            time.sleep(0.05)
        victim = None
        while victim is None and time.time() < deadline:  # the worker of that rank (it started by now)
            for pid in os.listdir("/proc"):
                try:
                    with open(f"/proc/{pid}/environ", "rb") as f:
                        env = f.read().split(b"\0")
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        cmdline = f.read()
                except OSError:
                    continue
                if f"RANK={rank}".encode() in env and str(run).encode() in cmdline:
                    victim = int(pid)
        assert victim is not None, "the worker process was not found"
        os.kill(victim, signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 128 + 9, (proc.returncode, out, err)
    assert "internal error" not in err and "Traceback" not in err, err
    assert f"process {rank}/2 of the run was killed (SIGKILL)" in err
    assert f"netc train --resume {run} --gpus 2" in err, err
    # the resume itself works, with any number of processes (here one, in this process)
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    assert len(_rows(run)) == 30


def test_the_launcher_names_a_dead_process_and_how_to_resume():
    from dsl.train.distributed import failure_lines

    argv = ["train", "x.net", "--gpus", "4", "--out", "runs/a"]
    assert failure_lines(0, 4, -9, argv) == [
        "netc: process 0/4 of the run was killed (SIGKILL); the others stopped with it",
        "hint: continue from the last checkpoint with: netc train --resume runs/a --gpus 4",
    ]
    assert failure_lines(2, 4, -11, argv) == [
        "netc: process 2/4 of the run was killed (SIGSEGV); the others stopped with it"
    ]
    assert "RUN_DIR: the run folder named above" in failure_lines(0, 2, -9, ["train", "x.net"])[1]
    assert failure_lines(1, 2, 2, argv) == []  # netc's own refusal: the process said why
    assert failure_lines(1, 2, 139, argv) == ["netc: process 1/2 of the run stopped with status 139"]
