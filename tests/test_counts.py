"""Parameter and MAC counts equal torch's, for every network in nets/ (every variant of the search spaces)
and for hand-written nets that use every primitive with non-default parameters.

netc counts (dsl/core/ops.py) the multiply-accumulates of conv and linear only (a conv: out*in/groups*k*k
per output pixel, bias adds not counted; a linear: in*out, bias adds not counted) and nothing for bn,
relu, pools, add, concat, scale, dropout, flatten. torch.utils.flop_counter.FlopCounterMode counts the same
thing as FLOPs = 2 * MACs: aten.convolution (bias ignored) and aten.mm / aten.addmm (the bias add of
addmm ignored), and no formula for the other ops. So `2 * graph.macs == flops` must hold exactly.
Per node too: each node's module accounts for 2 * node.macs of the FLOPs (FlopCounterMode's per-module
counts), holds node.n_params parameters and produces the node's shape.

Attention is counted as its four projections plus Q·Kᵀ and the weighted sum of V (2·L²·D). The counter
has formulas for the math and the CUDA kernels of scaled_dot_product_attention but not for the fused
CPU kernels (nor for nn.MultiheadAttention's inference fast path), so the count runs with the math
kernel and the fast path off: the same arithmetic, written out as matmuls the counter sees.
"""

from __future__ import annotations

import random
import subprocess
import sys

import pytest
import torch
from conftest import NETS, ROOT
from hypothesis import HealthCheck, given, settings
from net_strategies import PRELUDE, net_exprs
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import dsl
from dsl.core.ops import AUTO, REGISTRY, ParamError
from dsl.errors import NetError
from dsl.inspect.summary import as_dict, rows


def check_counts(graph) -> None:
    """The graph's totals and per-node counts against the compiled module (eval, no grad, batch 1)."""
    torch.manual_seed(0)
    model = dsl.build(graph).eval()
    where = f"{graph.name} ({graph.file})"

    # one forward pass; every op's module records the shape it made
    seen: dict[str, tuple] = {}
    modules = {}
    hooks = []

    def record(name):
        def hook(module, args, out):
            seen.setdefault(name, tuple(out.shape))  # (returns None: the output stays as it is)

        return hook

    for node in graph.nodes.values():
        if node.role in ("input", "identity"):  # no module: the input, and a shortcut is the same value
            continue
        mod = modules[node.name] = model.get_submodule(node.name.replace("/", "."))
        hooks.append(mod.register_forward_hook(record(node.name)))
    x = torch.randn(1, *graph.input_shape)
    fast_path = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
            out = model(x)
    finally:
        torch.backends.mha.set_fastpath_enabled(fast_path)
    for h in hooks:
        h.remove()
    with torch.no_grad():
        assert tuple(out.shape) == (1, *graph.output_shape), where
        assert 2 * graph.macs == counter.get_total_flops(), where
        # FLOPs per module path (keys are "<root class>.<path>"; "Global" is the total)
        per_module = {k.partition(".")[2]: sum(v.values()) for k, v in counter.get_flop_counts().items() if "." in k}
        assert graph.params == sum(p.numel() for p in model.parameters()), where

        # the summary's rows: one per node, summing to the totals
        rs = rows(graph)
        assert [r["name"] for r in rs] == list(graph.nodes), where
        assert sum(r["params"] for r in rs) == graph.params, where
        assert sum(r["macs"] for r in rs) == graph.macs, where
        d = as_dict(graph)
        assert (d["params"], d["macs"]) == (graph.params, graph.macs), where

        # and per node, against the node's own module
        for r in rs:
            node = graph.nodes[r["name"]]
            at = f"{where}: {node.name} ({node.op})"
            if node.name not in modules:
                assert r["params"] == r["macs"] == 0, at
                continue
            mod = modules[node.name]
            assert node.name in seen, f"{at}: its module never ran"
            assert seen[node.name] == (1, *node.shape), at
            assert tuple(r["shape"]) == tuple(node.shape), at
            assert r["params"] == sum(p.numel() for p in mod.parameters()), at
            assert 2 * r["macs"] == per_module.get(node.name.replace("/", "."), 0), at


