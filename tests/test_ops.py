"""The primitives of today's convolutional networks, op by op, against plain PyTorch.

For every op: the compiled module equals the torch module or function it stands for (fp32, eval and
train mode where deterministic, weights copied by position), the shape rule equals torch's output
shape over many parameter combinations (property tests: netc accepts exactly what torch runs),
every refusal is a located NetError, `frozen=true` freezes and `init=` takes effect.
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torchvision.models.convnext import LayerNorm2d as TVLayerNorm2d
from torchvision.ops import StochasticDepth

import dsl
from dsl.core.ops import REGISTRY
from dsl.errors import NetError

TOL = 1e-6


def _tuples_supported() -> bool:
    """Whether the front end reads tuple literals in calls (`k=(1, 7)`); pair tests need them."""
    try:
        dsl.loads("input 3x8x8\nconv(4, k=(1, 3))")
    except NetError:
        return False
    return True


TUPLES = _tuples_supported()
needs_tuples = pytest.mark.skipif(not TUPLES, reason="the grammar has no tuple literals yet")


def compile_net(body: str, shape: tuple[int, ...]) -> tuple[dsl.core.graph.Graph, nn.Module]:
    """The graph and module of `body` on inputs of `shape` (C×H×W, or F: an F×1×1 input flattened first)."""
    if len(shape) == 1:
        shape, body = (shape[0], 1, 1), f"flatten -> {body}"
    graph = dsl.loads(f"input {'x'.join(map(str, shape))}\n{body}", filename="t.net")
    return graph, dsl.build(graph)


def run(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """`net` on x; a batch of flat features enters as F×1×1 maps (see compile_net)."""
    return net(x[:, :, None, None] if x.dim() == 2 else x)


def close(a: torch.Tensor, b: torch.Tensor) -> None:
    assert a.shape == b.shape
    assert (a - b).abs().max().item() <= TOL, (a - b).abs().max().item()


def copy_weights(src: nn.Module, dst: nn.Module) -> None:
    """dst gets src's parameters and buffers, by position (the two must have the same shapes)."""
    s, d = src.state_dict(), dst.state_dict()
    assert [v.shape for v in s.values()] == [v.shape for v in d.values()]
    dst.load_state_dict(dict(zip(d.keys(), s.values())))


def randomise(m: nn.Module) -> None:
    """Non-trivial affine parameters and running statistics, so a dropped term would show."""
    with torch.no_grad():
        for name, t in m.state_dict().items():
            if t.is_floating_point():
                if name.endswith("running_var"):
                    t.uniform_(0.5, 1.5)
                elif name.endswith(("weight", "layer_scale")):
                    t.uniform_(0.5, 1.5) if t.dim() <= 1 else t.normal_(0, 0.3)
                else:
                    t.uniform_(-0.5, 0.5)


