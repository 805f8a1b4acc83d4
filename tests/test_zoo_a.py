"""The model zoo, part A (nets/zoo/): ResNet-18/50, VGG-11-BN, DenseNet-121, SqueezeNet 1.0 against
torchvision, and a U-Net and a small SE-ResNet against plain PyTorch modules written here.

For every network: the parameter count equals the reference's (and the file's header comment);
with the reference's weights loaded the outputs are equal (eval mode, and train mode with the
updated BN statistics where the network has no dropout); `netc summary`'s totals equal torch's
FlopCounterMode, `netc check` accepts the file and `netc draw --direction TB` renders it: test_zoo_front.py.

Weights are loaded by key with strict=True where the file gives every module torchvision's name
(the ResNets, SqueezeNet and the SE block itself), else by position: the same parameters and
buffers in the same order with the same shapes and the same kinds (weight, bias, running_mean, ...).
All references register their modules in forward order, as netc does, so no reordering is needed.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torchvision
from conftest import ROOT
from torch import nn
from torchvision.ops import SqueezeExcitation
from zoo_common import built_once, max_diff

import dsl

ZOO = ROOT / "nets" / "zoo"
SIZE = 64  # test resolution: every network here works at 64×64 (VGG's and DenseNet's /32 leave 2×2)
BATCH = 2
TOL = 1e-5


# ----------------------------------------------------------------------------- references written here
def conv_bn_relu(cin: int, c: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]


class UNetReference(nn.Module):
    """The classic U-Net (Ronneberger et al. 2015) at widths 16-32-64-128 with BN and padded convs, written
    as one would in plain PyTorch: modules are declared in forward order (enc1 … bottom, up3, dec3 … out)."""

    def __init__(self, in_channels: int = 3, classes: int = 2, widths=(16, 32, 64, 128)):
        super().__init__()
        w1, w2, w3, w4 = widths

        def double_conv(cin, c):
            return nn.Sequential(*conv_bn_relu(cin, c), *conv_bn_relu(c, c))

        self.enc1, self.enc2, self.enc3 = double_conv(in_channels, w1), double_conv(w1, w2), double_conv(w2, w3)
        self.bottom = double_conv(w3, w4)
        self.up3, self.dec3 = nn.ConvTranspose2d(w4, w3, 2, stride=2), double_conv(2 * w3, w3)
        self.up2, self.dec2 = nn.ConvTranspose2d(w3, w2, 2, stride=2), double_conv(2 * w2, w2)
        self.up1, self.dec1 = nn.ConvTranspose2d(w2, w1, 2, stride=2), double_conv(2 * w1, w1)
        self.out = nn.Conv2d(w1, classes, 1)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        e3 = self.enc3(self.pool(e2))
        b = self.bottom(self.pool(e3))
        d3 = self.dec3(torch.cat([e3, self.up3(b)], 1))  # skip first, then the upsampled map
        d2 = self.dec2(torch.cat([e2, self.up2(d3)], 1))
        d1 = self.dec1(torch.cat([e1, self.up1(d2)], 1))
        return self.out(d1)


class SEBasicBlock(nn.Module):
    """SE-ResNet basic block (Hu et al. 2017): the SE block rescales the residual branch before the add."""

    def __init__(self, c: int, r: int = 4):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.se = SqueezeExcitation(c, c // r)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.se(self.bn2(self.conv2(y))))


class SENetReference(nn.Sequential):
    """The small SE-ResNet of nets/zoo/se_block.net, with torchvision.ops.SqueezeExcitation."""

    def __init__(self, classes: int = 10):
        super().__init__(
            *conv_bn_relu(3, 32),
            SEBasicBlock(32),
            nn.MaxPool2d(2),
            *conv_bn_relu(32, 64),
            SEBasicBlock(64),
            nn.MaxPool2d(2),
            *conv_bn_relu(64, 128),
            SEBasicBlock(128),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(128, classes),
        )


# ----------------------------------------------------------------------------- the zoo
# name: (reference constructor, load by key with strict=True, has dropout)
ZOO_A = {
    "resnet18": (torchvision.models.resnet18, True, False),
    "resnet50": (torchvision.models.resnet50, True, False),
    "vgg11_bn": (torchvision.models.vgg11_bn, False, True),
    "densenet121": (torchvision.models.densenet121, False, False),
    "squeezenet1_0": (torchvision.models.squeezenet1_0, True, True),
    "unet": (UNetReference, False, False),
    "se_block": (SENetReference, False, False),
}
NAMES = list(ZOO_A)
NO_DROPOUT = [n for n in NAMES if not ZOO_A[n][2]]
REFERENCES = {  # what each header comment must name
    "resnet18": "torchvision.models.resnet18",
    "resnet50": "torchvision.models.resnet50",
    "vgg11_bn": "torchvision.models.vgg11_bn",
    "densenet121": "torchvision.models.densenet121",
    "squeezenet1_0": "torchvision.models.squeezenet1_0",
    "unet": "UNetReference",
    "se_block": "torchvision.ops.SqueezeExcitation",
}


def path(name: str):
    return ZOO / f"{name}.net"


class Pair:
    """A zoo file's graph at the test size, its compiled module with the reference's weights, and the reference."""

    def __init__(self, name: str):
        make, self.by_key, self.dropout = ZOO_A[name]
        torch.manual_seed(0)
        self.ref = make().eval()
        self.graph = dsl.load(path(name), input_shape=(3, SIZE, SIZE))
        self.model = dsl.build(self.graph).eval()
        self.model.load_state_dict(aligned(self.model, self.ref, self.by_key), strict=True)


def aligned(model: nn.Module, ref: nn.Module, by_key: bool) -> dict:
    """The reference's state dict, keyed for `model`: as it is (by key), or by position after checking that
    both list the same kinds of entries (weight, bias, running_mean, …) with the same shapes, in the same order."""
    ours, theirs = model.state_dict(), ref.state_dict()
    if by_key:
        assert list(ours) == list(theirs)
        return theirs
    assert len(ours) == len(theirs)
    for (k, a), (r, b) in zip(ours.items(), theirs.items()):
        assert k.rpartition(".")[2] == r.rpartition(".")[2] and a.shape == b.shape, (k, r, a.shape, b.shape)
    return dict(zip(ours, theirs.values()))


@pytest.fixture(scope="module")
def pairs():
    yield from built_once(Pair)


# ----------------------------------------------------------------------------- counts and outputs
@pytest.mark.parametrize("name", NAMES)
def test_parameter_count_equals_the_reference_and_the_header(name, pairs):
    p = pairs(name)
    n = sum(t.numel() for t in p.ref.parameters())
    assert p.graph.params == n == sum(t.numel() for t in p.model.parameters())
    header = "".join(line for line in path(name).read_text().splitlines(keepends=True) if line.startswith("#"))
    assert REFERENCES[name] in header
    assert f"{n:,} parameters" in header, header
    full = dsl.load(path(name))  # at the declared input size: the same parameters
    assert full.params == n


@pytest.mark.parametrize("name", NAMES)
def test_outputs_equal_the_reference_in_eval_mode(name, pairs):
    p = pairs(name)
    torch.manual_seed(1)
    x = torch.randn(BATCH, 3, SIZE, SIZE)
    with torch.no_grad():
        ours, theirs = p.model(x), p.ref(x)
    assert tuple(ours.shape) == (BATCH, *p.graph.output_shape)
    assert max_diff(ours, theirs) <= TOL


@pytest.mark.parametrize("name", NO_DROPOUT)
def test_outputs_gradients_and_bn_statistics_equal_the_reference_in_train_mode(name, pairs):
    p = pairs(name)
    model, ref = copy.deepcopy(p.model).train(), copy.deepcopy(p.ref).train()
    torch.manual_seed(2)
    x = torch.randn(BATCH, 3, SIZE, SIZE)
    ours, theirs = model(x), ref(x)
    assert max_diff(ours, theirs) <= TOL
    ours.square().mean().backward()
    theirs.square().mean().backward()
    for (k, a), b in zip(model.named_parameters(), ref.parameters()):
        assert max_diff(a.grad, b.grad) <= TOL, k
    buffers = list(ref.buffers())
    assert len(buffers) == len(list(model.buffers()))
    for (k, a), b in zip(model.named_buffers(), buffers):  # running_mean/var updated, num_batches_tracked 1
        assert max_diff(a.double(), b.double()) <= TOL, k
    assert any(k.endswith("running_mean") for k, _ in model.named_buffers())


def test_the_resnets_load_torchvisions_state_dict_by_key(pairs):
    for name in ("resnet18", "resnet50"):
        p = pairs(name)
        keys = list(p.model.state_dict())
        for k in ("conv1.weight", "bn1.running_var", "layer1.0.conv1.weight", "layer2.0.downsample.0.weight",
                  "layer4.1.bn2.bias", "fc.weight", "fc.bias"):  # fmt: skip
            assert k in keys, k
        fresh = dsl.build(dsl.load(path(name)))  # the file as written, at 3×224×224
        fresh.load_state_dict(p.ref.state_dict(), strict=True)
    assert "layer1.0.downsample.0.weight" in pairs("resnet50").model.state_dict()
    assert "layer1.0.downsample.0.weight" not in pairs("resnet18").model.state_dict()


def test_the_se_block_is_torchvisions_squeeze_excitation_by_key():
    g = dsl.loads('use "se_block.net"\ninput 24x5x7\nse(6)', filename=str(ZOO / "se_test.net"))
    model = dsl.build(g).eval()
    torch.manual_seed(3)
    ref = SqueezeExcitation(24, 6).eval()
    model.se.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(BATCH, 24, 5, 7)
    with torch.no_grad():
        assert max_diff(model(x), ref(x)) <= TOL
