"""The optimizer settings: AdamW, cosine lr decay, weight decay that skips norms, biases and embeddings.

The engine is checked step for step against hand-written torch loops; the settings, the schedule
and the parameter-group rule each on their own; and `netc train` end to end with a ViT-style recipe
(run folder, resume, a changed optimizer refused, a run folder of an older netc resumed).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from train_fixtures import ctrl_c_at_epoch, write_net, write_npz

import dsl
import dsl.train.engine as engine_mod
from dsl.cli import main
from dsl.errors import NetError
from dsl.settings import SettingsError, TrainSettings
from dsl.train.devicedata import DeviceData
from dsl.train.engine import Trainer
from dsl.train.optim import decay_groups, make_optimizer
from dsl.train.schedule import epoch_lrs, lr_at

NEW = ("lr_curve", "optimizer", "betas", "adam_eps", "decay_all")


# ---------------------------------------------------------------- settings
def test_new_settings_default_to_the_article_recipe():
    s = TrainSettings()
    assert (s.optimizer, s.lr_curve, s.betas, s.adam_eps, s.decay_all) == ("sgd", "linear", (0.9, 0.999), 1e-8, True)
    assert not set(NEW) & set(s.key())  # a search's resume key of the default recipe is what it was
    assert TrainSettings(optimizer="adamw").key()["optimizer"] == "adamw"


@pytest.mark.parametrize(
    "text,message,where",
    [
        ("train { optimizer = adam }", "'optimizer' must be one of sgd, adamw, got 'adam'", "2:9"),
        ("train { lr_curve = cos }", "'lr_curve' must be one of linear, cosine", "2:9"),
        ("train { optimizer = adamw, betas = (1.5, 0.9) }", "'betas' must be a pair (beta1, beta2)", "2:28"),
        ("train { optimizer = adamw, betas = [0.9, 0.99, 0.5] }", "'betas' must be a pair", "2:28"),
        ("train { optimizer = adamw, adam_eps = 0 }", "'adam_eps' must be a number in (0, 1]", "2:28"),
        ("train { decay_all = no }", "'decay_all' must be true or false", "2:9"),
        ("train { optimizer = adamw, momentum = 0.9 }", "'momentum' applies only to optimizer = sgd", "2:28"),
        ("train { nesterov = false, optimizer = adamw }", "'nesterov' applies only to optimizer = sgd", "2:9"),
        ("train { betas = (0.9, 0.95) }", "'betas' applies only to optimizer = adamw, and this recipe uses", "2:9"),
        ("train { adam_eps = 1e-6 }", "'adam_eps' applies only to optimizer = adamw", "2:9"),
    ],
)
def test_bad_optimizer_settings_are_refused_where_they_are_written(text, message, where):
    with pytest.raises(NetError) as e:
        dsl.loads("relu -> gmp -> fc\n" + text, filename="s.net")
    assert message in str(e.value) and f"s.net:{where}" in str(e.value), str(e.value)


def test_a_setting_of_the_other_optimizer_is_refused_from_the_file_even_in_an_import(write):
    write("lib.net", "train { momentum = 0.8 }")
    with pytest.raises(NetError) as e:
        dsl.load(write("main.net", 'use "lib.net"\nrelu -> gmp -> fc\ntrain { optimizer = adamw }'))
    assert "lib.net:1:9" in str(e.value) and "remove it; the settings of optimizer = adamw are betas, adam_eps" in str(
        e.value
    )


def test_the_other_optimizers_settings_are_refused_from_python_unless_default():
    TrainSettings(optimizer="adamw", momentum=0.9, nesterov=True)  # the defaults do nothing and say nothing
    with pytest.raises(SettingsError, match="momentum = 0.5 must be left out: it applies only to optimizer = sgd"):
        TrainSettings(optimizer="adamw", momentum=0.5)
    with pytest.raises(SettingsError, match=r"betas = \(0.5, 0.9\) must be left out"):
        TrainSettings(betas=(0.5, 0.9))


def test_a_vit_recipe_from_the_file():
    s = dsl.loads_job(
        "relu -> gmp -> fc\ntrain { optimizer = adamw, lr = [(0, 0), (5, 1e-3), (100, 0)], epochs = 100, "
        "lr_curve = cosine, betas = (0.9, 0.95), adam_eps = 1e-6, weight_decay = 0.05, decay_all = false, "
        "label_smoothing = 0.1 }"
    ).settings
    assert (s.optimizer, s.lr_curve, s.betas, s.adam_eps, s.weight_decay, s.decay_all) == (
        "adamw",
        "cosine",
        (0.9, 0.95),
        1e-6,
        0.05,
        False,
    )
    assert TrainSettings.from_json(json.loads(json.dumps(s.to_json()))) == s
    assert "optimizer: 'adamw' -> 'sgd'" in s.differences(TrainSettings(lr=s.lr, epochs=100))


def test_settings_stored_before_the_new_fields_load_with_their_defaults():
    s = TrainSettings().with_overrides(epochs=7, batch_size=64)
    old = {k: v for k, v in s.to_json().items() if k not in NEW}
    assert TrainSettings.from_json(old) == s
    with pytest.raises(NetError, match="lacks momentum"):  # settings older than run folders are still required
        TrainSettings.from_json({k: v for k, v in old.items() if k != "momentum"})
    with pytest.raises(NetError, match="betas = \\(0.5, 0.9\\) must be left out"):
        TrainSettings.from_json(dict(old, betas=[0.5, 0.9]))


# ---------------------------------------------------------------- schedule
def _linear_as_before(knots, t):
    """The schedule's code before lr_curve existed."""
    if t <= knots[0][0]:
        return float(knots[0][1])
    for (e0, v0), (e1, v1) in zip(knots, knots[1:]):
        if t <= e1:
            return float(v0 + (v1 - v0) * (t - e0) / (e1 - e0))
    return float(knots[-1][1])


