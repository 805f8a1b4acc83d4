"""Compare text with a committed golden file; NETC_UPDATE_GOLDEN=1 rewrites the files instead."""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "golden"


def check_golden(relpath: str, text: str) -> None:
    path = GOLDEN / relpath
    if os.environ.get("NETC_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"missing golden file {path}; run with NETC_UPDATE_GOLDEN=1 to create it"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"{relpath} differs from its golden file; if intended, rerun with NETC_UPDATE_GOLDEN=1"
