"""airbench94's recipe as training settings (docs/training.md): every element on its own against a
hand computation, on CPU with tiny generated data. The defaults leaving netc's own recipe exactly as
it was is tests/test_train_recipe.py's step-by-step equality, which runs unchanged."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from train_fixtures import ctrl_c_at_epoch, easy_images, write_npz

import dsl
from dsl.data import Dataset
from dsl.errors import DataError
from dsl.settings import TrainSettings
from dsl.train import engine
from dsl.train.augment import augment_epoch, base_flips, epoch_flips
from dsl.train.engine import Trainer, prepare_data
from dsl.train.optim import make_optimizer, norm_bias_names
from dsl.train.report import Reporter
from dsl.train.schedule import lr_at

SIZE = 8


def _dataset(n: int = 64, n_test: int = 24) -> Dataset:
    tx, ty = easy_images(n, SIZE, 0)
    vx, vy = easy_images(n_test, SIZE, 1)
    return Dataset(tx.transpose(0, 3, 1, 2).copy(), ty, vx.transpose(0, 3, 1, 2).copy(), vy)


def _settings(**kw) -> TrainSettings:
    base = dict(
        epochs=2, batch_size=16, eval_batch_size=16, lr=[(0, 0.1), (1, 0.2), (2, 0.05)], pad=0, cutout=0, flip=False
    )
    base.update(kw)
    if "epochs" in kw and "lr" not in kw:
        base["lr"] = [(0, 0.1), (max(1, int(np.ceil(kw["epochs"]))), 0.05)]
    return TrainSettings(**base)


class Net(nn.Module):
    """conv -> BN -> relu -> pool -> linear: a norm layer with a bias and running statistics."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(6)
        self.fc = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.relu(self.bn(self.conv(x))).amax((2, 3)))


def _factory(cls=Net):
    return lambda: cls()


class Steps(Reporter):
    """Counts training steps and the steps each epoch announces."""

    def __init__(self) -> None:
        self.steps, self.announced = 0, []

    def step(self) -> None:
        self.steps += 1

    def epoch_start(self, epoch: int, steps: int) -> None:
        self.announced.append(steps)


def _train(settings, ds=None, factory=None, seed=0, **kw):
    ds = ds or _dataset()
    trainer = Trainer("cpu", "fp32")
    data = prepare_data(ds, settings, trainer.device, "fp32")
    from dsl.train.engine import RunHooks

    hooks = RunHooks(**{k: kw.pop(k) for k in ("reporter", "on_epoch") if k in kw})
    return trainer.run(factory or _factory(), data, settings, seed=seed, hooks=hooks, **kw), data


def _fixed_order(monkeypatch):
    """Training batches in the stored order, unaugmented: hand-written loops can follow the engine."""

    def augment(padded, labels, size, **kw):
        return padded.contiguous(), labels

    monkeypatch.setattr(engine, "augment_epoch", augment)


# ----------------------------------------------------------------------------- steps
@pytest.mark.parametrize(
    "kw,n,per_epoch,total",
    [
        (dict(drop_last=True, epochs=2.5), 70, [4, 4, 2], 10),  # 70 // 16 = 4 full batches; ceil(4 * 2.5)
        (dict(epochs=1.5), 70, [5, 3], 8),  # 5 batches (the last of 6); ceil(5 * 1.5) = 8
        (dict(drop_last=True, epochs=2), 70, [4, 4], 8),
        (dict(epochs=1.1, batch_size=7), 70, [10, 1], 11),  # 10 * 1.1 is 11 exactly, not 11.000000000000002
    ],
)
def test_drop_last_and_fractional_epochs_train_exactly_ceil_steps_times_epochs(kw, n, per_epoch, total):
    s = _settings(**kw)
    sizes = []
    rep = Steps()

    def factory():
        net = Net()
        net.conv.register_forward_pre_hook(lambda m, a: sizes.append(a[0].shape[0]) if m.training else None)
        return net

    result, data = _train(s, _dataset(n), factory, reporter=rep)
    assert s.total_steps(n) == total == rep.steps == len(sizes) and rep.announced == per_epoch
    bs = s.batch_size
    if s.drop_last:
        assert set(sizes) == {bs}
    assert [r["epoch"] for r in result.rows] == list(range(1, len(per_epoch) + 1))
    steps = per_epoch[0]
    last = result.rows[-1]
    assert last["lr"] == pytest.approx(lr_at(s.lr, len(per_epoch) - 1 + per_epoch[-1] / steps))
    for row, k in zip(result.rows, per_epoch):
        assert 0 <= row["train_acc"] <= 1 and row["train_acc"] * min(k * bs, n) == pytest.approx(
            round(row["train_acc"] * min(k * bs, n))
        )
    assert result.epochs == s.epochs