# ----------------------------------------------------------------------------- outputs equal torch
# (net body, input C×H×W or F, the torch reference, deterministic in train mode too)
MAP, VEC = (6, 9, 11), (10,)
CASES = [
    # activations, on maps and on flat features
    ("relu", MAP, lambda: nn.ReLU(), True),
    ("gelu", MAP, lambda: nn.GELU(), True),
    ("gelu(approximate=tanh)", VEC, lambda: nn.GELU(approximate="tanh"), True),
    ("silu", MAP, lambda: nn.SiLU(), True),
    ("sigmoid", VEC, lambda: nn.Sigmoid(), True),
    ("tanh", MAP, lambda: nn.Tanh(), True),
    ("relu6", MAP, lambda: nn.ReLU6(), True),
    ("leaky_relu", MAP, lambda: nn.LeakyReLU(), True),
    ("leaky_relu(0.2)", VEC, lambda: nn.LeakyReLU(0.2), True),
    ("hardswish", MAP, lambda: nn.Hardswish(), True),
    ("hardsigmoid", VEC, lambda: nn.Hardsigmoid(), True),
    ("elu", MAP, lambda: nn.ELU(), True),
    ("elu(alpha=0.5)", VEC, lambda: nn.ELU(0.5), True),
    ("softmax", MAP, lambda: nn.Softmax(dim=1), True),
    ("softmax", VEC, lambda: nn.Softmax(dim=1), True),
    # normalisation
    ("bn", MAP, lambda: nn.BatchNorm2d(6), True),
    ("bn(affine=false)", MAP, lambda: nn.BatchNorm2d(6, affine=False), True),
    ("bn(eps=1e-3, momentum=0.01, affine=false)", VEC, lambda: nn.BatchNorm1d(10, 1e-3, 0.01, affine=False), True),
    ("layernorm", MAP, lambda: TVLayerNorm2d(6), True),
    ("layernorm(eps=1e-6)", MAP, lambda: TVLayerNorm2d(6, eps=1e-6), True),
    ("layernorm(affine=false)", MAP, lambda: TVLayerNorm2d(6, elementwise_affine=False), True),
    ("layernorm(1e-6)", VEC, lambda: nn.LayerNorm(10, eps=1e-6), True),
    ("groupnorm(3)", MAP, lambda: nn.GroupNorm(3, 6), True),
    ("groupnorm(2, eps=1e-3, affine=false)", MAP, lambda: nn.GroupNorm(2, 6, 1e-3, affine=False), True),
    ("groupnorm(5)", VEC, lambda: nn.GroupNorm(5, 10), True),
    ("instancenorm", MAP, lambda: nn.InstanceNorm2d(6), True),
    ("instancenorm(1e-3, affine=true)", MAP, lambda: nn.InstanceNorm2d(6, 1e-3, affine=True), True),
    # convolutions
    ("conv(8)", MAP, lambda: nn.Conv2d(6, 8, 3, padding=1), True),
    ("conv(8, k=5, dilation=2)", MAP, lambda: nn.Conv2d(6, 8, 5, padding=4, dilation=2), True),
    ("conv(8, k=3, stride=2, padding=0, dilation=3)", MAP, lambda: nn.Conv2d(6, 8, 3, 2, dilation=3), True),
    ("conv(8, k=4, padding=same)", MAP, lambda: nn.Conv2d(6, 8, 4, padding="same"), True),
    ("conv(8, k=4, padding=same, dilation=3)", MAP, lambda: nn.Conv2d(6, 8, 4, padding="same", dilation=3), True),
    ("conv(8, k=2, padding=same, dilation=2)", MAP, lambda: nn.Conv2d(6, 8, 2, padding="same", dilation=2), True),
    ("conv(4, k=5, padding=same, bias=false)", MAP, lambda: nn.Conv2d(6, 4, 5, padding="same", bias=False), True),
    ("conv(groups=depthwise)", MAP, lambda: nn.Conv2d(6, 6, 3, padding=1, groups=6), True),
    ("conv(12, 5, 2, groups=depthwise)", MAP, lambda: nn.Conv2d(6, 12, 5, 2, 2, groups=6), True),
    ("conv_transpose(4)", MAP, lambda: nn.ConvTranspose2d(6, 4, 3), True),
    (
        "conv_transpose(8, 3, 2, 1, 1, groups=2, dilation=2)",
        MAP,
        lambda: nn.ConvTranspose2d(6, 8, 3, 2, 1, 1, groups=2, dilation=2),
        True,
    ),
    ("conv_transpose(3, k=2, stride=2, bias=false)", MAP, lambda: nn.ConvTranspose2d(6, 3, 2, 2, bias=False), True),
    # pooling and resampling
    ("maxpool(3, stride=2, ceil_mode=true)", MAP, lambda: nn.MaxPool2d(3, 2, ceil_mode=True), True),
    ("avgpool(3, 2, 1, ceil_mode=true)", MAP, lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True), True),
    (
        "avgpool(3, 2, 1, ceil_mode=true, count_include_pad=false)",
        MAP,
        lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False),
        True,
    ),
    ("avgpool(2, count_include_pad=false)", MAP, lambda: nn.AvgPool2d(2, count_include_pad=False), True),
    ("adaptive_avgpool", MAP, lambda: nn.AdaptiveAvgPool2d(1), True),
    ("adaptive_avgpool(4)", MAP, lambda: nn.AdaptiveAvgPool2d(4), True),
    ("adaptive_maxpool(5)", MAP, lambda: nn.AdaptiveMaxPool2d(5), True),
    ("adaptive_maxpool(13)", MAP, lambda: nn.AdaptiveMaxPool2d(13), True),
    ("upsample", MAP, lambda: nn.Upsample(scale_factor=2.0), True),
    ("upsample(1.5, mode=bilinear)", MAP, lambda: nn.Upsample(scale_factor=1.5, mode="bilinear"), True),
    (
        "upsample(3, mode=bilinear, align_corners=true)",
        MAP,
        lambda: nn.Upsample(scale_factor=3.0, mode="bilinear", align_corners=True),
        True,
    ),
    ("upsample(0.5)", MAP, lambda: nn.Upsample(scale_factor=0.5), True),
    # regularisation: identity in eval (train mode is below)
    ("drop_path(0.5)", MAP, lambda: nn.Identity(), False),
    ("drop_path(0)", VEC, lambda: nn.Identity(), True),
]


