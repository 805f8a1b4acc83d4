"""The model zoo, part B (nets/zoo/): MobileNetV2, MobileNetV3-Small and -Large, EfficientNet-B0 and V2-S,
ConvNeXt-T, ShuffleNetV2 x1.0, MNASNet 1.0 and RegNetY-400MF against torchvision (the ops ShuffleNetV2 needs,
`chunk` and `shuffle`: test_zoo_shufflenet.py).

For every network: the parameter count equals torchvision's (and the file's header comment, and the
`num_params` of torchvision's weights), its MACs equal the `_ops` torchvision publishes (at 224×224; at the
size its weights are evaluated at, 384×384, for EfficientNetV2-S); every
BatchNorm, LayerNorm, Dropout and stochastic-depth module has torchvision's eps, momentum and p; with
torchvision's weights loaded the outputs are equal in eval mode and, with the same random draws (dropout
and stochastic depth draw in the same order), in train mode, with equal gradients and BN statistics;
`netc summary`'s totals, `netc check` and `netc draw` are tested for every zoo file in test_zoo_front.py.

How torchvision's weights are loaded. MobileNetV2, MobileNetV3-Small, EfficientNet-B0 and ShuffleNetV2 give
every module torchvision's name (numbered lists for its nn.Sequential, names for the rest), so torchvision's
state dict loads by key with strict=True, as it is. ConvNeXt-T has torchvision's names too, but two kinds of tensors
are stored differently, and `to_netc` converts them by rule (then loads by key, strict=True):
- torchvision's CNBlock applies nn.Linear layers (block.3, block.5) to channels-last maps; netc writes them
  as 1×1 convs, whose weight is the Linear's (out, in) weight reshaped to (out, in, 1, 1);
- torchvision's layer scale is a bare parameter of the block (`features.1.0.layer_scale`, registered before
  the block's layers); netc's is the `layer_scale` op after the layers (`features.1.0.layer_scale.weight`),
  with the same (C, 1, 1) shape.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torchvision
from conftest import ROOT
from torch import nn
from torchvision.ops import StochasticDepth
from zoo_common import built_once, max_diff

import dsl
from dsl.nn.modules import DropPath

ZOO = ROOT / "nets" / "zoo"
SIZE = 64  # test resolution: each network divides it by 32 and leaves a 2×2 map
BATCH = 2
TOL = 1e-5

M = torchvision.models
# name: (torchvision constructor, its weights enum: the published parameter count and GMACs)
ZOO_B = {
    "mobilenet_v2": (M.mobilenet_v2, M.MobileNet_V2_Weights),
    "mobilenet_v3_small": (M.mobilenet_v3_small, M.MobileNet_V3_Small_Weights),
    "efficientnet_b0": (M.efficientnet_b0, M.EfficientNet_B0_Weights),
    "convnext_tiny": (M.convnext_tiny, M.ConvNeXt_Tiny_Weights),
    "shufflenet_v2_x1_0": (M.shufflenet_v2_x1_0, M.ShuffleNet_V2_X1_0_Weights),
    "mnasnet1_0": (M.mnasnet1_0, M.MNASNet1_0_Weights),
    "mobilenet_v3_large": (M.mobilenet_v3_large, M.MobileNet_V3_Large_Weights),
    "efficientnet_v2_s": (M.efficientnet_v2_s, M.EfficientNet_V2_S_Weights),
    "regnet_y_400mf": (M.regnet_y_400mf, M.RegNet_Y_400MF_Weights),
}
NAMES = list(ZOO_B)
# torchvision's state dict as it is
BY_KEY = [
    "mobilenet_v2",
    "mobilenet_v3_small",
    "efficientnet_b0",
    "shufflenet_v2_x1_0",
    "mnasnet1_0",
    "mobilenet_v3_large",
    "efficientnet_v2_s",
    "regnet_y_400mf",
]


def path(name: str):
    return ZOO / f"{name}.net"


# ----------------------------------------------------------------------------- torchvision's weights in netc
def torchvision_key(key: str) -> str:
    """The torchvision state-dict key of a netc key: the same, except ConvNeXt's layer scale."""
    return key.removesuffix(".weight") if key.endswith(".layer_scale.weight") else key


