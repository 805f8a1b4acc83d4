"""Checkpoint files: self-verifying, written atomically, never unpickled.

A checkpoint is `MAGIC`, the SHA-256 of the payload, then the payload (`torch.save` bytes,
read back with `weights_only=True`, so loading never runs code). Each save keeps the one it
replaces as `checkpoint.prev.pt`. `load_latest` verifies the checksum and falls back to the
previous checkpoint when the latest is missing or damaged, saying so; it never silently
starts over. `AsyncWriter` saves in a background thread so the next epoch need not wait for
the disk; `close()` waits for the last write (call it before exiting, also on Ctrl-C).
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dsl.errors import NetError
from dsl.fileio import FileReadError, FileWriteError, read_bytes_limited, write_bytes

MAGIC = b"NETC-CHECKPOINT-1\n"
MAX_BYTES = 1 << 36  # 64 GiB: far above any network netc accepts


class CheckpointError(NetError):
    """A checkpoint is missing, damaged or not netc's."""


def encode(obj: dict[str, Any]) -> bytes:
    """The bytes of a checkpoint file holding `obj` (tensors, numbers, strings, containers)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    payload = buf.getvalue()
    return MAGIC + hashlib.sha256(payload).digest() + payload


def decode(data: bytes, path: Path) -> dict[str, Any]:
    """The object in checkpoint bytes; CheckpointError if they are damaged or foreign."""
    head = len(MAGIC) + 32
    if not data.startswith(MAGIC) or len(data) < head:
        raise CheckpointError(f"'{path}' is not a netc checkpoint (or is truncated)", file=str(path))
    payload = data[head:]
    if hashlib.sha256(payload).digest() != data[len(MAGIC) : head]:
        raise CheckpointError(f"'{path}' is damaged (its checksum does not match its contents)", file=str(path))
    try:
        obj = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as err:  # a valid checksum over something torch cannot read: not ours
        raise CheckpointError(
            f"'{path}' is not a readable netc checkpoint ({type(err).__name__})", file=str(path)
        ) from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"'{path}' does not hold a netc checkpoint", file=str(path))
    return obj


def save(obj: dict[str, Any], path: Path) -> None:
    """Write a checkpoint atomically, keeping the one it replaces as `<name>.prev.pt`."""
    write_bytes(path, encode(obj), backup=previous(path))


def previous(path: Path) -> Path:
    """Where the checkpoint before `path` is kept."""
    return path.with_name(path.stem + ".prev" + path.suffix)


def load(path: Path) -> dict[str, Any]:
    """Read and verify one checkpoint file."""
    try:
        data = read_bytes_limited(path, MAX_BYTES, "checkpoint")
    except FileReadError as err:
        raise CheckpointError(err.message, file=str(path)) from None
    return decode(data, path)


@dataclass
class Loaded:
    """A verified checkpoint and where it came from; `note` says why it is not the latest."""

    data: dict[str, Any]
    path: Path
    note: str | None = None


def load_latest(path: Path, validate: Callable[[dict[str, Any], Path], None] | None = None) -> Loaded | None:
    """The latest good checkpoint: `path`, else `<name>.prev.pt` (with a note saying why);
    None when neither exists. Raises CheckpointError when checkpoints exist but none is good."""
    problems = []
    for candidate in (path, previous(path)):
        if not candidate.exists():
            problems.append(f"{candidate.name} is missing")
            continue
        try:
            data = load(candidate)
            if validate is not None:
                validate(data, candidate)
        except CheckpointError as err:
            problems.append(err.message)
            continue
        note = None if candidate == path else f"{'; '.join(problems)}: resuming from {candidate.name} instead"
        return Loaded(data, candidate, note)
    if all(p.endswith("is missing") for p in problems):
        return None
    raise CheckpointError(
        "no usable checkpoint: " + "; ".join(problems),
        file=str(path),
        hint="the run cannot continue from where it stopped; start a new run with --out",
    )


class AsyncWriter:
    """One background save at a time; a new submit waits for the previous one."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def submit(self, obj: dict[str, Any], path: Path) -> None:
        """Save `obj` to `path` in the background (after the previous save finished)."""
        self.wait()

        def work() -> None:
            try:
                save(obj, path)
            except BaseException as err:  # reported on the next submit/close
                self._error = err

        self._thread = threading.Thread(target=work, name="netc-checkpoint", daemon=False)
        self._thread.start()

    def wait(self) -> None:
        """Wait for the pending save; re-raise its failure as a clean error."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            err, self._error = self._error, None
            if isinstance(err, FileWriteError):
                raise FileWriteError(f"could not save the checkpoint: {err.message}", file=err.file) from None
            raise NetError(f"could not save the checkpoint '{err}'") from err

    close = wait
