"""The wheel ships every subpackage, the grammar and the prelude."""

from __future__ import annotations

import tomllib
from conftest import ROOT


def test_every_subpackage_is_listed_in_pyproject():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    on_disk = {"dsl"} | {f"dsl.{p.parent.name}" for p in (ROOT / "dsl").glob("*/__init__.py")}
    assert on_disk <= listed
    assert cfg["package-dir"]["dsl.grammar"] == "grammar" and (ROOT / "grammar/net.lark").is_file()
    assert "*.net" in cfg["package-data"]["dsl"] and (ROOT / "dsl/prelude.net").is_file()
