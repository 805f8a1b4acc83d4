"""Typed records that netc writes to files and reads back: one declaration of each.

A record is a dataclass whose fields' types say how each value is read from JSON (`from_json`: every
key checked against its type, `X | None` allowed to be null, nested records and anything with its own
`from_json` read recursively, a field with a default allowed to be missing, as in files written
before it existed) and written (`to_json`: tuples as lists, records as objects). A field may carry a
check (`record_field(check=...)`, a complaint such as "at least 1", or None) and another key in the
file (`key=`). Every refusal names the file and the key; nothing is guessed.

The limits every record shares are here, once: the longest run (`MAX_EPOCHS`) and the longest
duration (`MAX_SECONDS`) a setting, a run folder or a results row may hold.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

from dsl.errors import NetError, show_value

MAX_EPOCHS = 100_000  # the longest run any record may hold: beyond it a value is corrupt, not a run
MAX_SECONDS = 1e9  # 31 years: a longer duration is a corrupt value (and overflows a plot's axis)

R = TypeVar("R")
Check = Callable[[Any], "str | None"]  # a complaint ("at least 1"), or None when fine
_MISSING_KEY = object()


def record_field(default: Any = dataclasses.MISSING, *, check: Check | None = None, key: str | None = None) -> Any:
    """A record's field with a check of its value and, where it differs from the name, its key in the file."""
    meta = {"check": check, "key": key}
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def from_json(cls: type[R], obj: Any, where: str, prefix: str = "") -> R:
    """The record `cls` of a parsed JSON object (see the module docstring); NetError naming `where`
    (the file) and the key for anything missing or malformed."""
    if not isinstance(obj, dict):
        raise NetError(f"'{where}': {prefix.rstrip('.') or 'the file'} is not a JSON object", file=where)
    hints = get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        key = f.metadata.get("key") or f.name
        has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        raw = obj.get(key, _MISSING_KEY)
        if raw is _MISSING_KEY or (raw is None and has_default and not _nullable(hints[f.name])):
            if not has_default:
                raise NetError(
                    f"'{where}' lacks '{prefix}{key}'",
                    file=where,
                    hint="the file is damaged or was not written by this netc",
                )
            continue
        value = _read(hints[f.name], raw, where, prefix + key)
        check = f.metadata.get("check")
        problem = check(value) if check is not None else None
        if problem:
            raise NetError(f"'{where}': {prefix}{key} must be {problem}, got {show_value(raw, 60)}", file=where)
        values[f.name] = value
    return cls(**values)


def to_json(record: Any) -> dict[str, Any]:
    """The JSON object of a record (tuples as lists, nested records as objects)."""
    return {f.metadata.get("key") or f.name: _write(getattr(record, f.name)) for f in dataclasses.fields(record)}


def _write(v: Any) -> Any:
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        own = getattr(v, "to_json", None)
        return own() if own is not None else to_json(v)
    if isinstance(v, (list, tuple)):
        return [_write(x) for x in v]
    if isinstance(v, dict):
        return {k: _write(x) for k, x in v.items()}
    return v


def _nullable(tp: Any) -> bool:
    return get_origin(tp) in (typing.Union, types.UnionType) and type(None) in get_args(tp)


_NAMES = {str: "str", int: "int", float: "float", bool: "bool", dict: "dict", list: "list"}


def _read(tp: Any, v: Any, where: str, name: str) -> Any:
    """`v` read as type `tp`; NetError naming `where` and `name` when it is not one."""
    if tp is Any:
        return v
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if v is None and len(args) < len(get_args(tp)):
            return None
        tp, origin = args[0], get_origin(args[0])
    if dataclasses.is_dataclass(tp):
        own = getattr(tp, "from_json", None)
        return own(v, f"{where}: {name}") if own is not None else from_json(tp, v, where, name + ".")  # type: ignore[arg-type]
    base = origin or tp
    ok = isinstance(v, base) and not (base in (int, float) and isinstance(v, bool))
    if base is float and isinstance(v, int) and not isinstance(v, bool):
        v, ok = float(v), True
    if not ok:
        raise NetError(
            f"'{where}': '{name}' should be {_NAMES.get(base, getattr(base, '__name__', str(base)))}, "
            f"got {json.dumps(v)[:60]}",
            file=where,
        )
    params = get_args(tp)
    if base is dict and params:
        return {_read(params[0], k, where, name): _read(params[1], x, where, f"{name}.{k}") for k, x in v.items()}
    if base is list and params:
        return [_read(params[0], x, where, f"{name}[{i}]") for i, x in enumerate(v)]
    return v