def test_drop_last_refuses_a_batch_larger_than_the_training_set():
    s = _settings(drop_last=True, batch_size=100)
    with pytest.raises(DataError, match="leaves no batch"):
        s.check_data((3, SIZE, SIZE), "d.npz", 64)
    with pytest.raises(DataError, match="leaves no batch"):
        _train(s)


# ----------------------------------------------------------------------------- norm biases
def test_norm_biases_are_found_by_role_in_a_graph_and_by_class_in_a_module():
    g = dsl.loads(f"input 3x{SIZE}x{SIZE}\nconv_bn(4) -> gmp -> linear(2)")
    model = dsl.build(g)
    assert engine._norm_paths(g) == ["conv_bn.bn"]
    assert norm_bias_names(model, engine._norm_paths(g)) == {"conv_bn.bn.bias"} == norm_bias_names(model)
    assert norm_bias_names(Net()) == {"bn.bias"}
    assert engine._norm_paths(_factory()) is None


@pytest.mark.parametrize("decay_all", [True, False])
def test_norm_bias_group_gets_its_lr_and_decay_multipliers(decay_all):
    s = _settings(norm_bias_lr=64, norm_bias_decay=1 / 64, weight_decay=0.01, decay_all=decay_all)
    model = Net()
    opt = make_optimizer(model, s, {"bn.bias"})
    *rest, norm = opt.param_groups
    assert [p is model.bn.bias for p in norm["params"]] == [True] and norm["lr_scale"] == 64
    wd = 0.01 * s.batch_size
    assert norm["weight_decay"] == pytest.approx(wd / 64 if decay_all else 0.0)
    assert all(all(p is not model.bn.bias for p in g["params"]) for g in rest)
    assert [g["weight_decay"] for g in rest] == ([wd] if decay_all else [wd, 0.0])
    # at the defaults: exactly the groups netc always made
    assert len(make_optimizer(model, _settings(decay_all=decay_all)).param_groups) == (1 if decay_all else 2)


def test_norm_bias_group_matches_a_hand_written_nesterov_sgd(monkeypatch):
    _fixed_order(monkeypatch)
    s = _settings(epochs=1, lr=[(0, 0.3), (1, 0.1)], norm_bias_lr=8, norm_bias_decay=0.5, weight_decay=0.02)
    ds = _dataset(32)  # two steps of 16
    result, data = _train(s, ds)

    torch.manual_seed(0)
    model = Net()
    params = dict(model.named_parameters())
    bufs: dict[str, torch.Tensor] = {}
    for i in range(2):
        xb, yb = data.train[i * 16 : (i + 1) * 16], data.train_y[i * 16 : (i + 1) * 16]
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(xb), yb, reduction="sum").backward()
        lr = lr_at(s.lr, i / 2) / 16
        with torch.no_grad():
            for name, p in params.items():
                scale, decay = (8.0, 0.5) if name == "bn.bias" else (1.0, 1.0)
                g = p.grad + 0.02 * 16 * decay * p
                bufs[name] = g.clone() if name not in bufs else 0.9 * bufs[name] + g
                p -= lr * scale * (g + 0.9 * bufs[name])
    for name, p in result.model.named_parameters():
        torch.testing.assert_close(p, params[name], rtol=1e-5, atol=1e-6, msg=name)
    assert not torch.equal(result.model.bn.bias, Net().bn.bias)