def test_the_default_linear_schedule_gives_the_same_floats_as_before():
    knots = ((0, 0.0), (5, 0.4), (24, 0.0))
    for steps in (1, 7, 98):
        for epoch in range(25):
            ts = [epoch + i / steps for i in range(steps)]
            assert epoch_lrs(knots, epoch, steps) == [_linear_as_before(knots, t) for t in ts]
            assert epoch_lrs(knots, epoch, steps, "linear") == [_linear_as_before(knots, t) for t in ts]


def test_cosine_falls_along_a_half_cosine_and_rises_linearly():
    knots = ((0, 0.0), (5, 1e-3), (10, 1e-3), (100, 1e-5))
    cos = lambda t: lr_at(knots, t, "cosine")  # noqa: E731
    assert cos(0) == 0 and cos(5) == 1e-3 and cos(100) == 1e-5 and cos(150) == 1e-5
    assert cos(2) == lr_at(knots, 2) == pytest.approx(0.4e-3)  # warm-up: linear
    assert cos(7) == 1e-3  # flat
    assert cos(55) == pytest.approx((1e-3 + 1e-5) / 2, rel=1e-12)  # falling: the midpoint is the mean
    assert cos(32.5) == pytest.approx(1e-5 + (1e-3 - 1e-5) * (1 + math.cos(math.pi / 4)) / 2, rel=1e-12)
    assert cos(32.5) > lr_at(knots, 32.5)  # above the straight line in the first half of the fall
    assert cos(77.5) < lr_at(knots, 77.5)  # below it in the second half
    falling = [cos(10 + 90 * i / 1000) for i in range(1001)]
    assert all(a >= b for a, b in zip(falling, falling[1:]))
    with pytest.raises(ValueError, match="unknown lr curve 'cos'"):
        lr_at(knots, 1, "cos")


# ---------------------------------------------------------------- parameter groups
class Pos(nn.Module):
    """A learned additive map, marked like a position embedding."""

    no_weight_decay = True

    def __init__(self, c: int, h: int, w: int):
        super().__init__()
        self.pos = nn.Parameter(torch.randn(1, c, h, w) * 0.1)

    def forward(self, x):
        return x + self.pos


