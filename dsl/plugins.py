"""Ops from other packages: plugins that register ops with `dsl.register_op` (= `dsl.core.ops.register`).

A plugin is a Python module that registers ops when imported (or an object that does so when
called). netc loads, in this order: every entry point of the group `netc.ops` of the installed
packages, the modules named in $NETC_PLUGINS (comma-separated), and the modules given with
`netc --plugin MODULE`. A `.net` file never loads or runs code itself: only these do.

A package declares its entry point in its pyproject.toml:

    [project.entry-points."netc.ops"]
    swish = "my_ops.swish"          # a module that registers its ops on import
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable
from importlib import metadata

from dsl.errors import NetError

GROUP = "netc.ops"
ENV = "NETC_PLUGINS"
_loaded: list[str] = []  # what this process loaded, in order (workers load the same)


def load_plugins(modules: Iterable[str] = (), entry_points: bool = True) -> list[str]:
    """Load the installed entry points (once per process), $NETC_PLUGINS and `modules`; returns
    every plugin loaded so far. A plugin that fails is a NetError naming it."""
    if entry_points and "entry_points" not in _loaded:
        _loaded.append("entry_points")
        for ep in sorted(metadata.entry_points(group=GROUP), key=lambda e: e.name):
            _run(f"entry point {ep.name} ({ep.value})", ep.load)
    names = [m.strip() for m in os.environ.get(ENV, "").split(",") if m.strip()] + list(modules)
    for name in names:
        if name not in _loaded:
            _run(f"module {name}", lambda n=name: importlib.import_module(n))
            _loaded.append(name)
    return list(_loaded)


def loaded() -> list[str]:
    """The plugin modules this process loaded (for worker processes to load the same)."""
    return [m for m in _loaded if m != "entry_points"]


def _run(what: str, load: object) -> None:
    try:
        obj = load()  # type: ignore[operator]
        if (
            callable(obj)
            and not isinstance(obj, type)
            and not hasattr(obj, "__path__")
            and not hasattr(obj, "__file__")
        ):
            obj()  # an entry point naming a function: call it to register
    except KeyboardInterrupt:
        raise
    except NetError as err:
        raise NetError(f"the op plugin {what} could not register its ops: {err.message}", hint=err.hint) from None
    except ValueError as err:  # dsl.core.ops.register's refusals (a name taken twice, a bad parameter)
        raise NetError(f"the op plugin {what} could not register its ops: {err}") from None
    except SystemExit as err:  # a plugin must not end the command (exit 0 having done nothing)
        raise NetError(
            f"the op plugin {what} called sys.exit({err.code!r}) while loading",
            hint="a plugin module should only register ops when imported",
        ) from None
    except BaseException as err:  # noqa: BLE001 - any failure of foreign code is the plugin's, said as such
        raise NetError(f"the op plugin {what} failed to load: {type(err).__name__}: {err}") from None