def to_netc(model: nn.Module, state: dict) -> dict:
    """torchvision's state dict keyed and shaped for the netc module `model` (see the module docstring)."""
    ours = model.state_dict()
    assert len(ours) == len(state)
    out = {}
    for k, v in ours.items():
        t = state[torchvision_key(k)]
        if t.shape != v.shape:  # only a Linear's (out, in) weight held by a 1×1 conv
            assert k.endswith((".block.3.weight", ".block.5.weight")) and (*t.shape, 1, 1) == v.shape, k
            t = t.reshape(v.shape)
        out[k] = t
    return out


def randomise(ref: nn.Module) -> None:
    """Non-trivial norms, biases, statistics and layer scales (torchvision initialises BN to the identity,
    biases to 0 and ConvNeXt's layer scale to 1e-6, under which a dropped term would not show)."""
    with torch.no_grad():
        for k, t in ref.state_dict().items():
            if not t.is_floating_point():
                continue
            if k.endswith("running_var"):
                t.uniform_(0.5, 1.5)
            elif k.endswith(("running_mean", "bias")):
                t.uniform_(-0.2, 0.2)
            elif t.dim() <= 1 or k.endswith("layer_scale"):
                t.uniform_(0.5, 1.5)


class Pair:
    """A zoo file's graph at the test size, its compiled module with torchvision's weights, and torchvision's."""

    def __init__(self, name: str):
        make, self.weights = ZOO_B[name]
        torch.manual_seed(0)
        self.ref = make().eval()
        randomise(self.ref)
        self.graph = dsl.load(path(name), input_shape=(3, SIZE, SIZE))
        self.model = dsl.build(self.graph).eval()
        self.model.load_state_dict(to_netc(self.model, self.ref.state_dict()), strict=True)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These networks are small at 64×64 and batch 2: one intra-op thread runs them in milliseconds, while
    two OpenMP threads on cores that another process is also using wait on each other for seconds per
    forward pass (measured: 2.6 s instead of 0.02 s for EfficientNet-B0). Restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def pairs():
    yield from built_once(Pair)


# ----------------------------------------------------------------------------- counts, names, settings
@pytest.mark.parametrize("name", NAMES)
def test_counts_equal_torchvisions_and_the_header(name, pairs):
    p = pairs(name)
    n = sum(t.numel() for t in p.ref.parameters())
    assert p.graph.params == n == sum(t.numel() for t in p.model.parameters())
    full = dsl.load(path(name))  # the file as written: 3×224×224, 1000 classes
    assert full.input_shape == (3, 224, 224) and full.output_shape == (1000,)
    meta = p.weights.DEFAULT.meta
    assert full.params == n == meta["num_params"]
    # torchvision's "GFLOPS" are multiply-accumulates, counted at the size its weights are evaluated at
    # (224, but 384 for EfficientNetV2-S)
    side = p.weights.DEFAULT.transforms().crop_size[0]
    published = full if side == 224 else dsl.load(path(name), input_shape=(3, side, side))
    assert round(published.macs / 1e9, 3) == meta["_ops"]
    header = "".join(line for line in path(name).read_text().splitlines(keepends=True) if line.startswith("#"))
    assert f"torchvision.models.{name}:" in header
    assert f"{n:,} parameters" in header, header
    macs = f"{full.macs / 1e9:.2f} GMACs" if full.macs >= 1e9 else f"{full.macs / 1e6:.1f} MMACs"
    assert f"{macs} at 3x224x224" in header, (macs, header)


@pytest.mark.parametrize("name", BY_KEY)
def test_torchvisions_state_dict_loads_by_key(name, pairs):
    p = pairs(name)
    assert list(p.model.state_dict()) == list(p.ref.state_dict())
    fresh = dsl.build(dsl.load(path(name)))  # at 224×224, as torchvision's pretrained weights expect
    fresh.load_state_dict(ZOO_B[name][0]().state_dict(), strict=True)


