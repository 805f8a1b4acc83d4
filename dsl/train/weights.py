"""Trained weights on disk: a state dict of tensors only, written atomically and read with
`torch.load(..., weights_only=True)`, so loading a weights file never runs code from it."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path

import torch

from ..errors import NetError
from ..fileio import FileReadError, read_bytes_limited, write_bytes

MAX_WEIGHTS = 64 << 30  # refuse to read more than this (a truncated or foreign file would say so first)


class WeightsError(NetError):
    """A weights file that is missing, unreadable or not a state dict of tensors."""


def save_weights(state: Mapping[str, torch.Tensor], path: str | os.PathLike[str]) -> None:
    """Write `state` (CPU, contiguous copies) to `path` atomically."""
    cpu = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    buf = io.BytesIO()
    torch.save(cpu, buf)
    write_bytes(path, buf.getvalue())


def load_weights(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """A state dict from `path`; WeightsError for anything that is not one (never runs code)."""
    p = Path(path)
    try:
        data = read_bytes_limited(p, MAX_WEIGHTS, "weights file")
    except FileReadError as err:
        raise WeightsError(err.message, file=str(p), hint=err.hint) from None
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling refused, truncated zip, not a torch file at all
        raise WeightsError(f"'{p}' is not a weights file netc can read ({type(err).__name__})", file=str(p)) from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in state.items()):
        raise WeightsError(f"'{p}' does not hold a state dict (names -> tensors)", file=str(p))
    return state


def apply_weights(model: torch.nn.Module, state: Mapping[str, torch.Tensor], where: str) -> None:
    """Load `state` into `model` exactly (strict); a WeightsError says which keys or shapes differ."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if shapes:
            k = shapes[0]
            parts.append(
                f"{len(shapes)} of another shape (e.g. {k}: {tuple(state[k].shape)} for {tuple(own[k].shape)})"
            )
        raise WeightsError(f"the weights in {where} do not fit this network: " + "; ".join(parts), file=where)
    model.load_state_dict(dict(state), strict=True)