# ----------------------------------------------------------------------------- the nets/ files
def _graphs(path):
    """Every variant's graph, or 4 drawn (seed 0) from a space too large to list."""
    from dsl.front.loader import load_program

    program = load_program(path)
    if program.is_space() and not program.listable():
        rng = random.Random(0)
        return [program.graph(program.variant_of(program.sample(rng))) for _ in range(4)]
    names = dsl.variants(path)
    if not names:
        return [dsl.load(path)]
    return [dsl.load(path, variant=name) for name in names]


@pytest.mark.parametrize("path", NETS, ids=[p.stem for p in NETS])
def test_counts_of_every_net_and_variant_equal_torch(path):
    graphs = _graphs(path)
    if path.stem.startswith("search_"):
        assert len(graphs) == 8 and len({g.fingerprint for g in graphs}) == 8
    for graph in graphs:
        assert graph.macs > 0
        check_counts(graph)


def test_the_articles_network_has_its_known_counts():
    # 6,573,120 parameters (the article); MACs by hand: convs at 32, 32, 16, 16, 8, 4, 4, 4 pixels per side
    g = dsl.load(ROOT / "nets" / "residual_l1_l3.net")
    convs = [
        (3, 64, 32),
        (64, 128, 32),
        (128, 128, 16),
        (128, 128, 16),
        (128, 256, 16),
        (256, 512, 8),
        (512, 512, 4),
        (512, 512, 4),
    ]
    assert g.params == 6_573_120
    assert g.macs == sum(cin * cout * 9 * s * s for cin, cout, s in convs) + 512 * 10 == 379_261_952


