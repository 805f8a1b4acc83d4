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
* `norm_bias_lr`, `norm_bias_decay` (both 1 by default: the layout above, unchanged): when
  either differs from 1, the biases of normalisation layers (`norm_bias_names`: for a dsl graph
  the nodes whose role is "norm", see `norm_bias_names`) leave the groups above and form one
  more group, always last and always present, whose lr is the step lr times `norm_bias_lr`
  (the group's "lr_scale") and whose weight decay is that of their former group times
  `norm_bias_decay`. airbench94's 64x lr for BN biases at the same absolute decay per step is
  norm_bias_lr = 64, norm_bias_decay = 1/64.

Every parameter goes into the optimizer whatever its `requires_grad` (a module's `set_epoch` may
switch it on and off; torch's optimizers skip parameters without a gradient).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

import torch

from dsl.settings import TrainSettings

# torch's own normalisation layers, for models that do not come from a dsl graph
_TORCH_NORMS = (
    torch.nn.modules.batchnorm._NormBase,
    torch.nn.LayerNorm,
    torch.nn.GroupNorm,
    torch.nn.LocalResponseNorm,
)


def norm_bias_names(model: torch.nn.Module, norm_modules: Iterable[str] | None = None) -> set[str]:
    """The names (as in `model.named_parameters()`) of the biases of normalisation layers.

    `norm_modules`: the module paths of the normalisation layers, e.g. from a dsl graph (the
    nodes with role "norm", their names with "/" as "."); None: the modules that are instances
    of torch's norm classes. A bias is a parameter of such a module (or of its submodules) whose
    own name is `bias`."""
    modules = dict(model.named_modules())
    if norm_modules is None:
        paths = [name for name, m in modules.items() if isinstance(m, _TORCH_NORMS)]
    else:
        paths = [p for p in norm_modules if p in modules]
    out = set()
    for path in paths:
        for name, _ in modules[path].named_parameters():
            if name.rpartition(".")[2] == "bias":
                out.add(f"{path}.{name}" if path else name)
    return out


def decay_groups(
    model: torch.nn.Module,
    decay_all: bool,
    weight_decay: float,
    norm_biases: Collection[str] = (),
    norm_bias_lr: float = 1.0,
    norm_bias_decay: float = 1.0,
) -> list[dict[str, Any]]:
    """Parameter groups for `model` (in `model.parameters()` order) with their weight decay.

    With `norm_bias_lr` or `norm_bias_decay` other than 1, the parameters named in `norm_biases`
    form one more group (the last, present even when empty) with "lr_scale" `norm_bias_lr` and
    their former group's weight decay times `norm_bias_decay`."""
    params = list(model.parameters())
    split = norm_bias_lr != 1.0 or norm_bias_decay != 1.0
    special = {id(p) for n, p in model.named_parameters() if n in norm_biases} if split else set()
    if decay_all:
        groups = [{"params": [p for p in params if id(p) not in special], "weight_decay": weight_decay}]
    else:
        marked = {
            id(p) for m in model.modules() if getattr(m, "no_weight_decay", False) is True for p in m.parameters()
        }
        decayed = [p for p in params if p.ndim >= 2 and id(p) not in marked and id(p) not in special]
        chosen = {id(p) for p in decayed} | special
        groups = [
            {"params": decayed, "weight_decay": weight_decay},
            {"params": [p for p in params if id(p) not in chosen], "weight_decay": 0.0},
        ]
    if split:
        base = weight_decay if decay_all else 0.0  # with decay_all = false a bias (1-d) is not decayed
        groups.append(
            {
                "params": [p for p in params if id(p) in special],
                "weight_decay": base * norm_bias_decay,
                "lr_scale": norm_bias_lr,
            }
        )
    return groups


def make_optimizer(
    model: torch.nn.Module, s: TrainSettings, norm_biases: Collection[str] | None = None
) -> torch.optim.Optimizer:
    """The optimizer `s` asks for over `model`'s parameters, with lr 0 (set per step).

    `norm_biases`: the parameter names of the normalisation layers' biases (`norm_bias_names`);
    None finds them among torch's norm classes. Only used when norm_bias_lr/norm_bias_decay are set."""
    special: Collection[str] = ()
    if s.norm_bias_lr != 1.0 or s.norm_bias_decay != 1.0:
        special = norm_bias_names(model) if norm_biases is None else norm_biases

    def groups(weight_decay: float) -> list[dict[str, Any]]:
        return decay_groups(model, s.decay_all, weight_decay, special, s.norm_bias_lr, s.norm_bias_decay)

    if s.optimizer == "adamw":
        return torch.optim.AdamW(groups(s.weight_decay), lr=0.0, betas=s.betas, eps=s.adam_eps)
    if s.optimizer == "sgd":
        return torch.optim.SGD(
            groups(s.weight_decay * s.batch_size),
            lr=0.0,
            momentum=s.momentum,
            nesterov=s.nesterov and s.momentum > 0,
        )
    raise ValueError(f"unknown optimizer {s.optimizer!r}")


def lr_scales(opt: torch.optim.Optimizer) -> list[float]:
    """Each parameter group's multiplier of the step lr (1 but for the norm-bias group)."""
    return [float(g.get("lr_scale", 1.0)) for g in opt.param_groups]


def mean_loss(s: TrainSettings) -> bool:
    """Whether the step backpropagates the batch's mean loss (adamw) rather than its sum (sgd)."""
    return s.optimizer == "adamw"


def step_lr(s: TrainSettings, lr: float, batch_size: int) -> float:
    """The lr to put in the optimizer's groups for schedule value `lr`: lr/batch_size for SGD's
    summed loss, lr itself for AdamW's mean loss."""
    return lr if mean_loss(s) else lr / batch_size
