"""Data-dependent initialisation: modules that set their weights from the data they see.

A module with a method `calibrate(inputs)` (the whitening convolution `whiten`; later e.g. LSUV or
mean-only batch-norm init) is calibrated before training: `calibrate(model, images)` runs the model
on `images` and hands each such module the batch of inputs it receives, in the order the forward
pass reaches them, each after the ones before it are set (so a later module sees what the earlier,
calibrated ones make). The `.net` file only names the op; the trainer provides the images (the
first training images, normalised, not augmented) before the first step.

The passes run without gradients and in eval mode (batch norm neither uses nor updates batch
statistics), and each stops at the module it calibrates.
"""

from __future__ import annotations

import torch


class _Reached(Exception):
    """Stops a calibration pass at the module it calibrated."""


def calibrate(model: torch.nn.Module, images: torch.Tensor) -> list[str]:
    """Calibrate every module of `model` that has a `calibrate` method; returns their names in order."""
    pending = {
        m: name for name, m in model.named_modules() if m is not model and callable(getattr(m, "calibrate", None))
    }
    done: list[str] = []
    reached: list[torch.nn.Module] = []

    def hook(module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        module.calibrate(args[0])  # type: ignore[operator]
        reached.append(module)
        raise _Reached

    was_training = model.training
    model.eval()
    try:
        while pending:
            reached.clear()
            handles = [m.register_forward_pre_hook(hook) for m in pending]
            try:
                with torch.no_grad():
                    model(images)
            except _Reached:
                pass
            finally:
                for h in handles:
                    h.remove()
            if not reached:  # the forward pass never uses the rest
                break
            done.append(pending.pop(reached[0]))
    finally:
        model.train(was_training)
    return done