@pytest.mark.parametrize("body,shape,ref,train_too", CASES, ids=[f"{c[0]}-{len(c[1])}d" for c in CASES])
def test_compiled_op_equals_torch(body, shape, ref, train_too):
    torch.manual_seed(0)
    graph, net = compile_net(body, shape)
    (node,) = [n for n in graph.nodes.values() if n.role not in ("input", "reshape")]
    mod = net.get_submodule(node.name)
    expected = ref()
    randomise(mod)
    copy_weights(mod, expected)
    assert graph.params == sum(p.numel() for p in net.parameters()) == sum(p.numel() for p in expected.parameters())
    x = torch.randn(4, *shape) * 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch: padding="same" with an even kernel copies the input
        for train in (False, True) if train_too else (False,):
            net.train(train)
            expected.train(train)
            out, want = run(net, x), expected(x)
            assert tuple(out.shape) == (4, *graph.output_shape)
            close(out, want)
    for a, b in zip(net.state_dict().values(), expected.state_dict().values()):  # running statistics too
        close(a.float(), b.float())


@needs_tuples
@pytest.mark.parametrize(
    "body,ref",
    [
        ("conv(8, k=(1, 7))", lambda: nn.Conv2d(6, 8, (1, 7), padding=(0, 3))),
        ("conv(8, k=(3, 5), stride=(2, 1), dilation=(1, 2))", lambda: nn.Conv2d(6, 8, (3, 5), (2, 1), (1, 4), (1, 2))),
        ("conv(8, k=(2, 3), padding=same)", lambda: nn.Conv2d(6, 8, (2, 3), padding="same")),
        ("conv(8, k=(5, 1), padding=(1, 0))", lambda: nn.Conv2d(6, 8, (5, 1), padding=(1, 0))),
        (
            "conv_transpose(4, k=(2, 3), stride=(2, 1), output_padding=(1, 0))",
            lambda: nn.ConvTranspose2d(6, 4, (2, 3), (2, 1), output_padding=(1, 0)),
        ),
        (
            "maxpool((3, 2), stride=(2, 1), padding=(1, 0), ceil_mode=true)",
            lambda: nn.MaxPool2d((3, 2), (2, 1), (1, 0), ceil_mode=True),
        ),
        ("avgpool((2, 3))", lambda: nn.AvgPool2d((2, 3))),
        ("adaptive_avgpool((7, 3))", lambda: nn.AdaptiveAvgPool2d((7, 3))),
        ("adaptive_maxpool((1, 4))", lambda: nn.AdaptiveMaxPool2d((1, 4))),
    ],
)
def test_rectangular_windows_equal_torch(body, ref):
    torch.manual_seed(0)
    graph, net = compile_net(body, MAP)
    expected = ref()
    copy_weights(net, expected)
    x = torch.randn(2, *MAP)
    close(net(x), expected(x))
    assert graph.params == sum(p.numel() for p in expected.parameters())


def test_square_pairs_are_stored_as_one_number():
    a, _ = compile_net("conv(8, k=3, stride=1, dilation=1) -> maxpool(2, stride=2) -> adaptive_avgpool(2)", MAP)
    b, _ = compile_net("conv(8, padding=same) -> maxpool(2) -> adaptive_avgpool(2)", MAP)
    assert a.fingerprint == b.fingerprint
    assert a.nodes["conv"].params["padding"] == 1
    if TUPLES:
        c, _ = compile_net("conv(8, k=(3, 3), stride=(1, 1)) -> maxpool((2, 2)) -> adaptive_avgpool((2, 2))", MAP)
        assert c.fingerprint == a.fingerprint


