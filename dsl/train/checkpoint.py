"""Checkpoint files: written atomically (temp file + os.replace), read with weights_only.

`AsyncWriter` writes in a background thread so the next epoch need not wait for the disk;
`close()` waits for the last write (call it before exiting, also on Ctrl-C).
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import torch

from ..errors import NetError


def save_atomic(obj, path: Path) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise NetError(f"'{path}' does not exist: the run has no completed epoch to resume from",
                       file=str(path)) from None
    except Exception as err:  # truncated zip, foreign pickle, ...
        raise NetError(f"'{path}' is not a readable netc checkpoint ({type(err).__name__}: {err})",
                       file=str(path)) from None


class AsyncWriter:
    """One background write at a time; a new submit waits for the previous one."""

    def __init__(self):
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def submit(self, obj, path: Path) -> None:
        self.wait()

        def work():
            try:
                save_atomic(obj, path)
            except BaseException as err:  # reported on the next submit/close
                self._error = err

        self._thread = threading.Thread(target=work, name="netc-checkpoint", daemon=False)
        self._thread.start()

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            err, self._error = self._error, None
            raise NetError(f"could not write a checkpoint: {err}")

    close = wait