# ----------------------------------------------------------------------------- EMA
@pytest.mark.parametrize("start", [0, 1])
def test_ema_follows_a_hand_written_lookahead(monkeypatch, start):
    _fixed_order(monkeypatch)
    # every 3 steps of 4-step epochs: the updates fall inside epochs, and each epoch's end sets the net
    # back to the EMA (dropping the steps since the last update)
    s = _settings(epochs=3, lr=[(0, 0.2), (3, 0.2)], ema_every=3, ema_start=start, ema_decay=0.6, ema_power=2)
    snaps = []
    result, data = _train(s, on_epoch=snaps.append)  # 64 images: 4 steps an epoch, 12 in all

    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.2 / 16, momentum=0.9, nesterov=True, weight_decay=5e-4 * 16)
    ema = None
    updates = 0
    for epoch in range(3):
        for i in range(4):
            step = epoch * 4 + i + 1
            xb, yb = data.train[i * 16 : (i + 1) * 16], data.train_y[i * 16 : (i + 1) * 16]
            F.cross_entropy(model(xb), yb, reduction="sum").backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if epoch >= start and step % 3 == 0:
                sd = model.state_dict()
                if ema is None:
                    ema = {k: v.clone() for k, v in sd.items() if v.is_floating_point()}
                else:
                    updates += 1
                    decay = 0.6 * (step / 12) ** 2
                    for k, e in ema.items():
                        e.lerp_(sd[k], 1 - decay)
                        sd[k].copy_(e)
        if ema is not None:
            sd = model.state_dict()
            for k, e in ema.items():
                sd[k].copy_(e)
    assert updates == (3 if start == 0 else 2)
    ours = result.model.state_dict()
    for k, v in model.state_dict().items():
        torch.testing.assert_close(ours[k], v, rtol=1e-5, atol=1e-6, msg=k)
    # the net ends as the EMA, which the checkpoint carries (BN statistics included)
    assert snaps[-1].ema is not None and set(snaps[-1].ema) == set(ema)
    for k, e in snaps[-1].ema.items():
        assert torch.equal(e, ours[k]), k
    assert (snaps[0].ema is None) == (start == 1)
    # a checkpoint written before the EMA existed reads as one without it
    old = {k: v for k, v in snaps[0].to_dict().items() if k != "ema"}
    assert engine.Snapshot.from_dict(old).ema is None


# ----------------------------------------------------------------------------- alternating flips
def test_alternating_flips_mirror_every_image_in_odd_epochs(monkeypatch):
    seen = []
    real = augment_epoch

    def recording(padded, labels, size, **kw):
        # the same draws, with source indices for labels to follow each image through the shuffle
        xs, idx = real(padded, torch.arange(len(labels)), size, **kw)
        seen.append((xs.clone(), idx.clone(), kw["flip"]))
        return xs, labels[idx]

    monkeypatch.setattr(engine, "augment_epoch", recording)
    s = _settings(epochs=3, flip=True, flip_mode="alternate")
    _, data = _train(s, seed=5)
    by_source = []
    for xs, idx, flip in seen:
        assert isinstance(flip, torch.Tensor)
        out = torch.empty_like(xs)
        out[idx] = xs
        by_source.append(out)
    base = base_flips(64, 5, "cpu")
    expect0 = torch.where(base[:, None, None, None], data.train.flip(-1), data.train)
    assert torch.equal(by_source[0], expect0)  # epoch 0: each image's fixed random flip
    assert torch.equal(by_source[1], by_source[0].flip(-1))  # epoch 1: every image mirrored from it
    assert torch.equal(by_source[2], by_source[0])
    assert 0 < int(base.sum()) < 64


def test_base_flips_come_from_the_seed_alone():
    a = base_flips(1000, 3, "cpu")
    torch.rand(5)  # the global stream does not matter
    assert torch.equal(a, base_flips(1000, 3, "cpu")) and not torch.equal(a, base_flips(1000, 4, "cpu"))
    assert (
        torch.equal(epoch_flips(a, 0), a) and torch.equal(epoch_flips(a, 1), ~a) and torch.equal(epoch_flips(a, 4), a)
    )
    assert 400 < int(a.sum()) < 600


