"""What the trainer asks of a model beyond forward: its norm layers, calibration and per-epoch hooks."""

from __future__ import annotations

from typing import Any

import torch


def norm_paths(model: Any) -> list[str] | None:
    """The module paths of a dsl graph's normalisation layers (its nodes with role "norm");
    None for a model from a callable (then torch's norm classes are looked for)."""
    nodes = getattr(model, "nodes", None)
    if not hasattr(model, "fingerprint") or not isinstance(nodes, dict):
        return None
    return [n.name.replace("/", ".") for n in nodes.values() if n.role == "norm"]


def calibrated_modules(model: torch.nn.Module) -> bool:
    """Whether a module of `model` sets its weights from data (has a `calibrate` method)."""
    return any(m is not model and callable(getattr(m, "calibrate", None)) for m in model.modules())


def set_epoch(model: torch.nn.Module, epoch: int) -> None:
    """The per-epoch protocol: `set_epoch(epoch)` on every module that has it (0-based epoch)."""
    for m in model.modules():
        hook = getattr(m, "set_epoch", None)
        if callable(hook):
            hook(epoch)


def grad_patterns(model: torch.nn.Module, epochs: int) -> dict[Any, int]:
    """The distinct requires_grad patterns of the parameters that `set_epoch` makes over `epochs`
    epochs, each with the first epoch showing it ({None: 0} without such modules); leaves the
    flags as they were."""
    if not any(callable(getattr(m, "set_epoch", None)) for m in model.modules()):
        return {None: 0}
    params = list(model.parameters())
    before = [p.requires_grad for p in params]
    seen: dict[Any, int] = {}
    for epoch in range(epochs):
        set_epoch(model, epoch)
        seen.setdefault(tuple(p.requires_grad for p in params), epoch)
    for p, flag in zip(params, before):
        p.requires_grad_(flag)
    return seen
