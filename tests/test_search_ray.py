"""`netc search --ray local`: a small grid and a trial search through a real local Ray instance.

One instance serves the module (started here, so `--ray local` joins it: its worker processes stay
warm between the tests); that netc starts and stops a private instance when none runs is checked
against a stand-in for Ray. Skipped only where Ray cannot be imported or a local instance cannot start."""

from __future__ import annotations

import os

import pytest
from test_search import TINY_NET, VARIANTS, make_npz, one_torch_thread  # noqa: F401

from dsl.search.ray_backend import connect
from dsl.search.results import read_rows

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'netc[ray]')")


@pytest.fixture(scope="module", autouse=True)
def ray_instance():
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    except Exception as err:  # noqa: BLE001  (machine-dependent: Ray's own start-up failures)
        pytest.skip(f"a local Ray instance cannot start here: {err}")
    yield
    ray.shutdown()


def _on_ray(rows) -> bool:
    """Whether every row was trained in a Ray worker process (not in this one)."""
    return all(r["worker"].rsplit(":", 1)[-1] != str(os.getpid()) for r in rows)


def test_local_starts_a_private_instance_only_when_none_runs():
    class FakeRay:
        def __init__(self, running):
            self.running, self.calls = running, []

        def is_initialized(self):
            return self.running

        def init(self, **kwargs):
            self.calls.append(("init", kwargs))
            self.running = True

        def cluster_resources(self):
            return {"CPU": 2.0}

    said = []
    idle = FakeRay(False)
    assert connect(idle, "local", said.append) is True  # started here: the caller shuts it down
    assert idle.calls[0][0] == "init" and "address" not in idle.calls[0][1]
    assert said == ["started a local Ray instance (2 CPUs, 0 GPUs)"]
    busy = FakeRay(True)
    assert connect(busy, "local", said.append) is False and busy.calls == []  # joined: left running


def test_ray_local_runs_the_grid(tmp_path, netc):
    net = tmp_path / "tiny_search.net"
    net.write_text(TINY_NET)
    data = make_npz(tmp_path / "tiny.npz")
    out = tmp_path / "out"
    r = netc("search", net, "--data", data, "--runs", "1", "--out", out, "--ray", "local")
    assert r.code == 0, r
    assert "[4/4]" in r.out
    rows = read_rows(out / "results.csv")
    assert sorted((x["variant"], x["seed"]) for x in rows) == sorted((v, 0) for v in VARIANTS)
    assert all(x["device"] == "cpu" for x in rows) and _on_ray(rows)
    assert ray.is_initialized()  # joined, not stopped: it was running before
    # the same seeds through the in-process runner give the same accuracies (one engine)
    local = tmp_path / "local"
    r = netc("search", net, "--data", data, "--runs", "1", "--out", local, "--variant", "Residual:L1")
    assert r.code == 0, r
    (one,) = read_rows(local / "results.csv")
    (same,) = [x for x in rows if x["variant"] == "Residual:L1" and x["seed"] == 0]
    assert one["test_acc"] == pytest.approx(same["test_acc"], abs=1 / 64 + 1e-9)
    # a rerun through Ray finds nothing to do (and does not start Ray)
    r = netc("search", net, "--data", data, "--runs", "1", "--out", out, "--ray", "local")
    assert r.code == 0 and "4 already done, 0 to go" in r.out


def test_ray_local_runs_trials_of_one_study(tmp_path, netc):
    import optuna
    from test_search_trials import SPACE, image_folder

    net, data, out = tmp_path / "space.net", image_folder(tmp_path / "images"), tmp_path / "out"
    net.write_text(SPACE)
    r = netc("search", net, "--data", data, "--strategy", "tpe", "--prune", "median", "--trials", "4", "--out", out,
             "--device", "cpu", "--ray", "local")  # fmt: skip
    assert r.code == 0, r
    assert "up to 2 trials at a time on Ray" in r.out
    study = optuna.load_study(study_name="netc-space", storage=f"sqlite:///{(out / 'study.db').resolve()}")
    states = optuna.trial.TrialState
    assert len(study.trials) == 4 and all(t.state in (states.COMPLETE, states.PRUNED) for t in study.trials)
    rows = read_rows(out / "results.csv")
    trained = [t for t in study.trials if "repeat_of" not in t.user_attrs]
    # one row per trial trained on Ray (no row lost or doubled), its epochs reported from the worker
    assert sorted(r["trial"] for r in rows) == sorted(t.number for t in trained)
    finished = [r["config_hash"] for r in rows if r["state"] == "complete"]
    assert len(set(finished)) == len(finished)  # a network finished once is told, not trained again
    for t in trained:
        assert t.intermediate_values, t.number  # each epoch's accuracy reached the study from the worker
    assert not (out / "best").exists() and _on_ray(rows)  # weights stay in the workers: nothing kept
    # a cluster needs a study every node reaches; --keep cannot be honoured there
    r = netc("search", net, "--data", data, "--strategy", "tpe", "--trials", "6", "--out", out, "--ray", "auto")
    assert r.code == 2 and "needs the study in a database every node reaches" in r.err, r
    r = netc("search", net, "--data", data, "--strategy", "tpe", "--trials", "6", "--out", out, "--ray", "local",
             "--keep", "2")  # fmt: skip
    assert r.code == 2 and "--keep 2 needs the trials trained in this process" in r.err, r