class TimmStyle(nn.Module):
    """A module with a `no_weight_decay()` method, as timm models have: not a mark."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 4)

    def no_weight_decay(self):
        return {"proj.weight"}


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.pos = Pos(8, 8, 8)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = self.pos(torch.relu(self.bn(self.conv(x))))
        return self.fc(x.amax((2, 3)))


def _names(model, group):
    ids = {id(p) for p in group["params"]}
    return [n for n, p in model.named_parameters() if id(p) in ids]


def test_decay_groups_decay_only_weights_outside_marked_modules():
    torch.manual_seed(0)
    model = nn.Sequential(Tiny(), TimmStyle(), nn.LayerNorm(4))
    decayed, rest = decay_groups(model, False, 0.05)
    assert _names(model, decayed) == ["0.conv.weight", "0.fc.weight", "1.proj.weight"]
    assert _names(model, rest) == [
        "0.conv.bias",
        "0.bn.weight",
        "0.bn.bias",
        "0.pos.pos",
        "0.fc.bias",
        "1.proj.bias",
        "2.weight",
        "2.bias",
    ]
    assert (decayed["weight_decay"], rest["weight_decay"]) == (0.05, 0.0)
    [everything] = decay_groups(model, True, 0.05)
    assert everything["params"] == list(model.parameters()) and everything["weight_decay"] == 0.05
    # both groups always exist (a checkpoint's optimizer state keeps one layout)
    assert [len(g["params"]) for g in decay_groups(nn.Linear(3, 2, bias=False), False, 0.1)] == [1, 0]


def test_make_optimizer_passes_each_setting():
    model = Tiny()
    sgd = make_optimizer(model, TrainSettings(momentum=0.8, nesterov=False, weight_decay=1e-3, batch_size=10))
    assert isinstance(sgd, torch.optim.SGD) and len(sgd.param_groups) == 1
    g = sgd.param_groups[0]
    assert (g["momentum"], g["nesterov"], g["weight_decay"]) == (0.8, False, pytest.approx(1e-2))
    s = TrainSettings(optimizer="adamw", betas=(0.8, 0.9), adam_eps=1e-6, weight_decay=0.05, decay_all=False)
    adamw = make_optimizer(model, s)
    assert isinstance(adamw, torch.optim.AdamW)
    assert [(g["betas"], g["eps"], g["weight_decay"]) for g in adamw.param_groups] == [
        ((0.8, 0.9), 1e-6, 0.05),
        ((0.8, 0.9), 1e-6, 0.0),
    ]


# ---------------------------------------------------------------- the engine against hand-written loops
N_TRAIN, BS, EPOCHS, PEAK, WD = 80, 32, 2, 0.01, 0.1  # 3 steps an epoch, the last one of 16 images


def _data(settings):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(N_TRAIN + 16, 3, 8, 8, generator=g)
    y = torch.randint(0, 4, (N_TRAIN + 16,), generator=g)
    return DeviceData(x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:], (3, 8, 8), 0, settings.mean, settings.std, 4)


def _engine_run(settings, monkeypatch):
    """netc's engine on Tiny; also returns the batches each epoch trained on."""
    epochs = []
    real = engine_mod.augment_epoch

    def recording(*a, **k):
        xs, ys = real(*a, **k)
        epochs.append((xs.clone(), ys.clone()))
        return xs, ys

    monkeypatch.setattr(engine_mod, "augment_epoch", recording)
    result = Trainer("cpu").run(Tiny, _data(settings), settings, seed=0)
    return result.model, epochs


def _hand_loop(optimizer, groups_of, epochs, label_smoothing):
    """The recipe written directly in torch: the mean loss, cosine lr from PEAK to 0 over EPOCHS set
    every step, weight decay WD on the first of `groups_of(model)` (SGD: L2, AdamW: decoupled)."""
    torch.manual_seed(0)
    model = Tiny()
    decayed, rest = groups_of(model)
    if optimizer == "adamw":
        opt = torch.optim.AdamW(
            [{"params": decayed, "weight_decay": WD}, {"params": rest, "weight_decay": 0.0}],
            lr=0.0,
            betas=(0.8, 0.99),
            eps=1e-7,
        )
    else:
        opt = torch.optim.SGD(
            [{"params": decayed, "weight_decay": WD}, {"params": rest, "weight_decay": 0.0}],
            lr=0.0,
            momentum=0.9,
            nesterov=True,
        )
    model.train()
    for epoch, (xs, ys) in enumerate(epochs):
        for i in range(3):
            xb, yb = xs[i * BS : (i + 1) * BS], ys[i * BS : (i + 1) * BS]
            lr = PEAK * 0.5 * (1 + math.cos(math.pi * (epoch + i / 3) / EPOCHS))
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb, label_smoothing=label_smoothing)
            if optimizer == "sgd":  # the article's SGD divides the last, partial batch's sum by BS too
                loss = loss * len(yb) / BS
            loss.backward()
            for g in opt.param_groups:
                g["lr"] = lr
            opt.step()
    return model


def _by_rule(m):
    return [m.conv.weight, m.fc.weight], [m.conv.bias, m.bn.weight, m.bn.bias, m.pos.pos, m.fc.bias]


def _all_decayed(m):
    return list(m.parameters()), []