# ----------------------------------------------------------------------------- hand-written nets
HAND = {
    # tokens: a map cut into patches, the class token and position embeddings, pre-norm attention and MLP
    # blocks, tokens back into a map and out again, both poolings; every token op off its defaults
    "tokens": """
input 3x8x12
patchify(6, 2, bias=false, init=normal, init_std=0.3, frozen=true)
  -> class_token(init=normal, init_std=0.5, frozen=true) -> pos_embedding(init=trunc_normal, init_std=0.1, frozen=true)
  -> add(identity, layernorm -> attention(2, dropout=0.1, bias=false, frozen=true) -> layer_scale(0.5))
  -> add(identity, layernorm(affine=false) -> linear(12) -> gelu -> linear(in_channels / 2) -> dropout(0.1))
  -> softmax -> to_map(h=1) -> conv(4, 1) -> to_tokens -> attention(4)
  -> concat(token_pool, token_pool(mean)) -> linear(3)
""",
    # the whitening convolution (a data-dependent init; counted as the conv it is)
    "whiten": """
input 2x9x10
whiten(3, eps=0.01, bias_epochs=1) -> conv(4, 1, init=dirac_part) -> gap -> linear(2)
""",
    "tokens_in": """
input 16x8
to_map -> conv(4, 1) -> gap -> linear(2)
""",
    # a decoder's causal self-attention (each token sees itself and those before it)
    "causal": """
input 12x16
add(identity, layernorm -> attention(4, causal=true)) -> token_pool(mean) -> linear(2)
""",
    # non-square input; even kernel, stride, explicit padding; groups; bias on and off; every bn option;
    # add and concat of maps; both pools with stride and padding; flatten -> dropout -> linear; bn on
    # flat features; a linear without bias; scale
    "every_primitive": """
input 3x20x24
conv(8, k=4, stride=2, padding=1, bias=true, init=normal, init_std=0.1) -> conv(12, k=3, groups=4, bias=false, frozen=true) -> bn -> relu
  -> add(identity, conv(auto, 1, init=dirac) -> bn(weight=uniform, bias=0.5, eps=1e-3, momentum=0.2, frozen=true))
  -> concat(maxpool(3, stride=1, padding=1), avgpool(2, stride=1) -> conv(4, 2, padding=1))
  -> flatten -> dropout(0.2) -> linear(7, init=trunc_normal, init_std=0.05) -> bn(weight=0.25)
  -> linear(5, bias=false, init=0.01, frozen=true)*0.5
""",
    # one input channel, odd sizes that strided ops truncate; a depthwise conv; 1x1 grouped conv;
    # three-way add; global pools concatenated; dropout on maps and on features
    "depthwise_and_global_pools": """
input 1x17x13
conv(6, k=5, padding=0) -> conv(auto, k=3, stride=2, groups=6, bias=false) -> bn
  -> avgpool(3, stride=2, padding=1) -> conv(12, k=1, groups=3) -> relu
  -> add(identity, maxpool(3, stride=1, padding=1), avgpool(3, stride=1, padding=1)) -> dropout(0.3)
  -> concat(gmp, gap) -> linear(9) -> dropout -> linear(3)*2
""",
    # definitions with parameters, an extension, repeats; a conv that leaves 1x1 after padding;
    # concat and add of flat features
    "definitions_and_flat_merges": """
input 3x16x16
unit(c=auto, s=1) = conv(c, 3, s, bias=false) -> bn -> relu
block "B" = add(identity, unit -> unit(auto, 1))
stem = unit(16) -> unit(32, 2)
net = stem(block^2) -> maxpool(3, stride=3, padding=1) -> conv(8, k=3, stride=2, padding=0)
  -> flatten -> concat(linear(10), linear(6, bias=false) -> bn) -> add(identity, linear(16)*0.5) -> linear(4)
""",
    # MobileNet / EfficientNet style: dilated strided conv, bn without affine, depthwise convs (one with a
    # channel multiplier), padding=same with an even dilated kernel, squeeze-and-excitation gates by mul
    # (a C×1×1 map and a vector of C), stochastic depth, every activation, ceil-mode pools, adaptive max pool
    "mobile_and_efficient": """
input 3x19x23
conv(8, k=3, stride=2, dilation=2, padding=2) -> bn(affine=false) -> relu6
  -> conv(groups=depthwise, k=5, padding=same) -> bn -> hardswish
  -> mul(identity, adaptive_avgpool -> conv(2, k=1) -> silu -> conv(8, k=1) -> hardsigmoid)
  -> mul(identity, gap -> linear(4) -> gelu(approximate=tanh) -> linear(8) -> sigmoid)
  -> add(identity, conv(16, k=1, groups=depthwise) -> conv(8, k=4, padding=same, dilation=3) -> drop_path(0.2))
  -> leaky_relu(0.2) -> elu(alpha=0.5) -> tanh -> gelu
  -> maxpool(3, stride=2, padding=1, ceil_mode=true) -> avgpool(3, 2, ceil_mode=true, count_include_pad=false)
  -> adaptive_maxpool(3) -> flatten -> linear(5) -> softmax
""",
    # ConvNeXt style: patchify stem, layernorm over channels of maps and of vectors, a block with layer scale
    # and drop_path(0); group and instance norms with every option; up- and down-sampling, a transposed conv
    "convnext_norms_and_resampling": """
input 3x16x16
conv(8, k=4, stride=4, padding=0) -> layernorm(1e-6, init=ones, init_std=0.1, frozen=true)
  -> add(identity, conv(groups=depthwise, k=7) -> layernorm -> conv(32, k=1) -> gelu -> conv(8, k=1)
         -> layer_scale(trunc_normal, init_std=0.5, frozen=true) -> drop_path(0))
  -> groupnorm(4, eps=1e-3, init=normal, init_std=0.5, frozen=true) -> groupnorm(2, affine=false)
  -> instancenorm(eps=1e-3, affine=true, init=zeros, init_std=0.1, frozen=true) -> instancenorm
  -> upsample(2, mode=bilinear, align_corners=true)
  -> conv_transpose(6, k=4, stride=2, padding=1, output_padding=1, bias=false, groups=2, dilation=2,
                    init=kaiming_normal, init_std=0.1, frozen=true)
  -> conv_transpose(k=2, stride=2) -> upsample(0.5) -> adaptive_avgpool(2) -> flatten -> layernorm(affine=false)
  -> linear(4) -> layer_scale(ones)
""",
    # ShuffleNet style: a channel split (chunk) and a channel shuffle, of maps and of flat features
    "channel_split_and_shuffle": """
input 6x8x8
conv(12, 1) -> concat(chunk(0, 2), chunk(1, 2) -> conv(6, 3, groups=depthwise)) -> shuffle(3)
  -> concat(conv(8, 1, stride=2), chunk(2, 3) -> maxpool(2)) -> gap -> shuffle(4) -> chunk(1, 2) -> linear(3)
""",
}

