"""Trained weights on disk: a state dict of tensors only, written atomically and read with
`torch.load(..., weights_only=True)`, so loading a weights file never runs code from it.

Each weights file netc writes has a checksum beside it, `<name>.sha256`, in `sha256sum`'s
format (so `sha256sum -c weights-run0.pt.sha256` checks it by hand too). Reading verifies it
before unpickling anything, refuses a file larger than the network it is read for could need
(`size_bound`, so a huge or foreign file is never read whole into memory), and refuses weights
holding NaN or infinite values. Files netc did not write (a state dict saved by torch.save) are
read without a checksum where the caller allows it (`dsl.build(graph, weights=...)`).
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Mapping
from pathlib import Path

import torch

from dsl.errors import NetError
from dsl.fileio import FileReadError, read_bytes_limited, write_bytes

MAX_WEIGHTS = 64 << 30  # without a network to bound it: refuse to read more than this
SUFFIX = ".sha256"
_OVERHEAD = 1 << 20  # torch.save's zip and pickle framing, whatever the network
_PER_TENSOR = 4096  # ... plus the framing of each tensor (name, record, alignment)


class WeightsError(NetError):
    """A weights file that is missing, unreadable, damaged or not a state dict of tensors."""


def checksum_file(path: str | os.PathLike[str]) -> Path:
    """Where the checksum of the weights file `path` is kept."""
    p = Path(path)
    return p.with_name(p.name + SUFFIX)


def size_bound(model: torch.nn.Module) -> int:
    """The most bytes a weights file for `model` can take: its state dict's tensors plus framing."""
    state = model.state_dict()
    return sum(t.numel() * t.element_size() for t in state.values()) + _OVERHEAD + _PER_TENSOR * len(state)


def save_weights(state: Mapping[str, torch.Tensor], path: str | os.PathLike[str]) -> None:
    """Write `state` (CPU, contiguous copies) to `path` atomically, then its checksum beside it."""
    cpu = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    buf = io.BytesIO()
    torch.save(cpu, buf)
    data = buf.getvalue()
    write_bytes(path, data)
    name = Path(path).name
    write_bytes(checksum_file(path), f"{hashlib.sha256(data).hexdigest()}  {name}\n".encode())


def load_weights(
    path: str | os.PathLike[str], limit: int = MAX_WEIGHTS, require_checksum: bool = False
) -> dict[str, torch.Tensor]:
    """A state dict from `path`, checked (size, checksum, tensors only, finite values); WeightsError
    for anything else. The file is never read beyond `limit` bytes and never runs code."""
    p = Path(path)
    try:
        data = read_bytes_limited(p, limit, "weights file for this network")
    except FileReadError as err:
        raise WeightsError(err.message, file=str(p), hint=err.hint) from None
    _verify(p, data, require_checksum)
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling refused, truncated zip, not a torch file at all
        raise WeightsError(f"'{p}' is not a weights file netc can read ({type(err).__name__})", file=str(p)) from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in state.items()):
        raise WeightsError(f"'{p}' does not hold a state dict (names -> tensors)", file=str(p))
    bad = [k for k, v in state.items() if (v.is_floating_point() or v.is_complex()) and not torch.isfinite(v).all()]
    if bad:
        raise WeightsError(
            f"'{p}' holds NaN or infinite values in {len(bad)} tensor(s) (e.g. {bad[0]}): its outputs would be "
            "meaningless",
            file=str(p),
            hint="the run diverged (try a lower lr), or the file was changed",
        )
    return state


def _verify(p: Path, data: bytes, required: bool) -> None:
    """Check `data` against the checksum file beside `p` (WeightsError if it differs, or is
    missing where `required`)."""
    sums = checksum_file(p)
    if not sums.exists() and not sums.is_symlink():
        if required:
            raise WeightsError(
                f"'{p}' has no checksum file ({sums.name}): it cannot be told from a damaged or replaced file",
                file=str(p),
                hint=f"if you trust the file, write one: sha256sum {p.name} > {sums.name} (in its folder)",
            )
        return
    try:
        text = read_bytes_limited(sums, 4096, "checksum file").decode("ascii")
        expected = text.split()[0].lower()
    except (FileReadError, UnicodeDecodeError, IndexError):
        raise WeightsError(f"the checksum file '{sums}' is damaged", file=str(sums)) from None
    if hashlib.sha256(data).hexdigest() != expected:
        raise WeightsError(
            f"'{p}' is damaged or was changed: its SHA-256 does not match {sums.name}",
            file=str(p),
            hint="train the run again, or restore the file",
        )


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
