"""Test-time augmentation: the logits of a batch averaged over views of it (airbench94's levels).

Shared by the trainer's test evaluation (the `tta` setting) and `netc eval`, so both score a run the
same way."""

from __future__ import annotations

from collections.abc import Callable

import torch

LEVELS = (0, 1, 2)


def tta_logits(
    net: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    level: int,
    layout: Callable[[torch.Tensor], torch.Tensor] = lambda v: v,
) -> torch.Tensor:
    """Logits of batch `x` (N, C, H, W) at test-time augmentation `level`, with mirror_avg(v) the mean
    of net(v) and net(v mirrored left-right): 0 net(x); 1 mirror_avg(x); 2 half mirror_avg(x) plus half
    the mean of mirror_avg of x shifted one pixel up-left and down-right (the [0:H, 0:W] and
    [2:H+2, 2:W+2] crops of x reflect-padded by one pixel). `net` returns float32 logits for levels
    above 0; `layout` restores the memory format a flip or crop loses."""
    if level not in LEVELS:
        raise ValueError(f"test-time augmentation level must be one of {LEVELS}, got {level!r}")
    if level == 0:
        return net(x)

    def mirror_avg(v: torch.Tensor) -> torch.Tensor:
        return 0.5 * net(v) + 0.5 * net(layout(v.flip(-1)))

    logits = mirror_avg(x)
    if level == 1:
        return logits
    h, w = x.shape[-2:]
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
    shifted = [layout(padded[:, :, :h, :w]), layout(padded[:, :, 2 : h + 2, 2 : w + 2])]
    return 0.5 * logits + 0.5 * torch.stack([mirror_avg(v) for v in shifted]).mean(0)


def tta_views(level: int) -> int:
    """How many forward passes per image test-time augmentation `level` costs (1, 2 or 6)."""
    return {0: 1, 1: 2, 2: 6}[level]
