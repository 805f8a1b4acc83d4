"""The streamed data path: an image folder decoded per batch by DataLoader workers trains, resumes to
the same weights, reports; `data_path = auto` picks it when it must; bad images are named; batches do
not depend on the worker count."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from train_fixtures import ctrl_c_at_epoch, write_class_folder, write_stream_net

from dsl.cli import main


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """64x64 PNGs, 20 classes, 8 training and 3 test images each."""
    return write_class_folder(tmp_path_factory.mktemp("data") / "imgs")


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """Images of mixed sizes (24..80 pixels a side), 4 classes."""
    return write_class_folder(tmp_path_factory.mktemp("mixed") / "imgs", classes=4, per_train=6, per_test=2, size=None)


def _rows(run):
    with open(run / "metrics.csv") as f:
        return list(csv.DictReader(f))


def _train(net, data, run, *extra):
    return main(["train", str(net), "--data", str(data), "--out", str(run), "--workers", "0", *extra])


def test_an_image_folder_trains_through_the_streamed_path_resumes_identically_and_reports(folder, tmp_path, capsys):
    net = write_stream_net(tmp_path / "net.net", epochs=3)
    run = tmp_path / "run"
    assert _train(net, folder, run, "--set", "data_path=stream") == 0
    out = capsys.readouterr().out
    assert "data path: streamed (data_path = stream)" in out and "img/s" in out
    rows = _rows(run)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])  # it learns
    assert all(float(r["images_s"]) > 0 for r in rows)
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["data"]["path"] == "stream" and cfg["settings"]["data_path"] == "stream"
    assert cfg["data"]["classes"] == [f"class{c:02d}" for c in range(20)]

    # stopped by Ctrl-C after its first epoch, resumed: the same weights as the uninterrupted run
    stopped = tmp_path / "stopped"
    with ctrl_c_at_epoch(1):
        assert _train(net, folder, stopped, "--set", "data_path=stream") == 130
    assert len(_rows(stopped)) == 1
    assert main(["train", "--resume", str(stopped), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "resuming at epoch 2 of 3" in out and "data path: streamed (as the run started)" in out
    a = torch.load(run / "weights-run0.pt", weights_only=True)
    b = torch.load(stopped / "weights-run0.pt", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [r["train_loss"] for r in _rows(stopped)] == [r["train_loss"] for r in rows]

    assert main(["report", str(run)]) == 0
    assert "net" in capsys.readouterr().out


def test_auto_picks_the_device_path_for_one_size_and_streams_otherwise(folder, mixed, tmp_path, capsys, monkeypatch):
    net = write_stream_net(tmp_path / "net.net", epochs=1)
    assert _train(net, folder, tmp_path / "a", "--limit", "40") == 0
    assert "data path: device-resident" in capsys.readouterr().out
    assert json.loads((tmp_path / "a" / "config.json").read_text())["data"]["path"] == "device"

    from dsl.train import datapath

    monkeypatch.setattr(datapath, "free_memory", lambda device: 1 << 20)  # 0.5 MiB of budget: too small
    assert _train(net, folder, tmp_path / "b", "--limit", "40") == 0
    out = capsys.readouterr().out
    assert "data path: streamed (its device copy" in out and "exceed" in out and "half the free RAM" in out
    monkeypatch.undo()

    small = write_stream_net(tmp_path / "small.net", epochs=1, size=32, classes=4, extra="  augment = imagenet\n")
    assert _train(small, mixed, tmp_path / "c") == 0
    out = capsys.readouterr().out
    assert "data path: streamed (augment = imagenet crops each image)" in out

    # the article's recipe needs one size: auto decodes the folder and says which image differs, before
    # the run folder exists; the streamed path, told to, names the first image of another size it meets
    article = write_stream_net(tmp_path / "article.net", epochs=1, size=32, classes=4)
    assert _train(article, mixed, tmp_path / "d") == 2
    err = capsys.readouterr().err
    assert "all images must have one size" in err and not (tmp_path / "d").exists()
    assert _train(article, mixed, tmp_path / "e", "--set", "data_path=stream") == 2
    err = capsys.readouterr().err
    assert "but the network takes 32x32 images" in err and "augment = imagenet" in err and "Traceback" not in err


def test_a_corrupt_image_is_named_by_the_training_process(folder, tmp_path, capsys):
    import shutil

    data = tmp_path / "imgs"
    shutil.copytree(folder, data)
    bad = data / "train" / "class03" / "002.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    net = write_stream_net(tmp_path / "net.net", epochs=1)
    code = main(["train", str(net), "--data", str(data), "--out", str(tmp_path / "r"), "--workers", "1",
                 "--set", "data_path=stream", "--quiet"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and str(bad) in err and "does not decode as an image" in err
    assert "Traceback" not in err and "worker" not in err


@pytest.mark.parametrize("augment", ["article", "imagenet"])
def test_batches_do_not_depend_on_the_worker_count(folder, augment):
    from dsl.data import open_dataset
    from dsl.settings import TrainSettings
    from dsl.train.stream import StreamData

    s = TrainSettings(batch_size=16, eval_batch_size=32, augment=augment, flip_mode="alternate")
    ds = open_dataset(folder, channels=3, limit=48, limit_test=20)
    got = []
    for workers in (0, 2):
        data = StreamData(ds, s, (64, 64), "cpu", "fp32", workers)
        try:
            src = data.source(s, seed=3, channels_last=False)
            batches = [b for e in (0, 1) for b in src.train_epoch(e, 2)] + list(src.test_batches())
        finally:
            data.close()
        got.append(batches)
    assert len(got[0]) == len(got[1]) == 5  # 2 epochs of 2 batches, 1 test batch
    for (xa, ya), (xb, yb) in zip(*got):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    (e0, _), (e1, _) = got[0][0], got[0][2]
    assert not torch.equal(e0, e1)  # each epoch draws afresh
