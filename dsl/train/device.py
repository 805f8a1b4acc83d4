"""Which device and precision a run uses, and the errors when they are not available."""

from __future__ import annotations

import torch

from dsl.errors import TrainError

PRECISIONS = ("auto", "bf16", "fp16", "fp32")
AMP_DTYPES: dict[str, torch.dtype | None] = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """`auto` -> cuda when torch sees a GPU, else cpu; refuses devices that are not there."""
    if isinstance(name, torch.device):
        return name
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TrainError(
            "--device cuda was asked for but torch sees no CUDA GPU", hint="use --device cpu (slow) or --device auto"
        )
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise TrainError(f"unknown device '{name}'", hint="use auto, cuda, cuda:N or cpu") from None
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise TrainError(
            f"there is no {name}: torch sees {torch.cuda.device_count()} GPU(s)",
            hint="use cuda:0 .. cuda:N-1, or --device auto",
        )
    return dev


def resolve_precision(precision: str | None, device: torch.device) -> str:
    """`auto` -> bf16 on CUDA, fp32 elsewhere."""
    if precision in (None, "auto"):
        return "bf16" if device.type == "cuda" else "fp32"
    if precision not in AMP_DTYPES:
        raise TrainError(f"unknown precision '{precision}'", hint="use bf16, fp16 or fp32")
    return precision


def device_name(device: torch.device) -> str:
    """The GPU's name, or 'cpu'."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def oom_error(what: str, batch_size: int | None = None) -> TrainError:
    """The error for running out of GPU memory, with a smaller batch size to try."""
    smaller = f" (e.g. --batch-size {max(1, batch_size // 2)})" if batch_size else ""
    return TrainError(
        f"the GPU ran out of memory while {what}",
        hint=f"use a smaller batch size{smaller}, a smaller net, or --device cpu",
    )