def test_padding_same_with_an_asymmetric_span_stays_same_and_auto_follows_the_dilation():
    g, _ = compile_net(
        "conv(8, k=4, padding=same) -> conv(8, k=3, dilation=2) -> conv(8, k=3, padding=same, dilation=3)", MAP
    )
    assert [n.params["padding"] for n in g.nodes.values() if n.op == "conv"] == ["same", 2, 3]
    assert g.output_shape == (8, 9, 11)


def test_depthwise_groups_follow_the_input_width():
    g, net = compile_net("conv(groups=depthwise) -> conv(12, groups=depthwise) -> conv(groups=depthwise)", MAP)
    assert [n.params["groups"] for n in g.nodes.values() if n.op == "conv"] == [6, 6, 12]
    assert g.output_shape == (12, 9, 11)
    assert net.conv_3.weight.shape == (12, 1, 3, 3)


# ----------------------------------------------------------------------------- merges and gates
def test_mul_is_a_squeeze_and_excitation_gate():
    torch.manual_seed(0)
    g, net = compile_net("mul(identity, gap -> linear(2) -> relu -> linear(6) -> sigmoid)", MAP)
    assert g.output_shape == MAP and g.nodes["mul"].role == "product"
    x = torch.randn(3, *MAP)
    gate = torch.sigmoid(net.linear_2(torch.relu(net.linear_1(x.mean((2, 3))))))
    close(net(x), x * gate[:, :, None, None])


def test_mul_broadcasts_maps_vectors_and_single_positions():
    torch.manual_seed(0)
    g, net = compile_net(
        "mul(identity, adaptive_avgpool -> conv(6, 1) -> hardsigmoid, gap, conv(1, 1) -> sigmoid, identity)", MAP
    )
    assert g.output_shape == MAP
    x = torch.randn(2, *MAP)
    a = F.hardsigmoid(net.conv_1(F.adaptive_avg_pool2d(x, 1)))
    b = x.mean((2, 3))[:, :, None, None]
    c = torch.sigmoid(net.conv_2(x))
    close(net(x), x * a * b * c * x)
    # vectors with vectors; a single position against a map; a vector first
    g, net = compile_net("gap -> mul(identity, sigmoid, linear(6))", MAP)
    x = torch.randn(2, *MAP)
    v = x.mean((2, 3))
    close(net(x), v * torch.sigmoid(v) * net.linear(v))
    g, net = compile_net("mul(gap, adaptive_maxpool(1), identity)", MAP)
    assert g.output_shape == MAP
    close(net(x), x.mean((2, 3))[:, :, None, None] * x.amax((2, 3), keepdim=True) * x)


def test_layer_scale_matches_convnexts_parameter():
    torch.manual_seed(0)
    g, net = compile_net("conv(groups=depthwise, k=7) -> layer_scale", MAP)
    assert net.layer_scale.weight.shape == (6, 1, 1) and torch.all(net.layer_scale.weight == 1e-6)
    assert g.nodes["layer_scale"].n_params == 6
    with torch.no_grad():
        net.layer_scale.weight.uniform_(0.5, 2)
    x = torch.randn(2, *MAP)
    close(net(x), net.layer_scale.weight * net.conv(x))
    g, net = compile_net("gap -> layer_scale(0.5)", MAP)
    assert net.layer_scale.weight.shape == (6,) and torch.all(net.layer_scale.weight == 0.5)
    close(net(x), 0.5 * x.mean((2, 3)))


@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("shape", [MAP, VEC])
def test_drop_path_equals_torchvisions_stochastic_depth(p, shape):
    _, net = compile_net(f"drop_path({p})", shape)
    ref = StochasticDepth(p, "row")
    x = torch.randn(64, *shape)
    for train in (True, False):
        net.train(train)
        ref.train(train)
        torch.manual_seed(3)
        out = run(net, x)
        torch.manual_seed(3)
        close(out, ref(x))
    net.train()
    kept = (run(net, x) != 0).flatten(1).any(1).float().mean().item()
    assert kept == pytest.approx(1 - p, abs=0.25)


# ----------------------------------------------------------------------------- shapes equal torch's
def _value(v: tuple[int, int]) -> str:
    return str(v[0]) if v[0] == v[1] else f"({v[0]}, {v[1]})"


