"""Running the front end on a thread with a deep stack.

Expansion and printing recurse once per level of the network's nesting. netc bounds that
nesting itself (`Limits.max_nesting`, `parser.MAX_DEPTH`) and refuses deeper input with a
located error; within those bounds the recursion must never meet Python's own recursion
limit or the C stack, wherever `dsl.load` is called from. So the front end runs on a
thread of its own with a large stack and a recursion limit above what the bounds need.

Under a tight address-space limit (`ulimit -v`, after torch has mapped its libraries) a
512 MB stack may not be available: smaller stacks are tried in turn, with the recursion limit
scaled down to match, so that a network nested deeper than the stack allows is refused with
a clear error instead of crashing the process; with no thread at all, the call runs inline.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from dsl.errors import NetError

STACK_BYTES = 512 << 20  # virtual memory only; pages are touched as the stack grows
STACK_FALLBACKS = (STACK_BYTES, 128 << 20, 32 << 20, 8 << 20)  # tried in turn when a thread cannot start
RECURSION_LIMIT = 150_000  # > Limits.max_nesting (20,000) x frames per level (<= 6) + printing

F = TypeVar("F", bound=Callable[..., Any])
_state = threading.local()  # .deep: on a deep-stack thread; .cancel: the Event that cancels this work
_limit_lock = threading.Lock()
_active: list[int] = []  # the recursion limit each running deep call needs
_saved = [0]  # the recursion limit to restore when no deep call runs


def _apply() -> None:
    """The interpreter-wide recursion limit: the smallest any running deep call can afford
    (a thread with a small stack must meet RecursionError before it runs out of stack)."""
    sys.setrecursionlimit(max(_saved[0], min(_active)) if _active else _saved[0])


def _raise_limit(limit: int) -> None:
    with _limit_lock:
        if not _active:
            _saved[0] = sys.getrecursionlimit()
        _active.append(limit)
        _apply()


def _restore_limit(limit: int) -> None:
    with _limit_lock:
        _active.remove(limit)
        _apply()


def _start(target: Callable[[], None]) -> tuple[threading.Thread | None, int]:
    """A started thread running `target` on the largest stack that can be had, and its size."""
    old = threading.stack_size()
    try:
        for size in STACK_FALLBACKS:
            try:
                threading.stack_size(size)
                t = threading.Thread(target=target, name="netc-front-end", daemon=True)
                t.start()
                return t, size
            except (RuntimeError, MemoryError, ValueError):  # "can't start new thread": no room for the stack
                continue
    finally:
        threading.stack_size(old)
    return None, 0


class Cancelled(BaseException):
    """The front-end work was cancelled (its result is no longer wanted: the editor changed the text).
    A BaseException, so that no `except Exception` on the way swallows it."""


@contextlib.contextmanager
def cancellable(event: threading.Event) -> Iterator[None]:
    """Front-end work in the block (and the deep-stack threads it starts) stops with `Cancelled` at
    its next `checkpoint` once `event` is set."""
    old = getattr(_state, "cancel", None)
    _state.cancel = event
    try:
        yield
    finally:
        _state.cancel = old


def checkpoint() -> None:
    """Raise `Cancelled` if this thread's work was cancelled (cheap: call it in loops)."""
    event = getattr(_state, "cancel", None)
    if event is not None and event.is_set():
        raise Cancelled


def deep(fn: F) -> F:
    """Decorator: run `fn` on a deep-stack thread (inline when already on one)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if getattr(_state, "deep", False):
            return fn(*args, **kwargs)
        box: dict[str, Any] = {}
        go = threading.Event()  # set once the recursion limit is raised for this call
        cancel = getattr(_state, "cancel", None)  # the caller's cancellation holds on the new thread

        def target() -> None:
            _state.deep = True
            _state.cancel = cancel
            go.wait()
            try:
                box["value"] = fn(*args, **kwargs)
            except RecursionError:
                box["error"] = _too_deep(box.get("stack", 0))
            except BaseException as err:  # handed to the caller's thread below
                box["error"] = err

        t, size = _start(target)
        box["stack"] = size
        limit = RECURSION_LIMIT * size // STACK_BYTES if t is not None else 0
        if t is None:  # not even a small thread: inline, with this thread's stack and limit
            try:
                return fn(*args, **kwargs)
            except RecursionError:
                raise _too_deep(0) from None
        _raise_limit(limit)
        try:
            go.set()
            t.join()
        finally:
            _restore_limit(limit)
        if "error" in box:
            err = box["error"]
            raise err.with_traceback(err.__traceback__)
        return box.get("value")

    return wrapper  # type: ignore[return-value]


def _too_deep(stack: int) -> NetError:
    """The refusal of input nested deeper than the stack this process could get allows."""
    got = f"a {stack >> 20} MB stack" if stack else "no thread of its own"
    return NetError(
        f"the network is nested too deeply to expand with {got} (the process's address space is limited)",
        hint="raise the limit (ulimit -v), or nest the network less deeply",
    )
