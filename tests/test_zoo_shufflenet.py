"""The two ops ShuffleNetV2 (nets/zoo/shufflenet_v2_x1_0.net) needs: `chunk(i, n)`, the i-th of n equal
groups of the channels (its channel split), and `shuffle(groups)`, its channel shuffle.

Each against torch: `chunk` equals torch.chunk(x, n, dim=1)[i] and `shuffle` torchvision's own
`channel_shuffle`, on maps and on flat features; both have no parameters and no MACs; a width that does not
divide, a group that does not exist and tokens are located errors. The whole network against
torchvision.models.shufflenet_v2_x1_0 (torchvision's state dict by key, strict=True; outputs, gradients and BN
statistics in eval and train mode) is in test_zoo_b.py with the other torchvision networks.
"""

from __future__ import annotations

import pytest
import torch
from conftest import ROOT
from torchvision.models.shufflenetv2 import InvertedResidual, channel_shuffle

import dsl
from dsl.core.ops import REGISTRY
from dsl.errors import NetError


def net(body: str, shape: str = "12x5x7") -> tuple[dsl.core.graph.Graph, torch.nn.Module]:
    graph = dsl.loads(f"input {shape}\n{body}", filename="t.net")
    return graph, dsl.build(graph).eval()


@pytest.mark.parametrize("n", [1, 2, 3, 4, 6, 12])
def test_chunk_takes_torchs_chunk_of_the_channels(n):
    x = torch.randn(2, 12, 5, 7)
    for i in range(n):
        graph, model = net(f"chunk({i}, {n})")
        assert graph.output_shape == (12 // n, 5, 7)
        assert graph.params == graph.macs == 0
        assert torch.equal(model(x), torch.chunk(x, n, dim=1)[i])


def test_chunk_of_flat_features_and_chunks_concatenated_give_the_input_back():
    x = torch.randn(2, 12, 5, 7)
    graph, model = net("concat(chunk(0, 3), chunk(1, 3), chunk(2, 3))")
    assert graph.output_shape == (12, 5, 7) and torch.equal(model(x), x)
    graph, model = net("gap -> chunk(1, 4)")
    assert graph.output_shape == (3,)
    assert torch.equal(model(x), x.mean(dim=(2, 3))[:, 3:6])


@pytest.mark.parametrize("groups", [1, 2, 3, 4, 6, 12])
def test_shuffle_equals_torchvisions_channel_shuffle(groups):
    torch.manual_seed(0)
    x = torch.randn(2, 12, 5, 7)
    graph, model = net(f"shuffle({groups})")
    assert graph.output_shape == (12, 5, 7) and graph.params == graph.macs == 0
    assert torch.equal(model(x), channel_shuffle(x, groups))
    # on flat features: the same permutation of the channels
    graph, model = net(f"gap -> shuffle({groups})")
    assert graph.output_shape == (12,)
    assert torch.equal(model(x), channel_shuffle(x, groups).mean(dim=(2, 3)))


def test_shuffle_moves_channel_g_times_c_over_groups_plus_j_to_j_times_groups_plus_g():
    x = torch.arange(12.0).reshape(1, 12, 1, 1)
    _, model = net("shuffle(3)", "12x1x1")
    assert model(x).flatten().tolist() == [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]
    _, model = net("shuffle(3) -> shuffle(4)", "12x1x1")  # groups and C/groups undo each other
    assert torch.equal(model(x), x)


def test_a_unit_equals_torchvisions_inverted_residual_in_both_strides():
    """ShuffleNetV2's units, written with chunk, concat and shuffle as in the zoo file, against torchvision's
    InvertedResidual with its weights (by key, strict=True), BN statistics and affine parameters drawn."""
    torch.manual_seed(0)
    for shape, call, ref in (
        ("24x8x8", "down(48)", InvertedResidual(24, 48, 2)),
        ("48x4x4", "unit", InvertedResidual(48, 48, 1)),
    ):
        text = f'use "nets/zoo/shufflenet_v2_x1_0.net"\ninput {shape}\nu: {call}'
        graph = dsl.loads(text, filename=str(ROOT / "unit.net"))
        with torch.no_grad():
            for k, t in ref.state_dict().items():
                if t.is_floating_point() and t.dim() == 1:
                    t.uniform_(0.5, 1.5) if k.endswith(("running_var", "weight")) else t.uniform_(-0.2, 0.2)
        model = dsl.build(graph).eval()  # the unit, named u
        model.load_state_dict({f"u.{k}": v for k, v in ref.state_dict().items()}, strict=True)
        x = torch.randn(2, *map(int, shape.split("x")))
        with torch.no_grad():
            assert torch.equal(model(x), ref.eval()(x))


@pytest.mark.parametrize(
    "body,where,message",
    [
        ("chunk(0, 5)", "t.net:2:1", "shape mismatch at chunk: 12 channels do not divide into 5 equal groups"),
        ("relu -> chunk(2, 2)", "t.net:2:9", "chunk: there is no group 2 of 2: the groups are numbered 0 to 1"),
        ("chunk(0, 0)", "t.net:2:10", "'n' must be >= 1, got 0"),
        ("chunk(-1, 2)", "t.net:2:7", "'i' must be >= 0"),
        ("shuffle(5)", "t.net:2:1", "shape mismatch at shuffle: 12 channels do not divide into 5 equal groups"),
        ("gap -> shuffle(8)", "t.net:2:8", "12 channels do not divide into 8 equal groups to shuffle (input 12)"),
        ("to_tokens -> shuffle(2)", "t.net:2:14", "shuffle acts on the channels of a map or of flat features, got"),
        ("to_tokens -> chunk(0, 2)", "t.net:2:14", "chunk acts on the channels of a map or of flat features, got"),
        ("shuffle", "t.net:2:1", "groups"),
    ],
)
def test_refusals_are_located(body, where, message):
    with pytest.raises(NetError) as err:
        dsl.loads(f"input 12x5x7\n{body}", filename="t.net")
    text = str(err.value)
    assert text.startswith(f"{where}: error: ") and message in text, text


def test_the_ops_are_parameter_free_wiring():
    for name in ("chunk", "shuffle"):
        op = REGISTRY[name]
        assert op.role == "reshape" and not op.weights and op.style["fillcolor"]
