"""Is it the same run? Identities of a run's network and data, and what changed between two.

A resumed run must train the same network on the same data with the same settings as the
run it continues. The network is compared by fingerprint (the fully resolved graph, imports
included); the data by a digest of its arrays; the settings field by field.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np


def dataset_digest(ds: Any) -> str:
    """A SHA-256 of a dataset's images and labels (shapes and bytes), as loaded (after --limit); for an
    image folder read lazily (`ImageFiles`), its own digest of file names, sizes and labels."""
    own = getattr(ds, "digest", None)
    if callable(own):
        return str(own())
    h = hashlib.sha256()
    for name in ("train_x", "train_y", "test_x", "test_y"):
        a = np.ascontiguousarray(getattr(ds, name))
        h.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.data)
    return h.hexdigest()[:32]


def changed_sources(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """Lines naming each .net file that differs between two source sets, with its first change."""
    out = []
    for name in sorted(set(before) | set(after)):
        a, b = before.get(name), after.get(name)
        if a == b:
            continue
        if a is None:
            out.append(f"{name} is now imported")
        elif b is None:
            out.append(f"{name} is no longer imported")
        else:
            out.append(f"{name} changed: {_first_change(a, b)}")
    return out


def _first_change(a: str, b: str) -> str:
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a.splitlines(), b.splitlines()).get_opcodes():
        if tag == "equal":
            continue
        old = a.splitlines()[i1:i2]
        new = b.splitlines()[j1:j2]
        line = i1 + 1
        was = _short(old[0]) if old else "(nothing)"
        now = _short(new[0]) if new else "(nothing)"
        return f"line {line} was '{was}', now '{now}'"
    return "only line endings or spacing differ"


def _short(text: str) -> str:
    text = text.strip()
    return text if len(text) <= 60 else text[:57] + "..."
