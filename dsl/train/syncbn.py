"""Batch norm over the global batch when one run trains on several processes.

With DistributedDataParallel each process sees only its shard of every batch, so plain batch norm
would normalise by the shard's statistics and the run would no longer be the one-process run with
the same global batch. `sync_batch_norm(model)` makes every batch-norm layer use the statistics of
the whole global batch: torch's `SyncBatchNorm` on CUDA, and on the CPU (gloo, which torch's layer
refuses) `GlobalBatchNorm` below, a differentiable all-reduce of per-channel sums. Both keep the
layer's state-dict keys, so checkpoints do not depend on the number of processes.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


class GlobalBatchNorm(_BatchNorm):
    """Batch norm whose training statistics are those of the global batch across all processes
    (mixed into BatchNorm1d/2d/3d by `sync_batch_norm`, whose input checks it keeps)."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Normalise by the global batch's mean and variance in training, by the running ones in eval."""
        world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        if not self.training or world == 1:
            return super().forward(input)  # the concrete class's (BatchNorm2d...) own batch norm
        self._check_input_dim(input)
        c = input.shape[1]
        dims = [0, *range(2, input.dim())]
        x = input.float()
        count = torch.full((1,), x.numel() // c, dtype=x.dtype, device=x.device)
        # one all-reduce of [sum, sum of squares, count]; its backward carries the gradient of the
        # global statistics back to every shard, as SyncBatchNorm's backward does
        stats = _AllReduceSum.apply(torch.cat([x.sum(dims), (x * x).sum(dims), count]))
        n = stats[-1]
        mean = stats[:c] / n
        var = (stats[c : 2 * c] / n - mean * mean).clamp_min(0)
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            self._update_running(mean.detach(), var.detach() * (n / (n - 1)).detach())
        shape = [1, c] + [1] * (input.dim() - 2)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(input.dtype)

    @torch.no_grad()
    def _update_running(self, mean: torch.Tensor, unbiased_var: torch.Tensor) -> None:
        assert self.running_mean is not None and self.running_var is not None
        assert self.num_batches_tracked is not None
        self.num_batches_tracked.add_(1)
        # momentum None means a cumulative average, as in torch's batch norm
        m = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        self.running_mean.mul_(1 - m).add_(mean.to(self.running_mean.dtype), alpha=m)
        self.running_var.mul_(1 - m).add_(unbiased_var.to(self.running_var.dtype), alpha=m)


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes; the gradient of a sum shared by every process is the sum of their gradients."""

    @staticmethod
    def forward(ctx: object, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        out = x.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx: object, grad: torch.Tensor) -> torch.Tensor:  # noqa: D102
        out = grad.contiguous().clone()
        dist.all_reduce(out)
        return out


def sync_batch_norm(model: nn.Module, device: torch.device) -> tuple[nn.Module, int]:
    """`model` with every batch-norm layer replaced by its global-batch form (same parameters,
    buffers and state-dict keys); the number of layers replaced."""
    if device.type == "cuda":
        before = _count(model)
        return nn.SyncBatchNorm.convert_sync_batchnorm(model), before
    count = 0

    def convert(module: nn.Module) -> nn.Module:
        nonlocal count
        if isinstance(module, _BatchNorm) and not isinstance(module, GlobalBatchNorm):
            count += 1
            module.__class__ = _global_class(type(module))
            return module
        for name, child in module.named_children():
            setattr(module, name, convert(child))
        return module

    return convert(model), count


_CLASSES: dict[type, type] = {}


def _global_class(cls: type) -> type:
    """A subclass of `cls` (BatchNorm1d/2d/3d, or a user's subclass) with GlobalBatchNorm's forward,
    so `isinstance(m, nn.BatchNorm2d)` still holds for code that looks for norm layers."""
    if cls not in _CLASSES:
        _CLASSES[cls] = type(f"Global{cls.__name__}", (GlobalBatchNorm, cls), {})
    return _CLASSES[cls]


def _count(model: nn.Module) -> int:
    return sum(isinstance(m, _BatchNorm) for m in model.modules())
