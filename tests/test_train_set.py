"""`netc train --set key=value`: any training setting from the command line, written as in a train { }
section, checked like it, recorded in the run folder and kept by --resume."""

from __future__ import annotations

import json

import pytest
from train_fixtures import ctrl_c_at_epoch, write_net, write_npz

from dsl.cli import main
from dsl.settings import TrainSettings


def test_set_overrides_settings_and_is_recorded_and_resumed(tmp_path, capsys):
    data, net, run = (
        write_npz(tmp_path / "d.npz", 128, 64),
        write_net(tmp_path / "tiny.net", epochs=3),
        tmp_path / "run",
    )
    sets = ["--set", "label_smoothing=0.1", "--set", "std=(0.25, 0.25, 0.25)", "--set", "flip_mode=alternate"]
    with ctrl_c_at_epoch(1):
        assert main(["train", str(net), "--data", str(data), "--out", str(run), *sets]) == 130
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["overrides"]["label_smoothing"] == 0.1 and cfg["settings"]["std"] == [0.25, 0.25, 0.25]
    assert cfg["settings"]["flip_mode"] == "alternate"
    assert main(["train", "--resume", str(run), "--quiet"]) == 0, capsys.readouterr().err
    assert json.loads((run / "result.json").read_text())["complete"]


def test_set_epochs_stretches_the_schedule_like_the_flag(tmp_path):
    base = TrainSettings()
    by_flag = base.with_overrides(epochs=12)
    by_set = base.with_overrides(**TrainSettings.assignments(["epochs=12"]))
    assert by_set == by_flag and by_set.lr[-1][0] == 12


@pytest.mark.parametrize(
    "flag,message",
    [
        ("label_smothing=0.1", "unknown training setting 'label_smothing'"),
        ("epochs=0", "training setting 'epochs' must be"),
        ("lr=(", "unexpected"),
        ("momentum", "is not key=value"),
        ("=3", "is not key=value"),
        ("momentum=0.9 -> relu", "unexpected '->'"),
        # text smuggled after the value: the rest of a train block, an input line, a second setting
        ("epochs=1 } input 3x8x8 #", "the value must be one value"),
        ("cutout=4 } train { pad = 1", "the value must be one value"),
        ("epochs=1\ninput 3x8x8", "the value must be one value"),
        ("epochs=1\rpad=1", "the value must be one value"),
        ("epochs=1 }", "unexpected"),
        ("epochs=1 # and a comment", "unexpected"),
    ],
)
def test_bad_set_flags_exit_2_with_the_reason(tmp_path, capsys, flag, message):
    data, net = write_npz(tmp_path / "d.npz", 64, 32), write_net(tmp_path / "tiny.net")
    assert main(["train", str(net), "--data", str(data), "--out", str(tmp_path / "r"), "--set", flag]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_a_setting_given_twice_is_refused(tmp_path, capsys):
    data, net = write_npz(tmp_path / "d.npz", 64, 32), write_net(tmp_path / "tiny.net")
    args = ["train", str(net), "--data", str(data), "--out", str(tmp_path / "r")]
    assert main([*args, "--set", "epochs=3", "--epochs", "2"]) == 2
    assert "--set epochs and --epochs both set epochs" in capsys.readouterr().err
    assert main([*args, "--set", "cutout=2", "--set", "cutout=4"]) == 2
    assert "--set cutout is given twice" in capsys.readouterr().err
