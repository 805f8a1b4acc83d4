"""nets/airbench94.net's network against a plain-PyTorch airbench94 network written here from the
paper's description (same weights by key, equal outputs), the whitening initialisation against a
direct NumPy computation, and the pieces the recipe relies on (`dirac_part`, calibration, set_epoch)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
from conftest import ROOT

import dsl
from dsl.nn.calibrate import calibrate

AIRBENCH = ROOT / "nets" / "airbench94.net"


class Group(nn.Module):
    """conv -> 2x2 max pool -> BN -> GELU -> conv -> BN -> GELU, as the paper describes a block."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding="same", bias=False)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = nn.BatchNorm2d(c_out, eps=1e-12, momentum=0.4)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding="same", bias=False)
        self.norm2 = nn.BatchNorm2d(c_out, eps=1e-12, momentum=0.4)
        self.activ = nn.GELU()

    def forward(self, x):
        x = self.activ(self.norm1(self.pool(self.conv1(x))))
        return self.activ(self.norm2(self.conv2(x)))


class Scale(nn.Module):
    def forward(self, x):
        return x / 9


def reference() -> nn.Sequential:
    """airbench94's network: 2x2 whitening conv (24 channels, bias), GELU, groups of 64, 256, 256
    channels, 3x3 max pool, linear without bias, output scale 1/9."""
    return nn.Sequential(
        nn.Conv2d(3, 24, 2, padding=0, bias=True),
        nn.GELU(),
        Group(24, 64),
        Group(64, 256),
        Group(256, 256),
        nn.MaxPool2d(3),
        nn.Flatten(),
        nn.Linear(256, 10, bias=False),
        Scale(),
    )


@pytest.fixture(scope="module")
def pair():
    torch.manual_seed(0)
    graph = dsl.load(AIRBENCH)
    ours, ref = dsl.build(graph), reference()
    with torch.no_grad():  # every parameter and statistic away from its initial value, so nothing is missed
        for k, v in ref.state_dict().items():
            if v.is_floating_point():
                v.copy_(torch.rand_like(v) + 0.5 if "running_var" in k else torch.randn_like(v) * 0.2)
    return graph, ours, ref


def test_parameters_and_keys_are_airbenchs(pair):
    graph, ours, ref = pair
    assert graph.params == sum(p.numel() for p in ref.parameters()) == 1_972_792
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert [tuple(v.shape) for v in ours.state_dict().values()] == [tuple(v.shape) for v in ref.state_dict().values()]


@pytest.mark.parametrize("train", [False, True])
def test_outputs_equal_the_plain_network(pair, train):
    graph, ours, ref = pair
    ours.load_state_dict(ref.state_dict(), strict=True)
    ours.train(train), ref.train(train)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert (ours(x) - ref(x)).abs().max().item() <= 1e-5


def test_what_trains_as_in_airbench(pair):
    graph, ours, _ = pair
    trainable = {k for k, p in ours.named_parameters() if p.requires_grad}
    frozen = {k for k, p in ours.named_parameters() if not p.requires_grad}
    assert frozen == {"0.weight"} | {f"{g}.norm{i}.weight" for g in (2, 3, 4) for i in (1, 2)}
    assert "0.bias" in trainable and "2.norm1.bias" in trainable and "7.weight" in trainable


def numpy_whitening(x: np.ndarray, k: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending) and the whitening filters of x's k×k patches, computed directly."""
    n, c, h, w = x.shape
    patches = [
        x[i, :, r : r + k, s : s + k].reshape(-1) for i in range(n) for r in range(h - k + 1) for s in range(w - k + 1)
    ]
    p = np.array(patches, dtype=np.float64)
    cov = p.T @ p / len(p)
    values, vectors = np.linalg.eigh(cov)
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order].T
    filters = vectors / np.sqrt(values + eps)[:, None]
    return values, filters.reshape(-1, c, k, k)


