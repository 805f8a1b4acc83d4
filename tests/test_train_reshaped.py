"""A zoo network trained on data it was not written for: a known dataset that does not fit is refused
before any data is read, and `--input` / `--classes` train the same network at another size and class
count, recorded in the run folder so eval, export and resume rebuild exactly that network."""

from __future__ import annotations

import json

import pytest
from train_fixtures import write_npz

import dsl
from dsl.cli import main


@pytest.mark.parametrize(
    "data,needle",
    [
        (None, "cannot train on CIFAR-10: its images are 3x32x32, the network takes input 3x224x224"),
        ("cifar100", "it has 100 classes, the network 1000"),
        ("mnist", "--input 1x28x28 --classes 10"),
    ],
)
def test_a_known_dataset_that_does_not_fit_is_refused_before_reading_it(
    root, tmp_path, capsys, monkeypatch, data, needle
):
    monkeypatch.setenv("NETC_DATA", str(tmp_path / "empty"))  # nothing there: any read or download would fail otherwise
    args = ["train", str(root / "nets/zoo/resnet18.net"), "--out", str(tmp_path / "run")]
    assert main([*args, *(["--data", data] if data else [])]) == 2
    err = capsys.readouterr().err
    assert needle in err and "checked before reading the data" in err, err
    assert not (tmp_path / "run").exists() and not (tmp_path / "empty").exists()


def test_input_and_classes_train_the_zoo_net_at_another_size(root, tmp_path, capsys):
    data = write_npz(tmp_path / "d.npz", 64, 32)  # 3x16x16, 4 classes
    run = tmp_path / "run"
    net = root / "nets/zoo/resnet18.net"
    args = ["train", str(net), "--data", str(data), "--out", str(run), "--epochs", "1", "--batch-size", "32"]
    assert main([*args, "--input", "3x16x16", "--classes", "4", "--quiet"]) == 0, capsys.readouterr().err
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["net"]["input"] == [3, 16, 16] and cfg["net"]["classes"] == 4
    expected = dsl.load(net, input_shape=(3, 16, 16), classes=4)
    trained = dsl.load_run(run)
    assert trained.graph.fingerprint == expected.fingerprint == cfg["net"]["fingerprint"]
    assert trained.graph.output_shape == (4,)
    assert main(["eval", str(run)]) == 0
    assert main(["export", str(run), "--format", "py", "-o", str(tmp_path / "m.py")]) == 0
    assert "INPUT_SHAPE = (3, 16, 16)" in (tmp_path / "m.py").read_text()
    capsys.readouterr()
    assert main(["train", "--resume", str(run)]) == 0
    assert "already complete" in capsys.readouterr().out


@pytest.mark.parametrize(
    "flags,needle",
    [
        (["--input", "3x0x4"], "is not a size such as 3x32x32"),
        (["--input", "big"], "is not a size such as 3x32x32"),
        (["--classes", "0"], "--classes"),
    ],
)
def test_bad_input_and_classes_flags(root, tmp_path, capsys, flags, needle):
    assert main(["train", str(root / "nets/residual_l1_l3.net"), "--out", str(tmp_path / "r"), *flags]) == 2
    assert needle in capsys.readouterr().err


def test_classes_override_refuses_a_classes_that_takes_parameters(tmp_path):
    (tmp_path / "p.net").write_text("input 3x8x8\nclasses(k) = linear(k)\nconv(4) -> gmp -> classes(3)\n")
    with pytest.raises(dsl.NetError, match="takes parameters in this file"):
        dsl.load(tmp_path / "p.net", classes=5)