def test_random_flips_keep_their_draws():
    """flip_mode = random (the default) draws as before: a fresh coin per image per epoch."""
    x = torch.randn(32, 3, 6, 6)
    y = torch.arange(32)
    torch.manual_seed(1)
    a, _ = augment_epoch(x, y, (6, 6), flip=True)
    torch.manual_seed(1)
    oy, ox = torch.randint(0, 1, (32,)), torch.randint(0, 1, (32,))
    flips = torch.rand(32) < 0.5
    perm = torch.randperm(32)
    assert torch.equal(a, torch.where(flips[perm, None, None, None], x[perm].flip(-1), x[perm]))
    assert oy.sum() == ox.sum() == 0


# ----------------------------------------------------------------------------- test-time augmentation
class Lopsided(nn.Module):
    """Logits that change under mirroring and translation."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3 * SIZE * SIZE, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1) ** 2 + x.flatten(1))


def _by_hand(net, x, level):
    def mirror_avg(v):
        return 0.5 * net(v) + 0.5 * net(v.flip(-1))

    if level == 0:
        return net(x)
    if level == 1:
        return mirror_avg(x)
    p = F.pad(x, (1, 1, 1, 1), mode="reflect")
    views = [p[:, :, 0:SIZE, 0:SIZE], p[:, :, 2 : SIZE + 2, 2 : SIZE + 2]]
    return 0.5 * mirror_avg(x) + 0.5 * torch.stack([mirror_avg(v) for v in views]).mean(0)


@pytest.mark.parametrize("level", [0, 1, 2])
def test_tta_averages_exactly_the_right_views(level):
    torch.manual_seed(0)
    net = Lopsided().eval()
    x = torch.randn(5, 3, SIZE, SIZE)
    trainer = Trainer("cpu", "fp32")
    with torch.no_grad():
        ours, theirs = trainer._logits(net, x, level), _by_hand(net, x, level)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
    if level:
        with torch.no_grad():
            assert not torch.allclose(ours, net(x), atol=1e-3)

    # and a run's test figures are those of its final weights under that augmentation
    s = _settings(epochs=1, tta=level)
    result, data = _train(s, factory=_factory(Lopsided))
    with torch.no_grad():
        logits = _by_hand(result.model.eval(), data.test, level)
    assert result.test_loss == pytest.approx(F.cross_entropy(logits, data.test_y).item(), rel=1e-5)
    assert result.test_acc * len(data.test_y) == pytest.approx(int((logits.argmax(1) == data.test_y).sum()))


# ----------------------------------------------------------------------------- per-epoch hook, calibration
class Log(list):
    """Events, shared by the copies the trainer makes of a model."""

    def __deepcopy__(self, memo: dict) -> Log:
        return self


class Gated(Net):
    """A module with both protocols: `set_epoch` (its extra bias trains in epoch 0 only) and
    `calibrate` (records what it is given)."""

    def __init__(self, log: list) -> None:
        super().__init__()
        self.log = log
        self.shift = nn.Parameter(torch.zeros(3))

    def set_epoch(self, epoch: int) -> None:
        self.log.append(("set_epoch", epoch))
        self.shift.requires_grad_(epoch < 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.log.append(("step", None))
        return super().forward(x + self.shift[None, :, None, None])


class Probe(nn.Module):
    """A calibrated module inside the model."""

    def __init__(self, log: list) -> None:
        super().__init__()
        self.log = log

    def calibrate(self, x: torch.Tensor) -> None:
        self.log.append(("calibrate", x.clone()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Wrapped(nn.Module):
    def __init__(self, log: list) -> None:
        super().__init__()
        self.probe = Probe(log)
        self.net = Gated(log)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.probe(x))


def test_set_epoch_before_each_epoch_and_calibrate_once_before_the_first_step():
    log = Log()
    s = _settings(epochs=3, pad=2, flip=True, cutout=2, calibration_images=40)
    snaps = []
    result, data = _train(s, factory=lambda: Wrapped(log), on_epoch=snaps.append)
    events = [e for e, _ in log]
    assert events[0] == "calibrate" and events.count("calibrate") == 1
    assert [v for e, v in log if e == "set_epoch"] == [0, 1, 2]
    first_step = events.index("step")
    assert events.index("set_epoch") < first_step and events[first_step - 1] == "set_epoch"
    # the first 40 training images, normalised and not augmented (no padding, crop, flip or cutout)
    images = log[0][1]
    raw = torch.from_numpy(_dataset().train_x[:40]).float()
    mean = torch.tensor(s.mean).view(1, 3, 1, 1) * 255
    std = torch.tensor(s.std).view(1, 3, 1, 1) * 255
    torch.testing.assert_close(images, (raw - mean) / std, rtol=0, atol=1e-6)
    # the bias switched off after epoch 0 stays in the optimizer and stops moving
    shifts = [snap.model["net.shift"] for snap in snaps]
    assert (
        not torch.equal(shifts[0], torch.zeros(3))
        and torch.equal(shifts[0], shifts[1])
        and torch.equal(shifts[1], shifts[2])
    )

    # resumed from epoch 1: no second calibration, set_epoch from the epoch it resumes at
    log.clear()
    trainer = Trainer("cpu", "fp32")
    resumed = trainer.run(lambda: Wrapped(log), data, s, seed=0, resume=snaps[0])
    assert "calibrate" not in [e for e, _ in log]
    assert [v for e, v in log if e == "set_epoch"] == [1, 2]
    for k, v in result.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[k], v), k


def test_warm_up_covers_every_trainable_pattern_and_leaves_the_run_unchanged(monkeypatch):
    """With compilation (faked here: torch.compile returns the module) the untimed warm-up also runs
    the shapes set_epoch's requires_grad changes, the test-time augmentation and the calibration
    make, and the run still trains from the seed's weights."""
    log = Log()
    s = _settings(epochs=3, tta=2, calibration_images=20)
    plain, data = _train(s, factory=lambda: Wrapped(log))
    monkeypatch.setattr(torch, "compile", lambda module, **kw: module)
    trainer = Trainer("cpu", "fp32", compile=True)
    warmed = trainer.run(lambda: Wrapped(log), data, s, seed=0)
    assert warmed.warmup_s > 0
    [slot] = trainer._models.values()
    patterns = {v for m, _, v in slot.warm if m == "train"}  # the shift trains in epoch 0 only: two
    assert len(patterns) == 2 and {(n, size) for n, size, _ in slot.warm if n == "train"} == {("train", 16)}
    assert {job for job in slot.warm if job[0] != "train"} == {("eval", 16, 2), ("eval", 8, 2), ("calibrate", 20, None)}
    for k, v in plain.model.state_dict().items():
        assert torch.equal(warmed.model.state_dict()[k], v), k


