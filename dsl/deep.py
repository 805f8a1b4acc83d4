"""Running the front end on a thread with a deep stack.

Expansion and printing recurse once per level of the network's nesting. netc bounds that
nesting itself (`Limits.max_nesting`, `parser.MAX_DEPTH`) and refuses deeper input with a
located error; within those bounds the recursion must never meet Python's own recursion
limit or the C stack, wherever `dsl.load` is called from. So the front end runs on a
thread of its own with a large stack and a recursion limit above what the bounds need.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

STACK_BYTES = 512 << 20  # virtual memory only; pages are touched as the stack grows
RECURSION_LIMIT = 150_000  # > Limits.max_nesting (20,000) x frames per level (<= 6) + printing

F = TypeVar("F", bound=Callable[..., Any])
_state = threading.local()
_limit_lock = threading.Lock()
_active = [0, 0]  # deep calls running, the recursion limit to restore when none is


def _raise_limit() -> None:
    """Raise the (interpreter-wide) recursion limit while any deep call runs."""
    with _limit_lock:
        if _active[0] == 0:
            _active[1] = sys.getrecursionlimit()
            if _active[1] < RECURSION_LIMIT:
                sys.setrecursionlimit(RECURSION_LIMIT)
        _active[0] += 1


def _restore_limit() -> None:
    with _limit_lock:
        _active[0] -= 1
        if _active[0] == 0:
            sys.setrecursionlimit(_active[1])


def deep(fn: F) -> F:
    """Decorator: run `fn` on a deep-stack thread (inline when already on one)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if getattr(_state, "deep", False):
            return fn(*args, **kwargs)
        box: dict[str, Any] = {}

        def target() -> None:
            _state.deep = True
            try:
                box["value"] = fn(*args, **kwargs)
            except BaseException as err:  # handed to the caller's thread below
                box["error"] = err

        _raise_limit()
        try:
            old = threading.stack_size()
            try:
                threading.stack_size(STACK_BYTES)
                t = threading.Thread(target=target, name="netc-front-end", daemon=True)
                t.start()
            finally:
                threading.stack_size(old)
            t.join()
        finally:
            _restore_limit()
        if "error" in box:
            err = box["error"]
            raise err.with_traceback(err.__traceback__)
        return box.get("value")

    return wrapper  # type: ignore[return-value]
