"""The torch side of netc's primitives: small modules torch.nn lacks, and weight initialisers.

Imported only when a graph is compiled (`dsl.nn.compile`), never by the front end: each
op's builder in `dsl.core.primitives` imports what it needs from here or from torch.nn.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn


class GlobalMaxPool(nn.Module):
    """Max over the spatial dimensions: (N, C, H, W) -> (N, C)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reduce."""
        return torch.amax(x, dim=(2, 3))


class GlobalAvgPool(nn.Module):
    """Mean over the spatial dimensions: (N, C, H, W) -> (N, C)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reduce."""
        return torch.mean(x, dim=(2, 3))


class Scale(nn.Module):
    """Multiply by a constant (what `x*k` makes)."""

    def __init__(self, weight: float):
        super().__init__()
        self.weight = weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale."""
        return x * self.weight

    def extra_repr(self) -> str:
        """Shown by print(model)."""
        return f"weight={self.weight}"


class Add(nn.Module):
    """The sum of parallel branches."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        """Sum."""
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Mul(nn.Module):
    """The element-wise product of parallel branches; a branch of flat features (N, C) marked in
    `lifted` acts as (N, C, 1, 1) against maps (a squeeze-and-excitation gate)."""

    def __init__(self, lifted: list[bool] | tuple[bool, ...]):
        super().__init__()
        self.lifted = tuple(lifted)

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        """Multiply."""
        out = xs[0][:, :, None, None] if self.lifted[0] else xs[0]
        for x, lift in zip(xs[1:], self.lifted[1:]):
            out = out * (x[:, :, None, None] if lift else x)
        return out


class Concat(nn.Module):
    """Parallel branches concatenated along the channels."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        """Concatenate."""
        return torch.cat(xs, dim=1)


class ChannelChunk(nn.Module):
    """The i-th of n equal groups of the channels (the `chunk` op: torch.chunk(x, n, dim=1)[i]), of
    maps (N, C, H, W) or flat features (N, C); the shape rule has checked that n divides C."""

    def __init__(self, i: int, n: int):
        super().__init__()
        self.i, self.n = i, n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Take one group."""
        return x.chunk(self.n, dim=1)[self.i]

    def extra_repr(self) -> str:
        """Shown by print(model)."""
        return f"i={self.i}, n={self.n}"


class ChannelShuffle(nn.Module):
    """ShuffleNet's channel shuffle (torchvision's `channel_shuffle`): the C channels as
    groups × C/groups, transposed and flattened back, so output channel j·groups + g is input
    channel g·(C/groups) + j; maps (N, C, H, W) or flat features (N, C)."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Interleave the groups."""
        return x.unflatten(1, (self.groups, -1)).transpose(1, 2).flatten(1, 2)

    def extra_repr(self) -> str:
        """Shown by print(model)."""
        return f"groups={self.groups}"


