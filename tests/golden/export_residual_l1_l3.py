"""residual_l1_l3: PyTorch source exported by netc from nets/residual_l1_l3.net.

Input 3×32×32 (a batch: (N, 3, 32, 32)), output 10;
6,573,120 parameters; netc fingerprint 40820e7764bcd35a. Needs only torch.
`ResidualL1L3()` has the modules and state_dict() keys of netc's dsl.build, so weights move both ways:

    model = ResidualL1L3()
    model.load_state_dict(torch.load("residual_l1_l3.pt", weights_only=True))

Initial weights follow each module's own initialisation (netc's init= options and batch-norm fills
are not repeated here): load trained weights, or the state dict of dsl.build, for netc's.
"""

from __future__ import annotations

import torch
from torch import nn

# How the network's inputs are prepared (as in its training recipe): uint8 images
# (N, C, H, W) of INPUT_SHAPE, pixels p -> (p / 255 - MEAN) / STD per channel.
INPUT_SHAPE = (3, 32, 32)
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2471, 0.2435, 0.2616)
CLASSES = None  # the output classes' names, when the training data named them


def preprocess(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (N, C, H, W) -> the float32 input the network was trained on."""
    c = images.shape[1]
    mean = torch.tensor(MEAN, device=images.device).reshape(1, c, 1, 1) * 255
    std = torch.tensor(STD, device=images.device).reshape(1, c, 1, 1) * 255
    return (images.float() - mean) / std


class ConvBn(nn.Module):
    """The .net definition `conv_bn` (8 instances)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        x = self.bn(x)
        x = self.relu(x)
        return x


class Prep(nn.Module):
    """The .net definition `prep`."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_bn = ConvBn(3, 64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_bn(x)
        return x


class Res(nn.Module):
    """The .net definition `res` (2 instances)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.conv_bn_1 = ConvBn(in_channels, in_channels)
        self.conv_bn_2 = ConvBn(in_channels, in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_bn_1(x)
        out = self.conv_bn_2(out)
        x = x + out
        return x


class Layer1(nn.Module):
    """The .net definition `layer1`."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_bn = ConvBn(64, 128)
        self.maxpool = nn.MaxPool2d(2)
        self.res = Res(128)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_bn(x)
        x = self.maxpool(x)
        x = self.res(x)
        return x


class Layer2(nn.Module):
    """The .net definition `layer2`."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_bn = ConvBn(128, 256)
        self.maxpool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_bn(x)
        x = self.maxpool(x)
        return x


class Layer3(nn.Module):
    """The .net definition `layer3`."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_bn = ConvBn(256, 512)
        self.maxpool = nn.MaxPool2d(2)
        self.res = Res(512)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_bn(x)
        x = self.maxpool(x)
        x = self.res(x)
        return x


class Fc(nn.Module):
    """The .net definition `fc`."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(512, 10, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.linear(x)
        x = x * 0.125
        return x


class ResidualL1L3(nn.Module):
    """The network."""

    def __init__(self) -> None:
        super().__init__()
        self.prep = Prep()
        self.layer1 = Layer1()
        self.layer2 = Layer2()
        self.layer3 = Layer3()
        self.fc = Fc()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.prep(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = torch.amax(x, dim=(2, 3))
        x = self.fc(x)
        return x
