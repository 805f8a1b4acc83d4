"""Tokens (L×D) and the transformer ops, against plain PyTorch.

Each token op's compiled module equals the torch code it stands for (weights copied by key), the shape
rules equal torch's output shapes over many sizes (a property test, with the counts checked against
torch's FlopCounterMode by test_counts.check_counts), and every misuse — a map where tokens are needed
or the reverse, heads that do not divide the features, patches that do not tile the image — is a located
error with exit 2 and a hint.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_counts import check_counts

import dsl
from dsl.errors import NetError

TOL = 1e-6


def compile_net(text: str) -> tuple[dsl.core.graph.Graph, nn.Module]:
    """The graph and (eval-mode) module of a .net text."""
    graph = dsl.loads(text, filename="t.net")
    return graph, dsl.build(graph).eval()


def close(a: torch.Tensor, b: torch.Tensor, tol: float = TOL) -> None:
    assert a.shape == b.shape, (a.shape, b.shape)
    assert (a - b).abs().max().item() <= tol, (a - b).abs().max().item()


# ----------------------------------------------------------------------------- each op against torch
def test_patchify_is_a_strided_conv_then_flatten_and_transpose():
    g, net = compile_net("input 3x8x12\nproj: patchify(5, 4)")
    assert g.output_shape == (6, 5)
    x = torch.randn(2, 3, 8, 12)
    w, b = net.proj.weight, net.proj.bias
    assert w.shape == (5, 3, 4, 4) and b.shape == (5,)
    close(net(x), F.conv2d(x, w, b, stride=4).flatten(2).transpose(1, 2))


def test_to_tokens_and_to_map_are_each_others_reverse():
    g, net = compile_net("input 4x3x5\nto_tokens -> to_map(h=3)")
    assert g.output_shape == (4, 3, 5)
    x = torch.randn(2, 4, 3, 5)
    close(net(x), x)
    g, net = compile_net("input 4x3x5\nto_tokens")
    assert g.output_shape == (15, 4)
    close(net(x), x.permute(0, 2, 3, 1).reshape(2, 15, 4))  # row by row, channels as features


def test_class_token_prepends_a_learned_vector_and_pos_embedding_adds_one_per_position():
    g, net = compile_net("input 7x6\nclass_token -> pos_embedding")
    assert g.output_shape == (8, 6) and g.params == 6 + 8 * 6
    cls, pos = net.class_token.weight, net.pos_embedding.weight
    assert cls.shape == (1, 1, 6) and torch.all(cls == 0)  # zeros at first, as torchvision's ViT
    assert pos.shape == (1, 8, 6) and 0.005 < pos.std().item() < 0.05  # N(0, 0.02²)
    x = torch.randn(3, 7, 6)
    with torch.no_grad():
        cls.normal_()
    close(net(x), torch.cat([cls.expand(3, 1, 6), x], dim=1) + pos)


def test_token_pool_takes_the_class_token_or_the_mean():
    x = torch.randn(2, 5, 4)
    close(compile_net("input 5x4\ntoken_pool")[1](x), x[:, 0])
    close(compile_net("input 5x4\ntoken_pool(mean)")[1](x), x.mean(1))


def test_attention_equals_torchs_multihead_attention():
    g, net = compile_net("input 9x16\nattn: attention(4)")
    ref = nn.MultiheadAttention(16, 4, batch_first=True).eval()
    ref.load_state_dict(net.attn.state_dict())  # the same keys: in_proj_weight, out_proj.weight, ...
    x = torch.randn(3, 9, 16)
    expected = ref(x, x, x, need_weights=False)[0]
    close(net(x), expected, 1e-5)
    with torch.no_grad():  # the inference fast path too
        close(net(x), expected, 1e-5)
    assert g.params == sum(p.numel() for p in ref.parameters()) == 4 * 16 * 16 + 4 * 16


def test_attention_without_bias_and_frozen():
    g, net = compile_net("input 4x8\nattention(2, bias=false, frozen=true)")
    assert g.params == 4 * 8 * 8
    assert all(not p.requires_grad for p in net.parameters())
    assert net.attention.in_proj_bias is None


def test_linear_layernorm_softmax_and_layer_scale_act_on_each_token():
    g, net = compile_net("input 5x6\nlayernorm(1e-6) -> linear(3) -> softmax -> layer_scale(0.5)")
    assert g.output_shape == (5, 3)
    x = torch.randn(2, 5, 6)
    ln, lin = net.layernorm, net.linear
    expected = F.softmax(lin(F.layer_norm(x, (6,), ln.weight, ln.bias, 1e-6)), dim=-1) * 0.5
    close(net(x), expected)
    assert g.nodes["linear"].macs == 5 * 6 * 3  # per token


def test_concat_joins_sequences_mul_multiplies_and_flatten_flattens():
    g, net = compile_net("input 5x6\nconcat(identity, class_token) -> mul(identity, sigmoid) -> flatten")
    assert g.nodes["concat"].shape == (11, 6) and g.output_shape == (66,)
    x = torch.randn(2, 5, 6)
    joined = torch.cat([x, torch.cat([net.class_token.weight.expand(2, 1, 6), x], 1)], 1)
    close(net(x), (joined * torch.sigmoid(joined)).flatten(1))


def test_in_channels_is_the_token_width():
    g, _ = compile_net("input 5x6\nlinear(in_channels * 4) -> gelu -> linear(in_channels // 4)")
    assert g.output_shape == (5, 6)


def test_a_pre_norm_encoder_block_equals_torchvisions():
    from torchvision.models.vision_transformer import EncoderBlock

    text = """input 10x32
