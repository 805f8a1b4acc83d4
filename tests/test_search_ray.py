"""`netc search --ray local`: a small grid through a real local Ray instance.

Skipped only where Ray cannot be imported or a local instance cannot start."""

from __future__ import annotations

import pytest
from test_search import TINY_NET, VARIANTS, make_npz, one_torch_thread  # noqa: F401

from dsl.search.results import read_rows

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'netc[ray]')")


def test_ray_local_runs_the_grid(tmp_path, netc):
    net = tmp_path / "tiny_search.net"
    net.write_text(TINY_NET)
    data = make_npz(tmp_path / "tiny.npz")
    out = tmp_path / "out"
    r = netc("search", net, "--data", data, "--runs", "1", "--out", out, "--ray", "local")
    if r.code == 2 and "cannot start a local Ray instance" in r.err:  # pragma: no cover - machine-dependent
        pytest.skip(r.err)
    assert r.code == 0, r
    assert "started a local Ray instance" in r.out and "[4/4]" in r.out
    rows = read_rows(out / "results.csv")
    assert sorted((x["variant"], x["seed"]) for x in rows) == sorted((v, 0) for v in VARIANTS)
    assert all(x["device"] == "cpu" for x in rows)
    assert not ray.is_initialized()
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
    if r.code == 2 and "cannot start a local Ray instance" in r.err:  # pragma: no cover - machine-dependent
        pytest.skip(r.err)
    assert r.code == 0, r
    assert "up to 2 trials at a time on Ray" in r.out or "trials at a time on Ray" in r.out
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
    assert not (out / "best").exists()  # weights stay in the workers: nothing kept, by default
    assert not ray.is_initialized()
    # a cluster needs a study every node reaches; --keep cannot be honoured there
    r = netc("search", net, "--data", data, "--strategy", "tpe", "--trials", "6", "--out", out, "--ray", "auto")
    assert r.code == 2 and "needs the study in a database every node reaches" in r.err, r
    r = netc("search", net, "--data", data, "--strategy", "tpe", "--trials", "6", "--out", out, "--ray", "local",
             "--keep", "2")  # fmt: skip
    assert r.code == 2 and "--keep 2 needs the trials trained in this process" in r.err, r