def _pairs(lo: int, hi: int) -> st.SearchStrategy[tuple[int, int]]:
    one = st.integers(lo, hi)
    return st.tuples(one, one) if TUPLES else one.map(lambda v: (v, v))


def _torch_shape(make, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """The module's output shape on a zero batch of one, or None when torch refuses."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return tuple(make()(torch.zeros(1, *shape)).shape[1:])
    except (RuntimeError, ValueError):
        return None


def _netc_shape(body: str, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    try:
        graph, net = compile_net(body, shape)
    except NetError as err:
        assert err.span is not None and err.span.line == 2, str(err)  # located at the call
        return None
    assert tuple(net(torch.zeros(1, *shape)).shape[1:]) == graph.output_shape
    return graph.output_shape


FAST = settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
SIZES = st.tuples(st.integers(1, 4), st.integers(1, 14), st.integers(1, 14))


@FAST
@given(
    SIZES,
    _pairs(1, 5),
    _pairs(1, 3),
    st.one_of(st.just("same"), _pairs(0, 3)),
    _pairs(1, 3),
    st.sampled_from([1, 2, "depthwise"]),
)
def test_conv_shapes_equal_torch(shape, k, stride, padding, dilation, groups):
    c = shape[0]
    g = c if groups == "depthwise" else groups
    pad = padding if padding == "same" else _value(padding)
    body = f"conv({2 * c}, k={_value(k)}, stride={_value(stride)}, padding={pad}, dilation={_value(dilation)}, groups={groups})"
    want = _torch_shape(lambda: nn.Conv2d(c, 2 * c, k, stride, padding, dilation, g), shape)
    assert _netc_shape(body, shape) == want, body


@FAST
@given(SIZES, _pairs(1, 4), _pairs(1, 3), _pairs(0, 3), _pairs(0, 2), _pairs(1, 3))
def test_conv_transpose_shapes_equal_torch(shape, k, stride, padding, output_padding, dilation):
    body = (
        f"conv_transpose(3, k={_value(k)}, stride={_value(stride)}, padding={_value(padding)}, "
        f"output_padding={_value(output_padding)}, dilation={_value(dilation)})"
    )
    want = _torch_shape(
        lambda: nn.ConvTranspose2d(shape[0], 3, k, stride, padding, output_padding, 1, True, dilation), shape
    )
    assert _netc_shape(body, shape) == want, body


@st.composite
def _windows(draw) -> tuple[tuple[int, int], tuple[int, int]]:
    """A window and a padding mostly within half of it (sometimes one more: refused by both)."""
    k = draw(_pairs(1, 5))
    pad = tuple(draw(st.integers(0, side // 2 + (1 if draw(st.integers(0, 5)) == 0 else 0))) for side in k)
    return k, pad if TUPLES else (pad[0], pad[0])


@FAST
@given(SIZES, st.sampled_from(["maxpool", "avgpool"]), _windows(), _pairs(1, 4), st.booleans(), st.booleans())
def test_pool_shapes_equal_torch(shape, op, window, stride, ceil_mode, count_include_pad):
    k, padding = window
    extra = f", count_include_pad={str(count_include_pad).lower()}" if op == "avgpool" else ""
    body = f"{op}({_value(k)}, stride={_value(stride)}, padding={_value(padding)}, ceil_mode={str(ceil_mode).lower()}{extra})"
    if op == "maxpool":
        make = lambda: nn.MaxPool2d(k, stride, padding, ceil_mode=ceil_mode)  # noqa: E731
    else:
        make = lambda: nn.AvgPool2d(k, stride, padding, ceil_mode, count_include_pad)  # noqa: E731
    assert _netc_shape(body, shape) == _torch_shape(make, shape), body


@FAST
@given(SIZES, st.sampled_from(["adaptive_avgpool", "adaptive_maxpool"]), _pairs(1, 16))
def test_adaptive_pool_shapes_equal_torch(shape, op, size):
    cls = nn.AdaptiveAvgPool2d if op == "adaptive_avgpool" else nn.AdaptiveMaxPool2d
    body = f"{op}({_value(size)})"
    assert _netc_shape(body, shape) == _torch_shape(lambda: cls(size), shape) == (shape[0], *size), body


@FAST
@given(
    SIZES,
    st.one_of(st.integers(1, 4).map(float), st.floats(0.05, 4.0, allow_nan=False).map(lambda f: round(f, 3))),
    st.sampled_from(["nearest", "bilinear"]),
)
def test_upsample_shapes_equal_torch(shape, scale, mode):
    body = f"upsample({scale!r}, mode={mode})"
    want = _torch_shape(lambda: nn.Upsample(scale_factor=scale, mode=mode), shape)
    if want is not None and min(want[1:]) == 0:  # torch makes an empty map; netc refuses it
        want = None
    assert _netc_shape(body, shape) == want, body


def test_ceil_mode_rule_equals_torch_exhaustively():
    from dsl.core.ops import spatial

    for size in range(1, 13):
        for k in range(1, 7):
            for stride in range(1, 5):
                for pad in range(0, k // 2 + 1):
                    x = torch.zeros(1, 1, size, 1)
                    try:
                        want = F.max_pool2d(x, (k, 1), (stride, 1), (pad, 0), ceil_mode=True).shape[2]
                    except RuntimeError:
                        want = None
                    got = spatial(size, k, stride, pad, ceil=True)
                    assert (got if got >= 1 else None) == want, (size, k, stride, pad)


# ----------------------------------------------------------------------------- refusals
REFUSALS = [
    # (net body on 8×6×6, message fragment); every one must point at line 2 of the file
    ("conv(8, k=3, stride=2, padding=same)", "padding=same keeps the spatial size only with stride 1"),
    ("conv(8, k=4)", "a 4×4 kernel has no centre"),
    ("conv(8, k=3, padding=even)", "'even'"),
    ("conv(5, groups=depthwise)", "groups=8 must divide both input channels (8) and output channels (5)"),
    ("conv(8, k=3, dilation=4, padding=0)", "shrinks below 1"),
    ("conv(8, dilation=0)", "'dilation' must be >= 1"),
    (
        "conv_transpose(4, stride=2, output_padding=2)",
        "output_padding 2 must be smaller than the stride or the dilation",
    ),
    ("conv_transpose(4, k=1, padding=3)", "leaves 0×0: the padding removes more"),
    ("conv_transpose(4, groups=3)", "groups=3 must divide"),
    ("gap -> conv_transpose(4)", "conv_transpose needs a C×H×W feature map"),
    ("mul(identity, conv(4))", "branches of mul must have shapes that broadcast"),
    ("mul(identity, maxpool(2))", "8×6×6 and 8×3×3"),
    ("mul(identity, gap -> linear(3))", "8×6×6 and 3"),
    ("groupnorm(groups=3)", "groupnorm groups=3 must divide the input's 8 channels"),
    ("groupnorm", "groupnorm needs argument 'groups'"),
    ("adaptive_avgpool(1) -> instancenorm", "has only one"),
    ("gap -> instancenorm", "instancenorm needs a C×H×W feature map"),
    ("bn(affine=false, weight=0.5)", "'weight' sets the affine scale"),
    ("bn(affine=false, frozen=true)", "'frozen' sets the affine scale"),
    ("layernorm(affine=false, init=ones)", "'init' has no effect with affine=false"),
    ("groupnorm(2, affine=false, frozen=true)", "'frozen' has no effect with affine=false"),
    ("instancenorm(init=0.5)", "'init' has no effect with affine=false"),
    ("maxpool(3, stride=2, padding=2, ceil_mode=true)", "is more than half the 3×3 window"),
    ("avgpool(7)", "shrinks below 1"),
    ("adaptive_maxpool(0)", "'size' must be >= 1"),
    ("upsample(0.1)", "shrinks below 1"),
    ("upsample(2, align_corners=true)", "align_corners applies to mode=bilinear only"),
    ("upsample(2, mode=bicubic)", "'bicubic'"),
    ("gap -> upsample", "upsample needs a C×H×W feature map"),
    ("gelu(approximate=exact)", "'exact'"),
    ("drop_path(1.5)", "'p' must be <= 1"),
    ("drop_path", "drop_path needs argument 'p'"),
    ("layer_scale(init=kaiming_normal)", "kaiming_normal"),
    ("gap -> flatten -> mul(identity, identity) -> adaptive_avgpool", "adaptive_avgpool needs a C×H×W feature map"),
]


@pytest.mark.parametrize("body,fragment", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusals_are_located_net_errors(body, fragment):
    with pytest.raises(NetError) as info:
        dsl.loads(f"input 8x6x6\n{body}", filename="r.net")
    err = info.value
    assert fragment in str(err)
    assert err.span is not None and err.span.file == "r.net" and err.span.line == 2, str(err)
    assert str(err).startswith("r.net:2:")


def test_a_mul_mismatch_notes_each_branch():
    with pytest.raises(NetError) as info:
        dsl.loads("input 8x6x6\nmul(identity, conv(4) -> relu)", filename="r.net")
    notes = [text for text, _ in info.value.notes]
    assert notes == ["this branch gives 8×6×6", "this branch gives 4×6×6"]


@needs_tuples
@pytest.mark.parametrize(
    "body,fragment",
    [
        ("conv(8, k=(2, 3))", "a 2×3 kernel has no centre"),
        ("conv(8, k=(3, 3), stride=(1, 2), padding=same)", "got stride (1, 2)"),
        ("maxpool((3, 3), padding=(1, 2))", "padding (1, 2) is more than half the 3×3 window (at most 1)"),
        ("conv_transpose(4, stride=(2, 1), output_padding=(1, 1))", "along the width (1 and 1)"),
        ("conv(8, k=(1, 0))", "'k' must be >= 1"),
    ],
)
def test_pair_refusals_are_located(body, fragment):
    with pytest.raises(NetError) as info:
        dsl.loads(f"input 8x6x6\n{body}", filename="r.net")
    assert fragment in str(info.value) and info.value.span.line == 2


# ----------------------------------------------------------------------------- frozen and init
WEIGHTED = [
    "conv(4, k=2, padding=0)",
    "conv_transpose(4, k=2)",
    "layernorm",
    "groupnorm(2)",
    "instancenorm(affine=true)",
    "layer_scale",
    "linear(4)",
]


def of_op(graph, net: nn.Module, body: str) -> list[nn.Module]:
    """The modules of the nodes of `body`'s op, in order."""
    op = body.partition("(")[0]
    return [net.get_submodule(n.name.replace("/", ".")) for n in graph.nodes.values() if n.op == op]


def _with(body: str, extra: str) -> str:
    return f"{body[:-1]}, {extra})" if body.endswith(")") else f"{body}({extra})"


@pytest.mark.parametrize("body", WEIGHTED)
def test_frozen_ops_get_no_gradient(body):
    assert REGISTRY[body.partition("(")[0]].weights
    shape = VEC if body.startswith("linear") else (4, 5, 5)
    g, net = compile_net(f"{_with(body, 'frozen=true')} -> relu -> {_with(body, 'frozen=false')}", shape)
    frozen, trained = of_op(g, net, body)
    assert list(frozen.parameters()) and not any(p.requires_grad for p in frozen.parameters())
    assert all(p.requires_grad for p in trained.parameters())
    run(net, torch.randn(2, *shape)).square().sum().backward()
    assert all(p.grad is None for p in frozen.parameters())
    assert all(p.grad is not None for p in trained.parameters())


@pytest.mark.parametrize("body", WEIGHTED)
def test_init_values_take_effect(body):
    shape = VEC if body.startswith("linear") else (4, 5, 5)
    torch.manual_seed(0)
    g, net = compile_net(
        f"{_with(body, 'init=0.25')} -> {_with(body, 'init=zeros')} -> {_with(body, 'init=normal, init_std=3')}",
        shape,
    )
    a, b, c = (m.weight for m in of_op(g, net, body))
    assert torch.all(a == 0.25) and torch.all(b == 0)
    assert c.numel() < 8 or 1.5 < c.std().item() < 6


def test_layer_scale_init_names():
    torch.manual_seed(0)
    _, net = compile_net("layer_scale(ones) -> layer_scale(trunc_normal, init_std=0.5) -> layer_scale(-2)", (64, 2, 2))
    a, b, c = net.layer_scale_1.weight, net.layer_scale_2.weight, net.layer_scale_3.weight
    assert torch.all(a == 1) and torch.all(c == -2)
    assert b.abs().max() <= 1.0 and 0.2 < b.std().item() < 0.7


def test_bn_without_affine_has_no_parameters_but_tracks_statistics():
    g, net = compile_net("bn(affine=false)", MAP)
    assert g.params == 0 and net.bn.weight is None
    net.train()(torch.randn(8, *MAP) + 3)
    assert net.bn.running_mean.mean() > 0.2


def test_every_new_op_has_a_doc_a_fill_and_a_known_role():
    roles = {"act", "norm", "conv", "pool", "sum", "product", "concat", "scale", "reg", "reshape", "linear"}
    roles |= {"identity", "input", "embed", "attention"}
    for op in REGISTRY.values():
        if op.build.__module__.startswith("dsl.core.primitives"):  # not plugins other tests registered
            assert op.doc and op.role in roles, op.name
            assert op.style.get("fillcolor", "").startswith(("#", "white")), op.name
            for p in op.params:
                assert p.type in ("int", "float", "bool", "str", "pair"), (op.name, p.name)


def test_softmax_sums_to_one_over_the_channels():
    _, net = compile_net("conv(5) -> softmax", MAP)
    s = net(torch.randn(2, *MAP)).sum(1)
    assert torch.allclose(s, torch.ones_like(s), atol=1e-6)


def test_layernorm_on_a_map_normalises_each_position_over_the_channels():
    _, net = compile_net("layernorm(affine=false)", MAP)
    y = net(torch.randn(2, *MAP) * 5 + 2)
    assert y.mean(1).abs().max() < 1e-5 and (y.var(1, unbiased=False) - 1).abs().max() < 1e-3
    assert math.isclose(float(REGISTRY["layernorm"].params[0].default), 1e-5)  # torch's default eps


# ----------------------------------------------------------------------------- torchvision's blocks
def load_by_position(src: nn.Module | dict, dst: nn.Module) -> None:
    """dst gets src's state, by position; a Linear's (out, in) weight becomes a 1×1 conv's (out, in, 1, 1)."""
    s, d = src if isinstance(src, dict) else src.state_dict(), dst.state_dict()
    assert [v.numel() for v in s.values()] == [v.numel() for v in d.values()]
    dst.load_state_dict({k: v.reshape(d[k].shape) for k, v in zip(d.keys(), s.values())})


def test_squeeze_excitation_equals_torchvisions():
    from torchvision.ops import SqueezeExcitation

    torch.manual_seed(0)
    ref = SqueezeExcitation(16, 4, scale_activation=nn.Hardsigmoid)
    _, net = compile_net(
        "mul(adaptive_avgpool -> conv(4, 1) -> relu -> conv(16, 1) -> hardsigmoid, identity)", (16, 7, 7)
    )
    load_by_position(ref, net)
    x = torch.randn(2, 16, 7, 7)
    close(net(x), ref(x))


@pytest.mark.parametrize("train", [False, True])
def test_convnext_block_equals_torchvisions(train):
    from torchvision.models.convnext import CNBlock

    torch.manual_seed(0)
    ref = CNBlock(16, 1e-6, 0.25)
    _, net = compile_net(
        "add(identity, conv(groups=depthwise, k=7) -> layernorm(1e-6) -> conv(64, k=1) -> gelu -> conv(16, k=1)"
        " -> layer_scale -> drop_path(0.25)) -> layernorm(1e-6) -> conv(32, k=2, stride=2, padding=0)",
        (16, 8, 8),
    )
    stem = nn.Sequential(ref, TVLayerNorm2d(16, eps=1e-6), nn.Conv2d(16, 32, 2, 2))
    randomise(stem)
    # torchvision registers CNBlock.layer_scale on the block itself, so its state_dict lists it before the
    # block's layers; in the network it is applied after them, where netc's layer_scale op sits
    state = stem.state_dict()
    scale = state.pop("0.layer_scale")
    keys = list(state)
    at = keys.index("0.block.5.bias") + 1
    load_by_position({k: state.get(k, scale) for k in [*keys[:at], "0.layer_scale", *keys[at:]]}, net)
    assert net.layer_scale.weight.shape == ref.layer_scale.shape == (16, 1, 1)
    stem.train(train)
    net.train(train)
    x = torch.randn(8, 16, 8, 8)
    torch.manual_seed(1)
    want = stem(x)
    torch.manual_seed(1)
    torch.testing.assert_close(net(x), want, rtol=0, atol=1e-5)  # a Linear on channels-last vs a 1×1 conv
