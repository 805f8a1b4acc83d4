"""Ctrl-C during training: stop after the current step, save, then stop.

A KeyboardInterrupt raised in the middle of a step could leave the weights half-updated, so while
a session trains, the first Ctrl-C only asks for a stop (`StopRequest.requested`): the trainer
finishes the step in flight, saves a checkpoint of where it is (mid-epoch too) and then raises
KeyboardInterrupt. A second Ctrl-C stops at once, as usual. Outside the main thread (where Python
cannot install signal handlers) Ctrl-C keeps its usual meaning.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any


class StopRequest:
    """Whether a stop was asked for (by Ctrl-C, or by calling `request`)."""

    def __init__(self, say: Callable[[str], None] | None = None):
        self.requested = False
        self.say = say or (lambda text: print(text, file=sys.stderr, flush=True))
        self._old: Any = None

    def request(self) -> None:
        """Ask the trainer to save and stop after the current step."""
        self.requested = True

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:  # the second Ctrl-C: at once
            raise KeyboardInterrupt
        self.requested = True
        self.say("stopping after this step to save the run (Ctrl-C again to stop at once) ...")

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            with contextlib.suppress(ValueError, OSError):
                self._old = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
            self._old = None