class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels of a map at each position (torchvision ConvNeXt's LayerNorm2d):
    (N, C, H, W) is normalised over C, with a per-channel weight and bias of shape (C,)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise over dim 1."""
        x = x.permute(0, 2, 3, 1)
        x = nn.functional.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class LayerScale(nn.Module):
    """A learned gain per channel (ConvNeXt's layer scale): `weight` is (C, 1, 1) for maps,
    as torchvision stores it, and (C,) for flat features and tokens."""

    no_weight_decay = True  # a gain, like a norm's weight: decay_all=false leaves it out (its C×1×1 has 3 dims)

    def __init__(self, channels: int, is_map: bool, init: float | str, std: float = 0.02):
        super().__init__()
        self.weight = nn.Parameter(torch.ones((channels, 1, 1) if is_map else (channels,)))
        initialise(self, float(init) if isinstance(init, int) else init, std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale each channel."""
        return self.weight * x


class DropPath(nn.Module):
    """Stochastic depth per sample (torchvision.ops.StochasticDepth(p, "row"), the same random
    draws): in training each sample is zeroed with probability p and the rest scaled by 1/(1-p);
    the identity in eval mode or when p is 0."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Drop whole samples."""
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        noise = torch.empty([x.shape[0]] + [1] * (x.ndim - 1), dtype=x.dtype, device=x.device)
        noise = noise.bernoulli_(survival)
        if survival > 0.0:
            noise.div_(survival)
        return x * noise

    def extra_repr(self) -> str:
        """Shown by print(model)."""
        return f"p={self.p}"


def batch_norm(num_features: int, dims: int, p: Mapping[str, Any]) -> nn.Module:
    """BatchNorm of the `bn` op's parameters `p` with the article's init choices: constant or U[0,1]
    scale (`weight`), a constant `bias`, optionally `frozen` (or no scale and shift at all with
    `affine` = false); `eps` and `momentum` as torch's."""
    bn = (nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d)(
        num_features, eps=p["eps"], momentum=p["momentum"], affine=p["affine"]
    )
    if not p["affine"]:
        return bn
    with torch.no_grad():
        if p["weight"] == "uniform":
            bn.weight.uniform_(0.0, 1.0)
        else:
            bn.weight.fill_(float(p["weight"]))
        bn.bias.fill_(float(p["bias"]))
    bn.weight.requires_grad_(not p["frozen"])
    return bn


@torch.no_grad()
def initialise(module: nn.Module, how: float | str, std: float) -> None:
    """Set `module.weight` as the op's `init` parameter says (a number means that constant);
    `default` keeps PyTorch's own initialisation. Biases are left as PyTorch made them."""
    if how == "default":
        return
    w = getattr(module, "weight", None)
    if not isinstance(w, torch.Tensor):
        return
    if isinstance(how, (int, float)) and not isinstance(how, bool):
        w.fill_(float(how))
    elif how == "zeros":
        w.zero_()
    elif how == "ones":
        w.fill_(1.0)
    elif how == "dirac":
        nn.init.dirac_(w) if w.dim() >= 3 else nn.init.eye_(w)
    elif how == "dirac_part":  # airbench: PyTorch's init, then the first in-channels filters pass their input through
        part = w[: w.shape[1]]
        nn.init.dirac_(part) if w.dim() >= 3 else nn.init.eye_(part)
    elif how == "kaiming_normal":
        nn.init.kaiming_normal_(w, nonlinearity="relu")
    elif how == "kaiming_uniform":
        nn.init.kaiming_uniform_(w, a=math.sqrt(5))
    elif how == "xavier_normal":
        nn.init.xavier_normal_(w)
    elif how == "xavier_uniform":
        nn.init.xavier_uniform_(w)
    elif how == "normal":
        nn.init.normal_(w, std=std)
    elif how == "trunc_normal":
        nn.init.trunc_normal_(w, std=std, a=-2 * std, b=2 * std)
    else:  # the registry refused anything else before
        raise ValueError(f"unknown init {how!r}")


def freeze(module: nn.Module) -> None:
    """No parameter of `module` is trained."""
    for p in module.parameters():
        p.requires_grad_(False)


# ----------------------------------------------------------------------------- tokens (transformers)
class Patchify(nn.Conv2d):
    """A map cut into patch×patch squares, each projected to `c` features (ViT's conv_proj, then
    flatten and transpose): (N, C, H, W) -> (N, H/patch · W/patch, c), patches in row-major order."""

    def __init__(self, in_channels: int, c: int, patch: int, bias: bool):
        super().__init__(in_channels, c, patch, stride=patch, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Project and flatten."""
        return super().forward(x).flatten(2).transpose(1, 2)


class MapToTokens(nn.Module):
    """Each position of a map as a token: (N, C, H, W) -> (N, H·W, C), row-major."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Flatten and transpose."""
        return x.flatten(2).transpose(1, 2)


class TokensToMap(nn.Module):
    """Tokens back into a map (the reverse of MapToTokens): (N, h·w, D) -> (N, D, h, w)."""

    def __init__(self, h: int, w: int):
        super().__init__()
        self.h, self.w = h, w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Transpose and reshape."""
        return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], self.h, self.w)

    def extra_repr(self) -> str:
        """Shown by print(model)."""
        return f"h={self.h}, w={self.w}"


class ClassToken(nn.Module):
    """A learned token put in front of the sequence (ViT's class token, zeros at the start as in
    torchvision): (N, L, D) -> (N, L+1, D). `weight` is (1, 1, D)."""

    no_weight_decay = True  # an embedding: decay_all=false leaves it out of weight decay (as timm does)

    def __init__(self, d: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, 1, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Prepend."""
        return torch.cat([self.weight.expand(x.shape[0], -1, -1), x], dim=1)


class PositionEmbedding(nn.Module):
    """A learned vector added to each position of the sequence: `weight` is (1, L, D), drawn from
    N(0, 0.02²) as torchvision's ViT does."""

    no_weight_decay = True  # an embedding: decay_all=false leaves it out of weight decay (as timm does)

    def __init__(self, length: int, d: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(1, length, d).normal_(std=0.02))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Add."""
        return x + self.weight


class TokenPool(nn.Module):
    """Tokens to flat features: the first (class) token, or the mean over the tokens."""

    def __init__(self, mode: str):
        super().__init__()
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pool."""
        return x[:, 0] if self.mode == "class" else x.mean(dim=1)

    def extra_repr(self) -> str:
        """Shown by print(model)."""
        return f"mode={self.mode}"


class SelfAttention(nn.MultiheadAttention):
    """Multi-head self-attention on (N, L, D) tokens: nn.MultiheadAttention called as
    torchvision's ViT calls it (query = key = value, no attention weights returned), so PyTorch's
    fused kernels (scaled_dot_product_attention, the inference fast path) run it. Causal: each
    token attends to itself and the tokens before it only (a decoder language model's attention)."""

    def __init__(self, d: int, heads: int, dropout: float, bias: bool, causal: bool = False):
        super().__init__(d, heads, dropout=dropout, bias=bias, batch_first=True)
        self.causal = causal
        self._mask: torch.Tensor | None = None  # the causal mask of the last length and device (not state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Attend."""
        if not self.causal:
            return super().forward(x, x, x, need_weights=False)[0]
        n, mask = x.shape[1], self._mask
        if mask is None or mask.shape[0] != n or mask.device != x.device:
            # True where attention is not allowed: the tokens after each one (made once, not every step)
            mask = self._mask = torch.ones(n, n, dtype=torch.bool, device=x.device).triu(1)
        return super().forward(x, x, x, need_weights=False, attn_mask=mask, is_causal=True)[0]


# ----------------------------------------------------------------------------- data-dependent init
class Whiten(nn.Conv2d):
    """A k×k convolution whose weights whiten the patches of its input (airbench's first layer):
    `calibrate(x)` sets them from the eigenvectors of the covariance of x's k×k patches, each scaled
    by 1/sqrt(eigenvalue + eps), in descending order of eigenvalue, followed by their negatives
    (2·C·k² filters). The weights are never trained; the bias trains for the first `bias_epochs`
    epochs (`set_epoch`, called by the trainer before each epoch)."""

    def __init__(self, in_channels: int, k: int, eps: float, bias_epochs: int):
        super().__init__(in_channels, 2 * in_channels * k * k, k, padding=0, bias=True)
        self.eps, self.bias_epochs = eps, bias_epochs
        self.weight.requires_grad_(False)
        assert self.bias is not None
        with torch.no_grad():
            self.bias.zero_()

    @torch.no_grad()
    def calibrate(self, x: torch.Tensor) -> None:
        """Set the weights from a batch of inputs (N, C, H, W)."""
        c, (h, w) = x.shape[1], self.kernel_size
        patches = x.float().unfold(2, h, 1).unfold(3, w, 1).transpose(1, 3).reshape(-1, c * h * w)
        covariance = patches.T @ patches / len(patches)
        values, vectors = torch.linalg.eigh(covariance)  # ascending; columns are eigenvectors
        values, vectors = values.flip(0), vectors.T.flip(0)  # descending; rows are eigenvectors
        scaled = (vectors / torch.sqrt(values + self.eps)[:, None]).reshape(-1, c, h, w)
        self.weight.copy_(torch.cat([scaled, -scaled]).to(self.weight.dtype))

    def set_epoch(self, epoch: int) -> None:
        """Train the bias only in the first `bias_epochs` epochs."""
        assert self.bias is not None
        self.bias.requires_grad_(epoch < self.bias_epochs)

    def extra_repr(self) -> str:
        """Shown by print(model)."""
        return super().extra_repr() + f", eps={self.eps}, bias_epochs={self.bias_epochs}"