# ----------------------------------------------------------------------------- evaluation
def test_eval_every_epoch_false_evaluates_once(monkeypatch):
    calls = []
    real = Trainer._evaluate

    def counting(self, *a, **k):
        calls.append(1)
        return real(self, *a, **k)

    monkeypatch.setattr(Trainer, "_evaluate", counting)
    result, _ = _train(_settings(epochs=3, eval_every_epoch=False))
    assert len(calls) == 1
    assert [r["test_acc"] is None for r in result.rows] == [True, True, False]
    assert result.test_acc == result.rows[-1]["test_acc"] is not None
    assert result.seconds == result.rows[-1]["total_s"] >= sum(r["epoch_s"] for r in result.rows) * 0.999


# ----------------------------------------------------------------------------- the whole recipe, resumed
AIRBENCH_LIKE = """\
input 3x{size}x{size}
conv_bn(8) -> maxpool(2) -> conv_bn(8) -> gmp -> linear(4)
train {{
  epochs = 2.5
  batch_size = 32
  drop_last = true
  eval_batch_size = 64
  lr = [(0, 0.05), (0.75, 0.25), (2.5, 0.02)]
  momentum = 0.85
  label_smoothing = 0.2
  norm_bias_lr = 64
  norm_bias_decay = 0.015625
  ema_every = 2
  ema_start = 1
  pad = 2
  cutout = 0
  flip_mode = alternate
  tta = 2
  eval_every_epoch = false
}}
"""