def _max_diff(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return max((sa[k].float() - sb[k].float()).abs().max().item() for k in sa)


@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
def test_engine_steps_equal_a_hand_written_loop(optimizer, monkeypatch):
    extra = dict(betas=(0.8, 0.99), adam_eps=1e-7) if optimizer == "adamw" else {}
    settings = TrainSettings(
        epochs=EPOCHS,
        batch_size=BS,
        eval_batch_size=16,
        lr=((0, PEAK), (EPOCHS, 0.0)),
        lr_curve="cosine",
        optimizer=optimizer,
        weight_decay=WD,
        decay_all=False,
        label_smoothing=0.1,
        pad=0,
        flip=False,
        cutout=0,
        **extra,
    )
    trained, epochs = _engine_run(settings, monkeypatch)
    assert len(epochs) == EPOCHS
    torch.manual_seed(0)
    assert _max_diff(trained, Tiny()) > 1e-3  # it did train
    assert _max_diff(trained, _hand_loop(optimizer, _by_rule, epochs, 0.1)) < 1e-6
    # the comparison sees the parameter groups: decaying everything gives other weights
    assert _max_diff(trained, _hand_loop(optimizer, _all_decayed, epochs, 0.1)) > 1e-5


# ---------------------------------------------------------------- netc train end to end
VIT_RECIPE = """\
input 3x16x16
conv_bn(16) -> maxpool(2) -> conv_bn(32) -> gmp -> linear(4)
train {
  epochs = 4
  batch_size = 32
  eval_batch_size = 64
  optimizer = adamw
  betas = (0.9, 0.99)
  lr = [(0, 0), (1, 0.01), (4, 0)]
  lr_curve = cosine
  weight_decay = 0.05
  decay_all = false
  label_smoothing = 0.1
  pad = 2
  cutout = 4
}
"""


def _metrics(run: Path) -> list[dict[str, str]]:
    with open(run / "metrics.csv") as f:
        return list(csv.DictReader(f))


def _stopped(net: Path, data: Path, run: Path, after: int, monkeypatch, capsys) -> None:
    """`netc train` stopped by Ctrl-C as epoch `after + 1` begins."""
    with ctrl_c_at_epoch(after):
        assert main(["train", str(net), "--data", str(data), "--out", str(run)]) == 130
    capsys.readouterr()
    assert len(_metrics(run)) == after


def test_netc_train_with_a_vit_recipe_learns_resumes_and_refuses_another_optimizer(tmp_path, monkeypatch, capsys):
    net, data = tmp_path / "vit.net", write_npz(tmp_path / "d.npz", 256, 64)
    net.write_text(VIT_RECIPE)
    ref = tmp_path / "ref"
    assert main(["train", str(net), "--data", str(data), "--out", str(ref), "--quiet"]) == 0, capsys.readouterr().err
    rows = _metrics(ref)
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4"]
    losses = [float(r["train_loss"]) for r in rows]
    assert losses[-1] < 0.8 * losses[0], losses
    assert float(rows[1]["lr"]) == pytest.approx(0.01 * (1 + math.cos(math.pi / 3)) / 2)  # cosine: 1/3 down
    cfg = json.loads((ref / "config.json").read_text())["settings"]
    assert (cfg["optimizer"], cfg["lr_curve"], cfg["decay_all"], cfg["betas"]) == (
        "adamw",
        "cosine",
        False,
        [0.9, 0.99],
    )

    run = tmp_path / "run"
    _stopped(net, data, run, 2, monkeypatch, capsys)
    net.write_text(VIT_RECIPE.replace("optimizer = adamw\n  betas = (0.9, 0.99)\n", ""))
    assert main(["train", "--resume", str(run)]) == 2
    assert "optimizer: 'adamw' -> 'sgd'" in capsys.readouterr().err
    net.write_text(VIT_RECIPE.replace("lr_curve = cosine", "lr_curve = linear"))
    assert main(["train", "--resume", str(run)]) == 2
    assert "lr_curve: 'cosine' -> 'linear'" in capsys.readouterr().err
    net.write_text(VIT_RECIPE)
    assert main(["train", "--resume", str(run), "--quiet"]) == 0, capsys.readouterr().err
    assert [r["train_loss"] for r in _metrics(run)] == [r["train_loss"] for r in rows]  # AdamW's state came back


def test_a_run_folder_written_before_the_optimizer_settings_still_resumes(tmp_path, monkeypatch, capsys):
    net, data = write_net(tmp_path / "tiny.net", epochs=3), write_npz(tmp_path / "d.npz", 128, 64)
    ref = tmp_path / "ref"
    assert main(["train", str(net), "--data", str(data), "--out", str(ref), "--quiet"]) == 0
    run = tmp_path / "run"
    _stopped(net, data, run, 1, monkeypatch, capsys)
    cfg = json.loads((run / "config.json").read_text())
    cfg["settings"] = {k: v for k, v in cfg["settings"].items() if k not in NEW}  # as an older netc wrote it
    (run / "config.json").write_text(json.dumps(cfg))
    assert main(["train", "--resume", str(run), "--quiet"]) == 0, capsys.readouterr().err
    assert [r["train_loss"] for r in _metrics(run)] == [r["train_loss"] for r in _metrics(ref)]
