"""`netc search --strategy random|tpe|nsga2`: Optuna studies over spaces of any size, on a small image
folder written here; pruning, skipped variants, kept weights, resume after a real SIGKILL, the front."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import optuna
import pytest
from PIL import Image
from test_search import kill_after_rows, one_torch_thread  # noqa: F401

from dsl.search.pareto import Point, front
from dsl.search.results import read_rows

SPACE = """\
input 3x16x16
w = 8 | 16
blk(c) = conv_bn(c) -> (relu | gelu)
net = conv_bn(w) -> blk(w)^(1 | 2) -> (maxpool(2) -> conv_bn(8..16 step 8))? -> gmp -> linear(classes, bias=false)*0.125
train { epochs = 3, batch_size = 16, lr = [(0, 0), (1, 0.4), (3, 0)], pad = 2, cutout = 4, label_smoothing = 0 | 0.1 }
"""


def image_folder(root: Path, per_class: tuple[int, int] = (16, 8), size: int = 16) -> Path:
    """train/ and test/ of three classes of PNGs (each brightens one colour channel)."""
    rng = np.random.default_rng(0)
    for split, n in zip(("train", "test"), per_class):
        for c in range(3):
            d = root / split / f"class{c}"
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                x = rng.integers(0, 80, (size, size, 3))
                x[:, :, c] += 100
                Image.fromarray(x.astype(np.uint8)).save(d / f"{i}.png")
    return root


@pytest.fixture
def setup(tmp_path):
    net = tmp_path / "space.net"
    net.write_text(SPACE)
    return net, image_folder(tmp_path / "images"), tmp_path / "out"


def study_of(out: Path, name: str = "netc-space") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{(out / 'study.db').resolve()}")


def test_random_trials_are_recorded_in_a_study_and_the_best_keep_weights(setup, netc):
    net, data, out = setup
    r = netc("search", net, "--data", data, "--strategy", "random", "--trials", "6", "--out", out, "--device", "cpu")
    assert r.code == 0, r
    assert "random over 48 variants, 6 trials" in r.out and r.out.count("\ntrial ") == 6
    study = study_of(out)
    assert len(study.trials) == 6 and all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert all("w" in t.params and "label_smoothing" in t.params for t in study.trials)
    rows = read_rows(out / "results.csv")
    # one row per network trained: a variant drawn twice is told its first result, not trained again
    by_hash = {r["config_hash"]: r for r in rows}
    assert len(by_hash) == len(rows) == len({t.user_attrs["config_hash"] for t in study.trials})
    assert {r["state"] for r in rows} == {"complete"}
    for t in study.trials:  # the study and results.csv say the same of every trial
        row = by_hash[t.user_attrs["config_hash"]]
        assert t.values == [row["test_acc"]] and t.user_attrs["variant"] == row["variant"]
    best = sorted(rows, key=lambda r: (-r["test_acc"], r["trial"]))[:3]
    assert sorted(p.name for p in (out / "best").iterdir()) == sorted(f"trial-{r['trial']}" for r in best)
    # a kept run is a run folder: eval gives the accuracy the search measured, export writes it out
    top = best[0]
    r = netc("eval", out / "best" / f"trial-{top['trial']}", "--data", data, "--device", "cpu")
    assert r.code == 0, r
    assert f"accuracy {top['test_acc']:.2%}" in r.out
    r = netc("export", out / "best" / f"trial-{top['trial']}", "--format", "onnx", "-o", out / "best.onnx")
    assert r.code == 0 and (out / "best.onnx").stat().st_size > 0, r
    # resumed with the same flags, a finished study has nothing to do
    r = netc("search", net, "--data", data, "--strategy", "random", "--trials", "6", "--out", out, "--device", "cpu")
    assert r.code == 0 and "6 already done, 0 to go" in r.out and read_rows(out / "results.csv") == rows
    r = netc("search", net, "--data", data, "--strategy", "tpe", "--trials", "6", "--out", out, "--device", "cpu")
    assert r.code == 2 and "was started with other settings: strategy 'random' (now 'tpe')" in r.err


def test_tpe_with_asha_marks_pruned_trials(setup, netc):
    net, data, out = setup
    r = netc(
        "search", net, "--data", data, "--strategy", "tpe", "--prune", "asha", "--trials", "12", "--out", out,
        "--device", "cpu", "--epochs", "4", "--keep", "0",
    )  # fmt: skip
    assert r.code == 0, r
    study = study_of(out)
    states = {t.number: t.state for t in study.trials}
    assert len(states) == 12 and set(states.values()) <= {
        optuna.trial.TrialState.COMPLETE,
        optuna.trial.TrialState.PRUNED,
    }
    rows = read_rows(out / "results.csv")
    # each trial has its row, but one whose network was drawn before (told that result)
    trained = {n: s.name.lower() for n, s in states.items() if "repeat_of" not in study.trials[n].user_attrs}
    assert {r["trial"]: r["state"] for r in rows} == trained
    pruned = [r for r in rows if r["state"] == "pruned"]
    assert pruned and all(r["epochs"] < 4 for r in pruned), rows  # stopped before the end
    assert all(r["epochs"] == 4 for r in rows if r["state"] == "complete")
    assert not (out / "best").exists()
    r = netc("report", out)
    assert r.code == 0 and f"pruned trials: {len(pruned)}" in r.out, r


def test_a_variant_that_does_not_build_is_skipped_with_its_reason(tmp_path, netc):
    net = tmp_path / "s.net"
    net.write_text(
        "input 3x16x16\nconv_bn(8 | 16) -> (gmp | relu) -> linear(classes)\ntrain { epochs = 1, batch_size = 16 }\n"
    )
    data = image_folder(tmp_path / "images", (6, 3))
    out = tmp_path / "out"
    r = netc("search", net, "--data", data, "--strategy", "random", "--trials", "8", "--out", out, "--keep", "0")
    assert r.code == 0, r
    study = study_of(out, "netc-s")
    skipped = [t for t in study.trials if "skipped" in t.user_attrs]
    trained = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert skipped and trained and len(skipped) + len(trained) == 8
    assert all("linear needs flat features" in t.user_attrs["skipped"] for t in skipped)
    assert all(t.params["gmp | relu@2:21"] == "relu" for t in skipped), [t.params for t in skipped]
    assert "does not build, skipped" in r.err and "s.net:2:" in r.err
    assert {row["trial"] for row in read_rows(out / "results.csv")} == {t.number for t in trained}


def test_several_objectives_give_the_pareto_front(setup, netc):
    net, data, out = setup
    r = netc(
        "search", net, "--data", data, "--strategy", "nsga2", "--objective", "acc,params", "--trials", "5",
        "--out", out, "--keep", "1",
    )  # fmt: skip
    assert r.code == 0, r
    assert "Pareto front (acc ↑, params ↓)" in r.out and "best by params:" in r.out
    study = study_of(out)
    assert all(len(t.values) == 2 for t in study.trials)
    assert len(list((out / "best").iterdir())) == 1
    r = netc("search", net, "--data", data, "--strategy", "tpe", "--prune", "median", "--objective", "acc,time",
             "--trials", "2", "--out", out / "x")  # fmt: skip
    assert r.code == 2 and "--prune median needs one objective" in r.err


def test_the_front_is_every_point_no_other_beats():
    pts = [Point("a", 1, (0.9, 10.0), 1), Point("b", 1, (0.8, 5.0), 1), Point("c", 1, (0.7, 6.0), 1),
           Point("d", 1, (0.95, 20.0), 1), Point("e", 1, (0.9, 12.0), 1)]  # fmt: skip
    assert [p.name for p in front(pts, ["acc", "time"])] == ["d", "a", "b"]
    assert [p.name for p in front(pts, ["acc"])] == ["d"]


def test_user_errors_are_clear(setup, netc):
    net, data, out = setup
    r = netc("search", net, "--strategy", "tpe", "--out", out)
    assert r.code == 2 and "needs --trials N or --budget TIME" in r.err
    r = netc("search", net, "--strategy", "tpe", "--trials", "2", "--runs", "2")
    assert r.code == 2 and "--runs applies to --strategy grid" in r.err
    r = netc("search", net, "--trials", "2")
    assert r.code == 2 and "--trials applies to --strategy random, tpe or nsga2" in r.err
    r = netc("search", net, "--strategy", "random", "--budget", "soon")
    assert r.code == 2 and "--budget must be a duration" in r.err
    r = netc("search", net, "--strategy", "random", "--trials", "2", "--objective", "acc,speed")
    assert r.code == 2 and "unknown objective 'speed'" in r.err
    plain = net.parent / "plain.net"
    plain.write_text("input 3x16x16\nconv_bn(8) -> gmp -> linear(3)\n")
    r = netc("search", plain, "--strategy", "random", "--trials", "2", "--data", data)
    assert r.code == 2 and "holds no choices" in r.err


def test_a_killed_trial_search_resumes_without_losing_or_doubling_a_trial(setup, netc):
    """SIGKILL mid-way: trials cut off are redone; those with a row are not trained again."""
    net, data, out = setup
    data = image_folder(net.parent / "more", (40, 8))
    args = ["search", str(net), "--data", str(data), "--strategy", "random", "--trials", "6", "--out", str(out),
            "--keep", "2"]  # fmt: skip
    results = out / "results.csv"
    kill_after_rows(args, results, 2, env=dict(os.environ, OMP_NUM_THREADS="1"))
    before = read_rows(results)
    assert 2 <= len(before) < 6
    r = netc(*args)
    assert r.code == 0, r
    rows = read_rows(results)
    assert rows[: len(before)] == before
    with open(results, newline="") as f:
        assert len(list(csv.reader(f))) == len(rows) + 1
    study = study_of(out)
    states = optuna.trial.TrialState
    assert not [t for t in study.trials if t.state == states.RUNNING]
    done = [t for t in study.trials if t.state == states.COMPLETE]
    assert len(done) == 6
    # every complete trial has its row; a row is never there twice
    keys = [(r["config_hash"], r["trial"]) for r in rows]
    assert len(keys) == len(set(keys)) and len({r["config_hash"] for r in rows}) == len(rows)
    # a trial cut off after its row was written is failed and redone: the redo is told that row
    cut = {t.user_attrs["redo_of"] for t in study.trials if "redo_of" in t.user_attrs}
    assert {r["trial"] for r in rows} <= {t.number for t in done} | cut
    assert len(list((out / "best").iterdir())) == 2 and not list((out / "best").glob("*.partial"))


GRID = """\
input 3x16x16
net = conv_bn(8 | 16) -> (relu | gelu) -> gmp -> linear(classes, bias=false)*0.125
train { epochs = 2, batch_size = 16, lr = [(0, 0), (1, 0.4), (2, 0)], pad = 2, cutout = 4 }
"""


def test_grid_keeps_the_best_runs_weights(tmp_path, netc):
    from dsl.search.grid import row_name

    net, data, out = tmp_path / "grid.net", image_folder(tmp_path / "images"), tmp_path / "out"
    net.write_text(GRID)
    r = netc("search", net, "--data", data, "--out", out, "--device", "cpu", "--keep", "2", "--objective", "acc,params")
    assert r.code == 0, r
    rows = read_rows(out / "results.csv")
    assert len(rows) == 4 and not any(r["trial"] or r["state"] for r in rows)  # the grid's rows, as before
    best = sorted(rows, key=lambda r: -r["test_acc"])[:2]  # ties: the run that finished first
    assert sorted(p.name for p in (out / "best").iterdir()) == sorted(row_name(r) for r in best)
    r = netc("eval", out / "best" / row_name(best[0]), "--data", data, "--device", "cpu")
    assert r.code == 0 and f"accuracy {best[0]['test_acc']:.2%}" in r.out, r
    # weights stay in the processes that trained them: keeping is refused there, not silently skipped
    r = netc("search", net, "--data", data, "--out", tmp_path / "w", "--device", "cpu", "--workers", "2", "--keep", "1")
    assert r.code == 2 and "--keep 1 needs the runs trained in this process" in r.err, r


def test_no_trial_is_pruned_before_the_learning_rate_peak():
    from dsl.search.study import StudySpec, make_pruner, warmup_epochs

    assert warmup_epochs([(0, 0), (5, 0.4), (24, 0)]) == 5
    assert warmup_epochs([(0, 0.4), (24, 0)]) == 1  # no warm-up: pruning may start after the first epoch
    assert warmup_epochs([(0, 0), (2.5, 0.4), (3, 0.4), (9, 0)]) == 3  # the first peak, whole epochs
    for prune in ("median", "asha"):
        study = optuna.create_study(
            direction="maximize", pruner=make_pruner(optuna, StudySpec("random", prune, ("acc",), 24, 0, warmup=5))
        )
        for _ in range(4):  # good trials that ran to the end
            t = study.ask()
            for epoch in range(1, 25):
                t.report(0.9, epoch)
                assert not t.should_prune()  # as the search asks after each epoch (ASHA records its rungs then)
            study.tell(t, 0.9)
        t = study.ask()  # a poor one: it stays while the learning rate rises, and is stopped at the peak
        prunes = []
        for epoch in range(1, 6):
            t.report(0.1, epoch)
            prunes.append(t.should_prune())
        assert prunes == [False] * 4 + [True], prune


def test_the_grid_trains_each_variant_with_its_own_recipe(tmp_path):
    from dsl.search import grid

    net = tmp_path / "recipe.net"
    net.write_text(
        "input 3x16x16\nnet = conv_bn(8 | 16) -> gmp -> linear(classes, bias=false)*0.125\n"
        "train { epochs = 2, lr = [(0, 0), (1, 0.2 | 0.4), (2, 0)] }\n"
    )
    skipped: list[str] = []
    nets = grid.networks([net], skipped=skipped)
    peaks = {n.name: max(lr for _, lr in n.settings.lr) for n in nets}
    assert peaks == {"c=8 lr=0.2": 0.2, "c=8 lr=0.4": 0.4, "c=16 lr=0.2": 0.2, "c=16 lr=0.4": 0.4}
    specs = grid.plan(nets, None, 1)
    assert len({s.config_hash for s in specs}) == 4  # one run each: the same network at two rates is two runs
    assert skipped == []
    # a variant whose shapes do not fit is left out of the grid, and said so with its reason
    net.write_text("input 3x16x16\nconv(8) -> maxpool(2)^(1 | 5) -> gmp -> linear(classes)\n")
    nets = grid.networks([net], skipped=skipped)
    assert [n.name for n in nets] == ["maxpool(2)^1"]
    (message,) = skipped
    assert "maxpool(2)^5" in message and "does not build, skipped" in message and "recipe.net:2:" in message