def test_whitening_init_equals_a_direct_numpy_computation():
    graph = dsl.load(AIRBENCH)
    model = dsl.build(graph)
    x = torch.randn(6, 3, 9, 7) * torch.tensor([1.0, 2.0, 0.5]).view(1, 3, 1, 1) + 0.3
    assert calibrate(model, x) == ["0"]
    w = model.get_submodule("0").weight.detach().double().numpy()
    values, expected = numpy_whitening(x.double().numpy(), 2, 5e-4)
    half = len(expected)
    assert w.shape == (2 * half, 3, 2, 2) and half == 12
    np.testing.assert_allclose(w[half:], -w[:half])
    for i in range(half):  # an eigenvector's sign is arbitrary: equal up to sign, filter by filter
        a, b = w[i].ravel(), expected[i].ravel()
        sign = np.sign(a @ b)
        np.testing.assert_allclose(a, sign * b, rtol=1e-3, atol=1e-4)
    # and the filters do whiten: the patches' covariance after them is diag(values / (values + eps))
    n, c, h, wd = x.shape
    p = np.array(
        [
            x[i, :, r : r + 2, s : s + 2].double().numpy().ravel()
            for i in range(n)
            for r in range(h - 1)
            for s in range(wd - 1)
        ]
    )
    f = w[:half].reshape(half, -1)
    out = p @ f.T
    np.testing.assert_allclose(out.T @ out / len(p), np.diag(values / (values + 5e-4)), atol=1e-3)


def test_calibration_leaves_batch_norm_statistics_and_mode_alone():
    model = dsl.build(dsl.loads("input 3x8x8\nwhiten -> bn -> gmp -> linear(2)"))
    model.train()
    before = model.bn.running_mean.clone()
    assert calibrate(model, torch.randn(4, 3, 8, 8) + 5) == ["whiten"]
    assert model.training and torch.equal(model.bn.running_mean, before)
    assert calibrate(dsl.build(dsl.loads("input 3x8x8\nconv(4) -> gmp -> linear(2)")), torch.randn(2, 3, 8, 8)) == []


def test_calibration_follows_the_forward_order():
    order = []

    class Probe(nn.Module):
        def __init__(self, name):
            super().__init__()
            self.name, self.scale = name, 1.0

        def calibrate(self, x):
            order.append((self.name, round(float(x.std()), 3)))
            self.scale = 1 / float(x.std())

        def forward(self, x):
            return x * self.scale

    net = nn.Sequential()
    net.add_module("b_second", Probe("a"))  # registered names in another order than the forward's
    net.add_module("a_first", Probe("b"))
    net.forward = lambda x: net.a_first(net.b_second(x))  # type: ignore[method-assign]
    calibrate(net, torch.randn(1000) * 4)
    assert [n for n, _ in order] == ["a", "b"] and order[1][1] == 1.0  # the second saw the calibrated first


def test_dirac_part_init_and_the_whitening_bias_schedule():
    model = dsl.build(dsl.load(AIRBENCH))
    w = model.get_submodule("3.conv1").weight.detach()  # 64 -> 256
    identity = torch.zeros(64, 64, 3, 3)
    identity[torch.arange(64), torch.arange(64), 1, 1] = 1
    assert torch.equal(w[:64], identity) and w[64:].abs().sum() > 0  # the rest keeps PyTorch's init
    whiten = model.get_submodule("0")
    for epoch, trains in ((0, True), (2, True), (3, False), (7, False)):
        whiten.set_epoch(epoch)
        assert whiten.bias.requires_grad is trains and not whiten.weight.requires_grad


def test_netc_train_calibrates_the_whitening_from_the_first_training_images(tmp_path, capsys):
    """The whole file through `netc train` on CPU (small generated data, smaller batches): the whitening
    weights it ends with are those of the first training images, normalised as training does."""
    from train_fixtures import write_npz

    from dsl.cli import main

    data = write_npz(tmp_path / "d.npz", 128, 32, size=32)
    run = tmp_path / "run"
    args = ["train", str(AIRBENCH), "--data", str(data), "--out", str(run), "--epochs", "2", "--batch-size", "64"]
    assert main(args) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "calibration" in out
    trained = dsl.load_run(run)
    s = trained.settings
    images = np.load(data)["train_x"]  # N, H, W, C uint8, in stored order
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    x = (x - torch.tensor(s.mean).view(1, 3, 1, 1)) / torch.tensor(s.std).view(1, 3, 1, 1)
    fresh = dsl.build(trained.graph)
    calibrate(fresh, x[: s.calibration_images])
    # (the trainer normalises as (p - 255 mean) / (255 std) in float32: the last digits differ)
    got, want = trained.model.get_submodule("0").weight, fresh.get_submodule("0").weight
    assert torch.allclose(got, want, rtol=1e-3, atol=1e-3)
    assert not torch.allclose(got, dsl.build(trained.graph).get_submodule("0").weight, atol=1e-2)  # not the default
    with open(run / "metrics.csv") as f:
        rows = f.read().splitlines()
    assert len(rows) == 3  # a header and two epochs