# rectangular windows need tuple literals in calls (`k=(1, 7)`); counted once the grammar has them
HAND_PAIRS = {
    "rectangular_windows": """
input 3x12x17
conv(6, k=(1, 7)) -> conv(6, k=(3, 5), stride=(2, 1), dilation=(1, 2)) -> conv(6, k=(2, 3), padding=same)
  -> maxpool((3, 2), stride=(2, 1), padding=(1, 0), ceil_mode=true) -> avgpool((2, 3), stride=1)
  -> conv_transpose(4, k=(2, 3), stride=(2, 1), output_padding=(1, 0)) -> adaptive_avgpool((3, 2))
  -> flatten -> linear(3)
""",
}


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")  # torch pads a copy; counts unaffected
@pytest.mark.parametrize("name", list(HAND))
def test_counts_of_hand_written_nets_equal_torch(name):
    graph = dsl.loads(HAND[name], filename=f"{name}.net")
    assert graph.macs > 0
    check_counts(graph)


@pytest.mark.parametrize("name", list(HAND_PAIRS))
def test_counts_of_rectangular_windows_equal_torch(name):
    graph = dsl.loads(HAND_PAIRS[name], filename=f"{name}.net")
    assert any(isinstance(n.params.get("k"), tuple) for n in graph.nodes.values())
    check_counts(graph)


def test_hand_written_nets_use_every_primitive_and_every_parameter_off_its_default():
    # netc's own primitives: the registry of a fresh process (this one may hold ops other tests registered)
    code = "from dsl.core.ops import REGISTRY; print(' '.join(sorted({op.name for op in REGISTRY.values()})))"
    built_in = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert "conv" in built_in and "linear" in built_in
    used: dict[str, list[tuple[dict, list]]] = {}  # op -> (params, input shapes) of each of its nodes
    for name, text in HAND.items():
        graph = dsl.loads(text, filename=f"{name}.net")
        for node in graph.nodes.values():
            used.setdefault(node.op, []).append((node.params, [graph.nodes[i].shape for i in node.inputs]))
    missing = set(built_in) - set(used)
    assert not missing, f"add these primitives to a hand-written net: {sorted(missing)}"

    def off_default(op, p, params, in_shapes) -> bool:
        value, default = params.get(p.name, p.default), p.default
        if default == AUTO and value != AUTO and hasattr(op, "resolve"):
            # the graph holds resolved values: compare with what `auto` resolves to at this node
            try:
                default = op.resolve(in_shapes, {**params, p.name: AUTO})[p.name]
            except ParamError:  # auto cannot work here (padding of an even kernel): the value is explicit
                return True
        return value != default

    for op in (REGISTRY[name] for name in built_in):
        for p in op.params:
            if not any(off_default(op, p, params, ins) for params, ins in used[op.name]):
                pytest.fail(f"no hand-written net gives {op.name} a non-default {p.name}")


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")  # the recursive strategy's long repr
@settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(net_exprs)
def test_counts_of_generated_nets_equal_torch(body):
    text = f"input 3x8x8\n{PRELUDE}\nconv(4, k=1) -> {body} -> concat(gmp, flatten -> linear(3)) -> linear(2)"
    try:
        graph = dsl.loads(text, filename="generated.net")
    except NetError:  # shapes that do not fit (add of different widths, pools below 1x1)
        return
    check_counts(graph)
