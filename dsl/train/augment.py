"""Whole-dataset augmentation on the device, drawn afresh each epoch.

`prepare_images` normalises uint8 images once and reflect-pads the training set;
`augment_epoch` then makes one epoch's shuffled, augmented training set in a single
gather: random crop (offsets 0..2*pad), horizontal flip (p=0.5), Cutout (a square fully
inside the image, zeroed after normalisation, on every image), in that order.

Random draws come from torch's global generator on the data's device, in this order:
crop rows, crop columns, flips, cutout rows, cutout columns, then the shuffle. That is
the order of shared/bench/ref_resnet9.py, so equal seeds give equal draws.

Alternating flips (`flip_mode = alternate`, airbench's): `base_flips` draws one flip per
image for the whole run from the run's seed (its own generator, so resuming redraws the same),
and `epoch_flips` mirrors all of them in odd epochs; `augment_epoch` then takes that mask
instead of drawing flips, and the other draws keep their order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F


def prepare_images(
    x_uint8: torch.Tensor, mean: Sequence[float], std: Sequence[float], pad: int, dtype: torch.dtype
) -> torch.Tensor:
    """(N,C,H,W) uint8 on the device -> normalised `dtype`, reflect-padded by `pad` on each side."""
    c = x_uint8.shape[1]
    m = torch.tensor([float(v) for v in mean], device=x_uint8.device).expand(c).reshape(1, c, 1, 1) * 255
    s = torch.tensor([float(v) for v in std], device=x_uint8.device).expand(c).reshape(1, c, 1, 1) * 255
    x = (x_uint8.float() - m) / s
    if pad:
        x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    return x.to(dtype)


def base_flips(n: int, seed: int, device: torch.device | str) -> torch.Tensor:
    """One fixed random flip (p=0.5) per training image for the whole run: (n,) bool on `device`,
    a function of `seed` alone (a generator of its own, so the global RNG stream is untouched)."""
    return torch.from_numpy(base_flip_array(n, seed)).to(device)


def base_flip_array(n: int, seed: int) -> np.ndarray:
    """`base_flips` as a numpy (n,) bool array (the streamed path's workers use it)."""
    g = np.random.default_rng([seed % (1 << 63), 0x666C6970])  # "flip": apart from torch's seeding by `seed`
    return g.random(n) < 0.5


def epoch_flips(base: torch.Tensor, epoch: int) -> torch.Tensor:
    """Alternating flips: the base flips in even epochs, every image mirrored from them in odd ones."""
    return ~base if epoch % 2 else base


def augment_epoch(
    padded: torch.Tensor,
    labels: torch.Tensor,
    size: tuple[int, int],
    *,
    flip: bool | torch.Tensor = True,
    cutout: int = 0,
    channels_last: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One epoch of training data: (images (N,C,h,w) shuffled and augmented, labels in that order).

    `padded` is (N,C,h+2p,w+2p); `size` = (h, w), the crop size (the original image size).
    `flip`: True draws a random flip per image, False flips none, an (N,) bool tensor says which
    images (in their stored order) to flip."""
    n, c, hp, wp = padded.shape
    h, w = size
    dev = padded.device
    oy = torch.randint(0, hp - h + 1, (n,), device=dev)
    ox = torch.randint(0, wp - w + 1, (n,), device=dev)
    if isinstance(flip, torch.Tensor):
        flips: torch.Tensor | None = flip.to(dev)
    else:
        flips = torch.rand(n, device=dev) < 0.5 if flip else None
    if cutout:
        cy = torch.randint(0, h - cutout + 1, (n,), device=dev)
        cx = torch.randint(0, w - cutout + 1, (n,), device=dev)
    perm = torch.randperm(n, device=dev)

    # the shuffle is folded into the gather: image k of the epoch is source image perm[k]
    ar_h, ar_w = torch.arange(h, device=dev), torch.arange(w, device=dev)
    rows = oy[perm, None] + ar_h  # (N, h)
    cols = ox[perm, None] + ar_w  # (N, w)
    if flips is not None:
        cols = torch.where(flips[perm, None], cols.flip(1), cols)
    chans = torch.arange(c, device=dev)
    # gather in (N, h, w, C) order: the result is channels-last in memory
    out = padded[perm[:, None, None, None], chans[None, None, None, :], rows[:, :, None, None], cols[:, None, :, None]]
    out = out.permute(0, 3, 1, 2)  # logical NCHW view
    if not channels_last:
        out = out.contiguous()
    if cutout:
        cy, cx = cy[perm, None], cx[perm, None]
        mask = ((ar_h >= cy) & (ar_h < cy + cutout))[:, :, None] & ((ar_w >= cx) & (ar_w < cx + cutout))[:, None, :]
        out.masked_fill_(mask[:, None], 0)
    return out, labels[perm]
