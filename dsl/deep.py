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

STACK_BYTES = 512 << 20       # virtual memory only; pages are touched as the stack grows
RECURSION_LIMIT = 20_000      # > max_nesting (1,000) x frames per level (~6) + definitions + printing

F = TypeVar("F", bound=Callable[..., Any])
_state = threading.local()


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

        if sys.getrecursionlimit() < RECURSION_LIMIT:
            sys.setrecursionlimit(RECURSION_LIMIT)
        old = threading.stack_size()
        try:
            threading.stack_size(STACK_BYTES)
            t = threading.Thread(target=target, name="netc-front-end", daemon=True)
            t.start()
        finally:
            threading.stack_size(old)
        t.join()
        if "error" in box:
            err = box["error"]
            raise err.with_traceback(err.__traceback__)
        return box.get("value")
    return wrapper  # type: ignore[return-value]
