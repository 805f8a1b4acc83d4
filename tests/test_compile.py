"""The torch compiler: every net builds, counts match torch, and outputs match hand-written PyTorch."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.nn as nn
from conftest import NETS, ROOT

import dsl


@pytest.mark.parametrize("path", NETS, ids=[p.stem for p in NETS])
def test_every_net_compiles_and_maps_a_batch_to_logits(path):
    g = dsl.load(path)
    torch.manual_seed(0)
    model = dsl.build(g)
    with torch.no_grad():
        out = model.eval()(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)
    assert g.params == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("path", [p for p in NETS if p.stem.startswith("search_")], ids=lambda p: p.stem)
def test_every_search_variant_compiles(path):
    for name in dsl.variants(path):
        g = dsl.load(path, variant=name)
        model = dsl.build(g)
        assert g.params == sum(p.numel() for p in model.parameters()), name
        assert model.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 10)


def test_residual_l1_l3_has_the_articles_parameter_count():
    g = dsl.load(ROOT / "nets/residual_l1_l3.net")
    model = dsl.build(g)
    assert g.params == 6_573_120 == sum(p.numel() for p in model.parameters())


def test_module_names_follow_the_net_structure():
    model = dsl.build(dsl.load(ROOT / "nets/residual_l1_l3.net"))
    assert isinstance(model.layer1.res.conv_bn_1.conv, nn.Conv2d)
    assert model.layer1.res.conv_bn_1.conv.bias is None
    assert model.fc.linear.bias is None
    text = str(model)
    assert "(res): res(" in text and "(conv_bn_2): conv_bn(" in text and "Scale(weight=0.125)" in text
    names = [n for n, _ in model.named_parameters()]
    assert names[0] == "prep.conv_bn.conv.weight" and "layer3.res.conv_bn_2.bn.bias" in names


def test_bn_init_options():
    g = dsl.loads("conv(4) -> bn -> bn(weight=uniform, bias=0.5) -> bn(weight=0.25, frozen=true) -> gap")
    torch.manual_seed(0)
    m = dsl.build(g)
    assert torch.all(m.bn_1.weight == 1) and torch.all(m.bn_1.bias == 0)
    w = m.bn_2.weight
    assert torch.all((w >= 0) & (w <= 1)) and w.std() > 0 and torch.all(m.bn_2.bias == 0.5)
    assert torch.all(m.bn_3.weight == 0.25) and not m.bn_3.weight.requires_grad


class _ConvBN(nn.Sequential):
    def __init__(self, cin, cout):
        super().__init__(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class _Residual(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.a, self.b = _ConvBN(c, c), _ConvBN(c, c)

    def forward(self, x):
        return x + self.b(self.a(x))


class HandResNet9(nn.Module):
    """Residual:L1+L3 written by hand, independently of netc."""

    def __init__(self):
        super().__init__()
        self.prep = _ConvBN(3, 64)
        self.layer1 = nn.Sequential(_ConvBN(64, 128), nn.MaxPool2d(2), _Residual(128))
        self.layer2 = nn.Sequential(_ConvBN(128, 256), nn.MaxPool2d(2))
        self.layer3 = nn.Sequential(_ConvBN(256, 512), nn.MaxPool2d(2), _Residual(512))
        self.linear = nn.Linear(512, 10, bias=False)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.prep(x))))
        return self.linear(nn.functional.max_pool2d(x, 4).flatten(1)) * 0.125


@pytest.mark.parametrize("train_mode", [False, True])
def test_compiled_module_matches_hand_written_pytorch(train_mode):
    torch.manual_seed(1)
    hand = HandResNet9()
    with torch.no_grad():  # non-trivial BN statistics and affine parameters
        for m in hand.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    net = dsl.build(dsl.load(ROOT / "nets/residual_l1_l3.net"))
    hs, ns = hand.state_dict(), net.state_dict()
    assert [v.shape for v in hs.values()] == [v.shape for v in ns.values()]
    net.load_state_dict(dict(zip(ns.keys(), hs.values())))
    hand.train(train_mode)
    net.train(train_mode)
    x = torch.randn(4, 3, 32, 32)
    torch.testing.assert_close(net(x), hand(x), rtol=0, atol=0)


def test_compiled_module_backpropagates_like_the_hand_written_one():
    torch.manual_seed(2)
    hand = HandResNet9()
    net = dsl.build(dsl.load(ROOT / "nets/residual_l1_l3.net"))
    net.load_state_dict(dict(zip(net.state_dict().keys(), hand.state_dict().values())))
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    nn.functional.cross_entropy(hand(x), y).backward()
    nn.functional.cross_entropy(net(x), y).backward()
    for ph, pn in zip(hand.parameters(), net.parameters()):
        torch.testing.assert_close(pn.grad, ph.grad, rtol=1e-5, atol=1e-6)


def test_check_and_summary_never_import_torch():
    code = (
        "import sys; from dsl.cli import main; rc = main(['check', 'nets/residual_l1_l3.net', "
        "'nets/search_residual.net']); rc2 = main(['summary', '--json', 'nets/residual_l1_l3.net']); "
        "assert rc == rc2 == 0; assert 'torch' not in sys.modules, 'torch imported'"
    )
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
