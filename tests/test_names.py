"""Names that would break the compiled module: Python keywords and attributes torch.nn.Module or
torch.fx.GraphModule already has. A name the user gives is refused with a located error; a
definition named like one (`float = conv(8)`) gives blocks with a trailing underscore."""

from __future__ import annotations

import keyword

import pytest
import torch
import torch.fx as fx
import torch.nn as nn

import dsl
from dsl.errors import NetError
from dsl.front.names import MODULE_ATTRIBUTES


def test_the_list_covers_the_installed_torch():
    graph_module = fx.GraphModule(nn.Module(), fx.Graph())
    attrs = set(dir(nn.Module())) | set(dir(fx.GraphModule)) | set(dir(graph_module))
    missing = {a for a in attrs if not (a.startswith("__") and a.endswith("__"))} - MODULE_ATTRIBUTES
    assert not missing, f"add to dsl/front/names.py: {sorted(missing)}"


SAMPLES = [
    "forward", "training", "float", "graph", "code", "state_dict", "to", "_modules", "definition", "class",
    "self", "__init__", "__class__", "__dict__", "__call__",
]  # fmt: skip


@pytest.mark.parametrize("name", SAMPLES + ["lambda", "None", "for"])
def test_a_given_name_is_refused_where_it_is_written(name, netc, write):
    path = write("n.net", f"input 3x8x8\nconv(8) -> {name}: relu -> gmp -> linear(2)\n")
    r = netc("check", path)
    assert r.code == 2 and "n.net:2:" in r.err and f"'{name}' cannot name a block or op" in r.err, r.err
    assert f"{name}_" in r.err


@pytest.mark.parametrize("name", SAMPLES + sorted(k for k in keyword.kwlist if k not in ("True", "False")))
def test_a_definition_named_like_one_builds_and_runs(name):
    try:
        g = dsl.loads(f"input 3x8x8\n{name} = conv(8) -> relu\n{name} -> gmp -> linear(2)\n")
    except NetError as err:  # `true`/`false` and .net's own keywords are the language's business
        pytest.skip(f"not a .net name: {err.message}")
    model = dsl.build(g)
    assert f"{name}_.conv.weight" in model.state_dict()
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 2)
