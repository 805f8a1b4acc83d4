"""netc train end to end through the CLI on small generated data, and the engine's API."""

from __future__ import annotations

import csv
import json

import pytest
from train_fixtures import REPO, write_cifar_pickles, write_imagefolder, write_net, write_npz

from dsl.cli import main


def rows(run):
    with open(run / "metrics.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("layout", ["npz", "cifar-pickle", "imagefolder"])
def test_train_end_to_end_each_layout(tmp_path, capsys, layout):
    data = {
        "npz": lambda: write_npz(tmp_path / "d.npz", 128, 64),
        "cifar-pickle": lambda: write_cifar_pickles(tmp_path / "pk", 128, 64),
        "imagefolder": lambda: write_imagefolder(tmp_path / "if", 128, 64),
    }[layout]()
    net = write_net(tmp_path / "tiny.net", epochs=2)
    run = tmp_path / "run"
    code = main(["train", str(net), "--data", str(data), "--out", str(run)])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "not the official CIFAR-10" in out.out
    assert "train_loss" in out.out and "results" in out.out
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["net"]["sources"][cfg["net"]["main_source"]] == net.read_text() and "conv" in cfg["net"]["canonical"]
    assert cfg["net"]["fingerprint"] and cfg["data"]["digest"]
    assert cfg["settings"]["epochs"] == 2 and cfg["seed"] == 0
    assert cfg["versions"]["torch"] and cfg["versions"]["netc"] and cfg["device"]["name"] == "cpu"
    assert [r["epoch"] for r in rows(run)] == ["1", "2"]
    res = json.loads((run / "result.json").read_text())
    assert res["complete"] and len(res["runs"]) == 1 and 0 <= res["mean_acc"] <= 1
    assert (run / "checkpoint.pt").exists()


def test_small_net_learns_an_easy_task_and_runs_give_mean_std(tmp_path, capsys):
    data = write_npz(tmp_path / "d.npz", 512, 256)
    net = write_net(tmp_path / "tiny.net", epochs=6)
    run = tmp_path / "run"
    code = main(["train", str(net), "--data", str(data), "--out", str(run), "--runs", "2", "--seed", "7"])
    out = capsys.readouterr().out
    assert code == 0
    res = json.loads((run / "result.json").read_text())
    assert [r["seed"] for r in res["runs"]] == [7, 8]
    assert res["mean_acc"] >= 0.9, res
    assert "±" in out
    assert len(rows(run)) == 12 and {r["run"] for r in rows(run)} == {"0", "1"}


def test_flags_override_the_file(tmp_path, capsys):
    data = write_npz(tmp_path / "d.npz", 100, 50)
    net = write_net(tmp_path / "tiny.net", epochs=4)
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                str(net),
                "--data",
                str(data),
                "--out",
                str(run),
                "--epochs",
                "2",
                "--batch-size",
                "32",
                "--limit",
                "64",
                "--limit-test",
                "32",
                "--quiet",
            ]
        )
        == 0
    )
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["settings"]["epochs"] == 2 and cfg["settings"]["batch_size"] == 32
    assert cfg["settings"]["lr"][-1] == [2, 0]  # knots stretched to the new length
    assert cfg["data"]["n_train"] == 64 and cfg["data"]["n_test"] == 32


@pytest.mark.parametrize(
    "case,needle",
    [
        ("nan", "the training loss became"),
        ("not_a_classifier", "training needs one score per class"),
        ("shape", "3x16x16"),
        ("space", "--variant"),
        ("out_exists", "--resume"),
        ("bad_flag", "--epochs"),
    ],
)
def test_user_errors_exit_2_without_traceback(tmp_path, capsys, case, needle):
    data = write_npz(tmp_path / "d.npz", 64, 32)
    net = write_net(tmp_path / "tiny.net", epochs=2)
    args = ["train", str(net), "--data", str(data), "--out", str(tmp_path / "run")]
    if case == "nan":
        net.write_text(
            "input 3x16x16\nconv(8, 3) -> relu -> gmp -> linear(4)\n"
            "train { epochs = 2 batch_size = 16 lr = [(0, 1000), (2, 1000)] }\n"
        )
    elif case == "not_a_classifier":
        net.write_text("input 3x16x16\nconv(8) -> relu -> conv(4)\n")
    elif case == "shape":
        write_npz(tmp_path / "d.npz", 64, 32, size=12)
    elif case == "space":
        args[1] = str(REPO / "nets" / "search_residual.net")
    elif case == "out_exists":
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / "x").write_text("")
    elif case == "bad_flag":
        args += ["--epochs", "0"]
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert needle in err and "Traceback" not in err
    if case == "not_a_classifier":  # refused before anything is created
        assert "tiny.net:2:1" in err and not (tmp_path / "run").exists()


def test_engine_api_reuses_the_model_and_is_deterministic():
    import pathlib
    import tempfile

    import dsl
    from dsl.data import load_dataset
    from dsl.train.engine import Trainer, prepare_data

    with tempfile.TemporaryDirectory() as d:
        ds = load_dataset(write_npz(pathlib.Path(d) / "d.npz", 128, 64))
        job = dsl.loads_job((write_net(pathlib.Path(d) / "t.net", epochs=2)).read_text(), filename="t.net")
    graph, settings = job.graph, job.settings
    trainer = Trainer("cpu")
    data = prepare_data(ds, settings, trainer.device, trainer.precision)
    a = trainer.run(graph, data, settings, seed=3)
    b = trainer.run(graph, data, settings, seed=3)
    c = trainer.run(graph, data, settings, seed=4)
    assert trainer.cached_models == 1  # one model warm for both seeds
    assert [r["train_loss"] for r in a.rows] == [r["train_loss"] for r in b.rows]
    assert a.rows[-1]["train_loss"] != c.rows[-1]["train_loss"]
    assert a.epochs == 2 and a.seconds > 0 and len(a.rows) == 2


def test_lr_schedule_is_piecewise_linear_per_step():
    from dsl.train.schedule import epoch_lrs, lr_at

    knots = [(0, 0.0), (5, 0.4), (24, 0.0)]
    assert lr_at(knots, 0) == 0 and lr_at(knots, 5) == pytest.approx(0.4) and lr_at(knots, 24) == 0
    assert lr_at(knots, 2.5) == pytest.approx(0.2) and lr_at(knots, 30) == 0
    lrs = epoch_lrs(knots, 0, 98)
    assert lrs[0] == 0 and lrs[49] == pytest.approx(0.4 * 0.5 / 5)