block(heads, mlp, d=in_channels) =
    add(identity, ln_1: layernorm(1e-6) -> self_attention: attention(heads) -> dropout: dropout(0))
    -> add(identity, ln_2: layernorm(1e-6) -> mlp: [linear(mlp), gelu, dropout(0), linear(d), dropout(0)])
b: block(4, 64)
"""
    _, net = compile_net(text)
    ref = EncoderBlock(4, 32, 64, 0.0, 0.0, norm_layer=lambda d: nn.LayerNorm(d, eps=1e-6)).eval()
    for p in ref.parameters():
        nn.init.normal_(p, std=0.2)
    net.b.load_state_dict(ref.state_dict(), strict=True)  # torchvision's own keys
    x = torch.randn(2, 10, 32)
    close(net(x), ref(x), 1e-5)
    net.train(), ref.train()
    close(net(x), ref(x), 1e-5)  # no dropout: train mode is deterministic too


# ----------------------------------------------------------------------------- shapes, as torch's
@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    patch=st.integers(1, 4),
    rows=st.integers(1, 3),
    cols=st.integers(1, 3),
    head_dim=st.integers(1, 4),
    heads=st.integers(1, 3),
    mlp=st.integers(1, 9),
    pool=st.sampled_from(["class", "mean"]),
    cls=st.booleans(),
)
def test_token_nets_shapes_and_counts_equal_torch(patch, rows, cols, head_dim, heads, mlp, pool, cls):
    d = head_dim * heads
    text = f"""input 2x{rows * patch}x{cols * patch}