def test_convnext_differs_from_torchvisions_keys_only_by_the_two_rules(pairs):
    p = pairs("convnext_tiny")
    ours, theirs = p.model.state_dict(), p.ref.state_dict()
    renamed = [k for k in ours if torchvision_key(k) != k]
    reshaped = [k for k in ours if ours[k].shape != theirs[torchvision_key(k)].shape]
    assert len(renamed) == 18 and all(k.endswith(".layer_scale.weight") for k in renamed)  # one per block
    assert len(reshaped) == 36 and all(k.endswith((".block.3.weight", ".block.5.weight")) for k in reshaped)
    assert sorted(map(torchvision_key, ours)) == sorted(theirs)
    assert ours["features.1.0.block.3.weight"].shape == (384, 96, 1, 1)
    assert theirs["features.1.0.block.3.weight"].shape == (384, 96)


@pytest.mark.parametrize("name", NAMES)
def test_norms_dropout_and_stochastic_depth_have_torchvisions_settings(name, pairs):
    p = pairs(name)
    checked = {nn.BatchNorm2d: 0, nn.LayerNorm: 0, nn.Dropout: 0, DropPath: 0}
    for k, m in p.model.named_modules():
        kind = next((t for t in checked if isinstance(m, t)), None)
        if kind is None:
            continue
        r = p.ref.get_submodule(k)  # the module of the same name in torchvision's network
        if kind is nn.BatchNorm2d:
            assert isinstance(r, nn.BatchNorm2d) and (m.eps, m.momentum) == (r.eps, r.momentum), k
        elif kind is nn.LayerNorm:  # torchvision: LayerNorm2d, or nn.LayerNorm on channels-last maps
            assert isinstance(r, nn.LayerNorm) and (m.eps, m.normalized_shape) == (r.eps, r.normalized_shape), k
        elif kind is nn.Dropout:
            assert isinstance(r, nn.Dropout) and m.p == r.p, k
        else:
            assert isinstance(r, StochasticDepth) and r.mode == "row" and m.p == r.p, k
        checked[kind] += 1
    # every block that adds its input has its stochastic depth (torchvision also makes one, unused, for
    # the blocks that do not add: MBConv's use_res_connect)
    adding = [
        k
        for k, m in p.ref.named_modules()
        if isinstance(m, StochasticDepth) and getattr(p.ref.get_submodule(k.rpartition(".")[0]), "use_res_connect", 1)
    ]
    assert checked[DropPath] == len(adding)
    assert checked[nn.BatchNorm2d] == sum(isinstance(m, nn.BatchNorm2d) for m in p.ref.modules())
    assert checked[nn.LayerNorm] == sum(isinstance(m, nn.LayerNorm) for m in p.ref.modules())
    assert checked[nn.Dropout] == sum(isinstance(m, nn.Dropout) for m in p.ref.modules())  # ConvNeXt has none


# ----------------------------------------------------------------------------- outputs
@pytest.mark.parametrize("name", NAMES)
def test_outputs_equal_torchvisions_in_eval_mode(name, pairs):
    p = pairs(name)
    torch.manual_seed(1)
    x = torch.randn(BATCH, 3, SIZE, SIZE)
    with torch.no_grad():
        ours, theirs = p.model(x), p.ref(x)
    assert tuple(ours.shape) == (BATCH, *p.graph.output_shape) == (BATCH, 1000)
    assert theirs.abs().max() > 0.1  # outputs of some size, so the tolerance means something
    assert max_diff(ours, theirs) <= TOL


@pytest.mark.parametrize("name", NAMES)
def test_train_mode_equals_torchvisions_with_the_same_random_draws(name, pairs):
    """Dropout and stochastic depth at torchvision's rates: both draw from torch's generator in forward
    order, so from the same seed they drop the same units and samples; BN uses batch statistics and
    updates its running ones with its momentum."""
    p = pairs(name)
    model, ref = copy.deepcopy(p.model).train(), copy.deepcopy(p.ref).train()
    x = torch.randn(BATCH, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(2))
    torch.manual_seed(3)
    ours = model(x)
    torch.manual_seed(3)
    theirs = ref(x)
    assert max_diff(ours, theirs) <= TOL
    ours.square().mean().backward()
    theirs.square().mean().backward()
    grads = {k: t.grad for k, t in ref.named_parameters()}
    for k, t in model.named_parameters():
        assert max_diff(t.grad, grads[torchvision_key(k)].reshape(t.shape)) <= TOL, k
    state = to_netc(model, ref.state_dict())
    for k, t in model.state_dict().items():  # running_mean/var moved by the momentum, num_batches_tracked 1
        assert max_diff(t.double(), state[k].double()) <= TOL, k
