"""The optimizer of a run: SGD (the article's) or AdamW, and which parameters get weight decay.

    opt = make_optimizer(model, settings)             # lr 0; the engine sets it every step
    for g in opt.param_groups: g["lr"] = step_lr(settings, lr, batch_size)

* `optimizer = sgd`: `torch.optim.SGD` with `momentum`, `nesterov` (only when momentum > 0) and
  weight decay `weight_decay * batch_size`, stepped with lr(t)/batch_size on the summed
  cross-entropy: mean-loss SGD with lr(t) and L2 decay `weight_decay` on every full batch.
* `optimizer = adamw`: `torch.optim.AdamW` with `betas`, `eps = adam_eps` and decoupled weight
  decay `weight_decay` (each step shrinks decayed weights by lr(t) * weight_decay), stepped with
  lr(t) on the mean cross-entropy of the batch (the last, partial batch too).
* `decay_all = true`: one parameter group, every parameter decayed (the article's recipe).
  `decay_all = false`: two groups, always in this order and always both (resuming needs a
  stable layout): the decayed parameters, then the rest with weight decay 0. A parameter is
  decayed when it has at least 2 dimensions (conv and linear weights) and is not inside a module
  whose attribute `no_weight_decay` is `True` (learned class tokens, position embeddings);
  biases, norm weights and other 1-d gains never are. Only the value `True` counts, so a
  module with a `no_weight_decay()` method (timm's way of listing names) is not taken as marked.
"""

from __future__ import annotations

from typing import Any

import torch

from ..settings import TrainSettings


def decay_groups(model: torch.nn.Module, decay_all: bool, weight_decay: float) -> list[dict[str, Any]]:
    """Parameter groups for `model` (in `model.parameters()` order) with their weight decay."""
    params = list(model.parameters())
    if decay_all:
        return [{"params": params, "weight_decay": weight_decay}]
    marked = {id(p) for m in model.modules() if getattr(m, "no_weight_decay", False) is True for p in m.parameters()}
    decayed = [p for p in params if p.ndim >= 2 and id(p) not in marked]
    chosen = {id(p) for p in decayed}
    return [
        {"params": decayed, "weight_decay": weight_decay},
        {"params": [p for p in params if id(p) not in chosen], "weight_decay": 0.0},
    ]


def make_optimizer(model: torch.nn.Module, s: TrainSettings) -> torch.optim.Optimizer:
    """The optimizer `s` asks for over `model`'s parameters, with lr 0 (set per step)."""
    if s.optimizer == "adamw":
        return torch.optim.AdamW(
            decay_groups(model, s.decay_all, s.weight_decay), lr=0.0, betas=s.betas, eps=s.adam_eps
        )
    if s.optimizer == "sgd":
        return torch.optim.SGD(
            decay_groups(model, s.decay_all, s.weight_decay * s.batch_size),
            lr=0.0,
            momentum=s.momentum,
            nesterov=s.nesterov and s.momentum > 0,
        )
    raise ValueError(f"unknown optimizer {s.optimizer!r}")


def mean_loss(s: TrainSettings) -> bool:
    """Whether the step backpropagates the batch's mean loss (adamw) rather than its sum (sgd)."""
    return s.optimizer == "adamw"


def step_lr(s: TrainSettings, lr: float, batch_size: int) -> float:
    """The lr to put in the optimizer's groups for schedule value `lr`: lr/batch_size for SGD's
    summed loss, lr itself for AdamW's mean loss."""
    return lr if mean_loss(s) else lr / batch_size
