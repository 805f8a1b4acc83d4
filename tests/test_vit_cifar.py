"""nets/vit_cifar.net, the small ViT for CIFAR-10: checked, summarised, drawn, and trained by `netc train`
on CPU on a few generated 32×32 images with its own recipe (AdamW, warm-up + cosine, label smoothing,
weight decay on weight matrices only) until its loss falls."""

from __future__ import annotations

import csv

from conftest import ROOT
from train_fixtures import write_npz

import dsl
from dsl.cli import main

VIT = ROOT / "nets" / "vit_cifar.net"


def test_the_file_checks_summarises_and_draws(netc, tmp_path):
    g = dsl.load(VIT)
    assert g.input_shape == (3, 32, 32) and g.output_shape == (10,)
    assert g.params == 3_195_146
    s = dsl.load_job(VIT).settings
    assert (s.optimizer, s.lr_curve, s.decay_all, s.label_smoothing) == ("adamw", "cosine", False, 0.1)
    assert netc("summary", VIT).code == 0
    for level in ("blocks", "ops"):
        assert netc("draw", VIT, "--level", level, "-o", tmp_path / f"{level}.svg").code == 0


def test_netc_train_learns_on_cpu(tmp_path, capsys):
    data = write_npz(tmp_path / "d.npz", n_train=128, n_test=64, size=32)
    run = tmp_path / "run"
    args = ["train", str(VIT), "--data", str(data), "--out", str(run), "--epochs", "3", "--batch-size", "32"]
    assert main([*args, "--quiet"]) == 0, capsys.readouterr().err
    with open(run / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    losses = [float(r["train_loss"]) for r in rows]
    assert len(losses) == 3 and losses[-1] < 0.8 * losses[0], losses
    assert (run / "result.json").exists()
