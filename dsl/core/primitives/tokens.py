"""Tokens (L×D: a sequence of L vectors of D features) and the ops of vision transformers:
maps to tokens and back, the class token, position embeddings, pooling, self-attention.

`linear`, `layernorm`, `layer_scale`, `softmax`, the activations, `dropout`, `drop_path`,
`add` and `scale` also act on tokens (each declares it in its own shape rule)."""

from __future__ import annotations

import math
from typing import Any

from dsl.core.ops import AUTO, Op, P, ParamError, Params, Shape, ShapeError, need_map, need_tokens, register

TOKEN_FILL = "#80b1d3"
ATTENTION_FILL = "#bebada"


# ----------------------------------------------------------------------------- maps <-> tokens
def _patchify_out(ins: list[Shape], p: Params) -> Shape:
    c, h, w = need_map(ins, "patchify")
    k = p["patch"]
    if h % k or w % k:
        raise ShapeError(
            f"a {h}×{w} map is not a whole number of {k}×{k} patches; "
            f"use a patch size that divides both sides (or resize the input)"
        )
    return ((h // k) * (w // k), p["c"])


def _patchify(ins: list[Shape], p: Params) -> Any:
    from dsl.nn.modules import Patchify

    return Patchify(ins[0][0], p["c"], p["patch"], p["bias"])


def _patchify_count(ins: list[Shape], out: Shape, p: Params) -> tuple[int, int]:
    per_patch = ins[0][0] * p["patch"] ** 2 * p["c"]
    return per_patch + (p["c"] if p["bias"] else 0), out[0] * per_patch


def _to_tokens_out(ins: list[Shape], p: Params) -> Shape:
    c, h, w = need_map(ins, "to_tokens")
    return (h * w, c)


def _to_tokens(ins: list[Shape], p: Params) -> Any:
    from dsl.nn.modules import MapToTokens

    return MapToTokens()


def _to_map_resolve(ins: list[Shape], p: Params) -> Params:
    length = need_tokens(ins, "to_map")[0]
    if p["h"] == AUTO:
        side = math.isqrt(length)
        if side * side != length:
            raise ParamError(f"{length} tokens are not a square grid; give the height, e.g. to_map(h=...)")
        return {**p, "h": side}
    if length % p["h"]:
        raise ParamError(f"{length} tokens do not fill rows of h={p['h']}: h must divide the token count")
    return p


def _to_map_out(ins: list[Shape], p: Params) -> Shape:
    length, d = need_tokens(ins, "to_map")
    return (d, p["h"], length // p["h"])


def _to_map(ins: list[Shape], p: Params) -> Any:
    from dsl.nn.modules import TokensToMap

    return TokensToMap(p["h"], ins[0][0] // p["h"])


# ----------------------------------------------------------------------------- embeddings, pooling
def _class_token_out(ins: list[Shape], p: Params) -> Shape:
    length, d = need_tokens(ins, "class_token")
    return (length + 1, d)


def _class_token(ins: list[Shape], p: Params) -> Any:
    from dsl.nn.modules import ClassToken

    return ClassToken(ins[0][1])


def _pos_embedding_out(ins: list[Shape], p: Params) -> Shape:
    return need_tokens(ins, "pos_embedding")


def _pos_embedding(ins: list[Shape], p: Params) -> Any:
    from dsl.nn.modules import PositionEmbedding

    return PositionEmbedding(*ins[0])


def _token_pool_out(ins: list[Shape], p: Params) -> Shape:
    return (need_tokens(ins, "token_pool")[1],)


def _token_pool(ins: list[Shape], p: Params) -> Any:
    from dsl.nn.modules import TokenPool

    return TokenPool(p["mode"])


# ----------------------------------------------------------------------------- attention
def _attention_out(ins: list[Shape], p: Params) -> Shape:
    length, d = need_tokens(ins, "attention")
    if d % p["heads"]:
        raise ShapeError(f"{p['heads']} heads must divide the tokens' {d} features")
    return (length, d)


def _attention(ins: list[Shape], p: Params) -> Any:
    from dsl.nn.modules import SelfAttention, freeze

    module = SelfAttention(ins[0][1], p["heads"], p["dropout"], p["bias"], p["causal"])
    if p["frozen"]:
        freeze(module)
    return module


def _attention_count(ins: list[Shape], out: Shape, p: Params) -> tuple[int, int]:
    # query/key/value and output projections (4 D×D), then Q·Kᵀ and the weighted sum of V
    # (L×L×D each): what torch.utils.flop_counter counts, halved into multiply-accumulates
    length, d = ins[0]
    params = 4 * d * d + (4 * d if p["bias"] else 0)
    return params, 4 * length * d * d + 2 * length * length * d


register(
    Op(
        "patchify",
        (
            P("c", "int", required=True, min=1, doc="features per token"),
            P("patch", "int", required=True, min=1, max=4096, doc="side of the square patches"),
            P("bias", "bool", True),
        ),
        _patchify_out,
        _patchify,
        _patchify_count,
        style={"fillcolor": TOKEN_FILL},
        role="conv",
        doc="C×H×W map -> tokens: patch×patch squares, each projected to c features by a strided convolution "
        "(ViT's conv_proj, then flatten and transpose); the weight and bias are a Conv2d's",
        weights=True,
    )
)
register(
    Op(
        "to_tokens",
        (),
        _to_tokens_out,
        _to_tokens,
        style={"fillcolor": TOKEN_FILL},
        role="reshape",
        doc="C×H×W map -> H·W×C tokens, one per position, row by row",
    )
)
register(
    Op(
        "to_map",
        (P("h", "int", AUTO, min=1, choices=(AUTO,), doc="rows of the map (auto: a square)"),),
        _to_map_out,
        _to_map,
        style={"fillcolor": TOKEN_FILL},
        role="reshape",
        doc="L×D tokens -> D×h×(L/h) map, row by row (the reverse of to_tokens, for hybrids)",
        resolve=_to_map_resolve,
    )
)
register(
    Op(
        "class_token",
        (),
        _class_token_out,
        _class_token,
        lambda ins, out, p: (ins[0][1], 0),
        style={"fillcolor": TOKEN_FILL},
        role="embed",
        doc="put a learned token (zeros at first) in front of the sequence: L×D -> (L+1)×D",
        weights=True,
    )
)
register(
    Op(
        "pos_embedding",
        (),
        _pos_embedding_out,
        _pos_embedding,
        lambda ins, out, p: (ins[0][0] * ins[0][1], 0),
        style={"fillcolor": TOKEN_FILL},
        role="embed",
        doc="add a learned vector per position (L×D weights, drawn from N(0, 0.02²))",
        weights=True,
    )
)
register(
    Op(
        "token_pool",
        (P("mode", "str", "class", choices=("class", "mean"), doc="class: the first token; mean: all tokens' mean"),),
        _token_pool_out,
        _token_pool,
        style={"fillcolor": "#b3de69"},
        role="pool",
        doc="L×D tokens -> D flat features: the class token, or the mean over the tokens",
    )
)
register(
    Op(
        "attention",
        (
            P("heads", "int", required=True, min=1, max=4096, doc="attention heads (divides the features)"),
            P("dropout", "float", 0.0, min=0, max=1, doc="dropout on the attention weights"),
            P("bias", "bool", True, doc="biases in the projections"),
            P(
                "causal",
                "bool",
                False,
                doc="true: each token attends to itself and those before it only (a "
                "decoder language model's attention)",
                keyword=True,
            ),
            P("frozen", "bool", False, doc="true: none of the op's parameters are trained", keyword=True),
        ),
        _attention_out,
        _attention,
        _attention_count,
        style={"fillcolor": ATTENTION_FILL},
        role="attention",
        doc="multi-head self-attention over the tokens (nn.MultiheadAttention, batch_first; PyTorch's fused "
        "attention kernels run it)",
    )
)
