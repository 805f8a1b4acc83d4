"""Every network in nets/ and nets/zoo/ (each variant of a search space) expands to the fingerprint,
parameter count and MAC count recorded in tests/golden/fingerprints.json, and compiles to a module with
that many parameters: a change to how netc is organised must not change a single network.

The record was written before the reshaping of issue 22 (2026-12-08); only a deliberate change of
the language may rewrite it: NETC_UPDATE_FINGERPRINTS=1 .venv/bin/pytest tests/test_fingerprints.py
"""

from __future__ import annotations

import json
import os
import random

import pytest
import torch
from conftest import ROOT

import dsl
from dsl.core.graph import Graph
from dsl.front.loader import load_program

RECORD = ROOT / "tests" / "golden" / "fingerprints.json"
FILES = sorted((ROOT / "nets").glob("*.net")) + sorted((ROOT / "nets" / "zoo").glob("*.net"))


def graphs(path) -> list[tuple[str, Graph]]:
    """(variant name or '', graph) of every variant, or of 6 drawn (seed 0) from a space too big to list."""
    program = load_program(path)
    if program.is_space() and not program.listable():
        rng = random.Random(0)
        drawn = [program.variant_of(program.sample(rng)) for _ in range(6)]
        return [(v.name, program.graph(v)) for v in drawn]
    return [(name or "", dsl.load(path, variant=name)) for name in dsl.variants(path) or [None]]


def measure(path) -> dict[str, dict[str, int | str]]:
    """{variant or '': {fingerprint, params, macs, module_params}} for one file."""
    out = {}
    for name, g in graphs(path):
        with torch.device("meta"):  # the module's shapes without drawing weights
            module = dsl.build(g)
        out[name] = {
            "fingerprint": g.fingerprint,
            "params": g.params,
            "macs": g.macs,
            "module_params": sum(p.numel() for p in module.parameters()),
        }
    return out


def test_the_record_covers_every_file():
    record = json.loads(RECORD.read_text())
    assert sorted(record) == sorted(str(p.relative_to(ROOT)) for p in FILES)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_network_expands_and_compiles_as_recorded(path):
    key = str(path.relative_to(ROOT))
    got = measure(path)
    if os.environ.get("NETC_UPDATE_FINGERPRINTS") == "1":
        record = json.loads(RECORD.read_text()) if RECORD.exists() else {}
        record[key] = got
        RECORD.write_text(json.dumps(dict(sorted(record.items())), indent=1) + "\n")
        return
    assert got == json.loads(RECORD.read_text())[key]