patchify({d}, {patch}) -> {"class_token ->" if cls else ""} pos_embedding
  -> add(identity, layernorm -> attention({heads}))
  -> add(identity, layernorm -> linear({mlp}) -> gelu -> linear({d}))
  -> token_pool({pool}) -> linear(3)"""
    graph = dsl.loads(text, filename="gen.net")
    assert graph.nodes["pos_embedding"].shape == (rows * cols + cls, d)
    check_counts(graph)  # every node's shape, parameters and MACs against the module and FlopCounterMode


# ----------------------------------------------------------------------------- located errors
ERRORS = [
    # (file text, "line:col", message fragment, hint fragment or None)
    ("input 3x32x32\nattention(4)", "2:1", "attention needs L×D tokens, got a 3×32×32 map", "patchify or to_tokens"),
    ("input 3x32x32\npatchify(8, 4) -> conv(8)", "2:19", "conv needs a C×H×W feature map, got 64×8 tokens", "to_map"),
    ("input 3x32x32\npatchify(8, 4) -> gap", "2:19", "gap pools a C×H×W map, got 64×8 tokens", "token_pool"),
    ("input 3x32x32\npatchify(8, 4) -> bn", "2:19", "bn needs a C×H×W map or flat features, got 64×8", "layernorm"),
    ("input 3x30x30\npatchify(8, 16)", "2:1", "a 30×30 map is not a whole number of 16×16 patches", None),
    ("input 3x32x32\npatchify(10, 4) -> attention(4)", "2:20", "4 heads must divide the tokens' 10 features", None),
    ("input 3x32x32\npatchify(8, 4) -> class_token -> to_map", "2:34", "65 tokens are not a square grid", None),
    ("input 12x4\nto_map(h=5)", "2:1", "h must divide the token count", None),
    ("input 3x32x32\ngmp -> class_token", "2:8", "class_token needs L×D tokens, got 3 flat features", None),
    ("input 3x32x32\npatchify(8, 4) -> token_pool -> token_pool", "2:33", "token_pool needs L×D tokens", None),
    ("input 16x8\nconv(4)", "2:1", "conv needs a C×H×W feature map, got 16×8 tokens", None),
    ("input 3x32x32\npatchify(8, 4, patch=2)", "2:16", "'patch' given both by position and by keyword", None),
    ("input 0x8\nrelu", "1:1", "input must be C×H×W", "tokens"),
]


@pytest.mark.parametrize("text,where,message,hint", ERRORS, ids=[str(i) for i in range(len(ERRORS))])
def test_misuse_is_a_located_error(netc, write, text, where, message, hint):
    path = write("t.net", text)
    r = netc("check", path)
    assert r.code == 2, r
    assert f"t.net:{where}: error:" in r.err and message in r.err, r.err
    if hint is not None:
        assert hint in r.err, r.err
    assert "Traceback" not in r.err
    with pytest.raises(NetError):
        dsl.load(path)


def test_token_input_trains_nothing_but_checks_summarises_and_draws(netc, write, tmp_path):
    path = write("seq.net", "input 16x8\nadd(identity, layernorm -> attention(2)) -> token_pool(mean) -> linear(4)")
    assert netc("check", path).code == 0
    r = netc("summary", path)
    assert r.code == 0 and "16×8" in r.out and "attention" in r.out
    assert netc("draw", path, "--level", "ops", "-o", tmp_path / "seq.svg").code == 0


def test_train_refuses_a_network_that_ends_in_tokens(tmp_path, capsys):
    from train_fixtures import write_npz

    from dsl.cli import main

    data = write_npz(tmp_path / "d.npz", 16, 8, size=8)
    net = tmp_path / "n.net"
    net.write_text("input 3x8x8\npatchify(8, 4) -> attention(2)\n")
    assert main(["train", str(net), "--data", str(data), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "n.net:2:1: error: the network's output is 4×8 tokens" in err and "token_pool" in err


# ----------------------------------------------------------------------------- causal attention
def test_causal_attention_sees_only_the_tokens_before():
    g = dsl.loads("input 10x16\nattention(4, causal=true)")
    torch.manual_seed(0)
    m = dsl.build(g).eval()
    x = torch.randn(2, 10, 16)
    y = m(x)
    later = x.clone()
    later[:, 6:] = torch.randn(2, 4, 16)  # change the tokens after the 6th: the first 6 outputs stay
    z = m(later)
    assert torch.equal(y[:, :6], z[:, :6]) and not torch.allclose(y[:, 6:], z[:, 6:])
    # the same as scaled_dot_product_attention with is_causal, from the module's own projections
    (att,) = [mod for mod in m.modules() if type(mod).__name__ == "SelfAttention"]
    q, k, v = F.linear(x, att.in_proj_weight, att.in_proj_bias).chunk(3, dim=-1)
    heads = [t.unflatten(-1, (4, 4)).transpose(1, 2) for t in (q, k, v)]
    want = F.scaled_dot_product_attention(*heads, is_causal=True).transpose(1, 2).flatten(2)
    want = F.linear(want, att.out_proj.weight, att.out_proj.bias)
    assert torch.allclose(y, want, atol=1e-6)
    # without causal=true every token sees all the others (the default, as before)
    full = dsl.build(dsl.loads("input 10x16\nattention(4)")).eval()
    full.load_state_dict(m.state_dict())
    assert not torch.allclose(full(later)[:, :6], y[:, :6])