def test_the_airbench_like_recipe_resumes_from_before_its_cut_short_epoch(tmp_path, netc):
    net = tmp_path / "a.net"
    net.write_text(AIRBENCH_LIKE.format(size=SIZE))
    data = write_npz(tmp_path / "d.npz", 100, 40, SIZE)  # 3 full batches an epoch; 8 steps: 3, 3, 2
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert netc("train", net, "--data", data, "--out", whole, "--quiet").code == 0
    with ctrl_c_at_epoch(2):  # stopped as the last, partial epoch begins
        assert netc("train", net, "--data", data, "--out", cut).code == 130
    r = netc("train", "--resume", cut)
    assert r.code == 0, r.err
    assert "resuming at epoch 3 of 3" in r.out

    def rows(run):
        with open(run / "metrics.csv") as f:
            return list(csv.DictReader(f))

    a, b = rows(whole), rows(cut)
    assert [x["epoch"] for x in a] == ["1", "2", "3"] and [x["test_acc"] for x in a[:2]] == ["", ""]
    for x, y in zip(a, b):
        for col in ("lr", "train_loss", "train_acc", "test_loss", "test_acc"):
            assert x[col] == y[col], col
    wa = torch.load(whole / "weights-run0.pt", weights_only=True)
    wb = torch.load(cut / "weights-run0.pt", weights_only=True)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    res = json.loads((cut / "result.json").read_text())
    assert res["complete"] and res["runs"][0]["epochs"] == 3
    report = netc("report", tmp_path)
    assert report.code == 0 and "a" in report.out


def test_the_documented_airbench_settings_are_airbenchs_recipe():
    """docs/training.md's train { } for airbench94 parses, and its numbers are airbench's: 476 steps,
    its triangular schedule at every step, its step sizes and decays."""
    from train_fixtures import REPO

    text = (REPO / "docs/training.md").read_text().split("### airbench94")[1]
    block = text.split("```\n")[1]
    s = dsl.loads_job(f"input 3x32x32\nconv_bn(8) -> gmp -> linear(10)\n{block}").settings
    n, bs = 50_000, 1024
    assert (s.steps_per_epoch(n), s.total_steps(n), s.epoch_count) == (48, 476, 10)
    total = 476
    xp, fp = [0, int(0.23 * total), total], [0.2, 1.0, 0.07]
    momentum = 0.85
    kilostep = 1024 * (1 + 1 / (1 - momentum))
    lr_a, wd_a = 11.5 / kilostep, 0.0153 * bs / kilostep
    for step in range(total):
        ours = lr_at(s.lr, step // 48 + (step % 48) / 48) / bs  # what the engine puts in the optimizer
        assert ours == pytest.approx(lr_a * float(np.interp(step, xp, fp)), rel=1e-9)
    assert s.momentum == momentum and s.nesterov and s.label_smoothing == 0.2
    assert s.weight_decay * bs == pytest.approx(wd_a / lr_a, rel=1e-12)  # torch's weight_decay, other params
    assert s.weight_decay * bs * s.norm_bias_decay == pytest.approx(wd_a / (64 * lr_a), rel=1e-12)
    assert s.norm_bias_lr == 64 and (s.ema_every, s.ema_start, s.ema_decay, s.ema_power) == (5, 3, 0.95**5, 3)
    assert (s.pad, s.cutout, s.flip, s.flip_mode, s.tta, s.eval_every_epoch, s.drop_last) == (
        2,
        0,
        True,
        "alternate",
        2,
        False,
        True,
    )
    assert s.std == (0.2470, 0.2435, 0.2616) and s.calibration_images == 5000 and s.eval_batch_size == 2000
