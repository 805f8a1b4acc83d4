"""Ops from other packages: an installed package registers an op through the `netc.ops` entry
point group, and every command uses it (check, summary, draw, ops, a CPU train step); the
same through `--plugin` and $NETC_PLUGINS; a broken plugin is a clean error.

The package is "installed" the way pip leaves one: a module and a `.dist-info` folder with
its entry points, in a folder on PYTHONPATH (so nothing is installed into the test's venv)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from train_fixtures import write_npz

PLUGIN = '''
"""A plugin: a squared-ReLU op with its own torch module (not a name looked up in torch.nn). It imports
torch only when a module is built, as netc's own ops do, so check/summary/draw stay fast."""
from dsl.core.ops import Op, P, register, same_shape


def build(ins, p):
    import torch

    class SquaredReLU(torch.nn.Module):
        def __init__(self, gain):
            super().__init__()
            self.gain = gain

        def forward(self, x):
            return self.gain * torch.relu(x) ** 2

    return SquaredReLU(p["gain"])


register(Op("sqrelu", (P("gain", "float", 1.0, min=0, max=10, doc="output gain"),), same_shape,
            build, style={"fillcolor": "#ff00ff"}, role="act", doc="gain * relu(x)^2 (from a plugin)"))
'''

NET = """input 3x16x16
conv(8) -> sqrelu(gain=0.5) -> maxpool(2) -> conv(16) -> sqrelu -> gmp -> linear(4)
train { epochs = 1, batch_size = 32, pad = 2, cutout = 4 }
"""


def install(site: Path, name: str = "netc_sqrelu", code: str = PLUGIN, entry: bool = True) -> None:
    (site / name).mkdir(parents=True)
    (site / name / "__init__.py").write_text(code)
    if entry:
        info = site / f"{name}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[netc.ops]\nsqrelu = {name}\n")


def netc(*args, site: Path, cwd: Path, env: dict | None = None):
    full = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1", **(env or {})}
    if "NETC_PLUGINS" not in (env or {}):
        full.pop("NETC_PLUGINS", None)
    return subprocess.run(
        [sys.executable, "-m", "dsl.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full,
        timeout=300,
    )


def test_an_installed_plugin_op_works_in_every_command(tmp_path):
    site = tmp_path / "site"
    install(site)
    (tmp_path / "p.net").write_text(NET)
    r = netc("check", "p.net", site=site, cwd=tmp_path)
    assert r.returncode == 0 and "p.net: ok" in r.stdout, r.stderr
    r = netc("summary", "p.net", "--json", site=site, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    layers = json.loads(r.stdout)["layers"]
    assert [row["op"] for row in layers].count("sqrelu") == 2
    r = netc("draw", "p.net", "--level", "ops", "-o", "p.svg", site=site, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    svg = (tmp_path / "p.svg").read_text()
    assert "sqrelu" in svg and "#ff00ff" in svg
    r = netc("ops", "sqrelu", site=site, cwd=tmp_path)
    assert r.returncode == 0 and "from a plugin" in r.stdout and "gain: float" in r.stdout
    data = write_npz(tmp_path / "d.npz", 64, 32)
    r = netc("train", "p.net", "--data", data, "--out", "run", "--quiet", site=site, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["complete"] and 0 <= result["mean_acc"] <= 1


def test_the_plugin_module_can_be_named_on_the_command_line_or_in_the_environment(tmp_path):
    site = tmp_path / "site"
    install(site, "my_ops", entry=False)
    (tmp_path / "p.net").write_text(NET)
    r = netc("check", "p.net", site=site, cwd=tmp_path)
    assert r.returncode == 2 and "unknown name 'sqrelu'" in r.stderr
    r = netc("--plugin", "my_ops", "check", "p.net", site=site, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = netc("check", "p.net", site=site, cwd=tmp_path, env={"NETC_PLUGINS": "my_ops"})
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize(
    "code,needle",
    [
        ("raise RuntimeError('boom')", "failed to load: RuntimeError: boom"),
        (
            "from dsl.core.ops import Op, register, same_shape\nregister(Op('relu', (), same_shape, lambda i, p: None))",
            "could not register its ops: op relu registered twice",
        ),
        ("import sys\nsys.exit(0)", "entry point sqrelu (bad_ops) called sys.exit(0) while loading"),
    ],
)
def test_a_broken_plugin_is_a_clean_error(tmp_path, code, needle):
    site = tmp_path / "site"
    install(site, "bad_ops", code=code)
    (tmp_path / "p.net").write_text("relu -> gmp -> fc\n")
    r = netc("check", "p.net", site=site, cwd=tmp_path)
    assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_a_net_file_never_loads_code(tmp_path):
    site = tmp_path / "site"
    install(site, "my_ops", entry=False)
    (tmp_path / "p.net").write_text('use "my_ops"\n' + NET)
    r = netc("check", "p.net", site=site, cwd=tmp_path)
    assert r.returncode == 2 and "cannot import" in r.stderr


@pytest.mark.parametrize(
    "code,needle",
    [
        ("raise SystemExit('bye')", "module bad_mod called sys.exit('bye') while loading"),
        ("raise KeyError('k')", "module bad_mod failed to load: KeyError"),
        ("class Odd(BaseException): pass\nraise Odd('x')", "failed to load: Odd: x"),
        ("import no_such_module_anywhere", "failed to load: ModuleNotFoundError"),
        (
            "from dsl.errors import NetError\nraise NetError('my own refusal')",
            "module bad_mod could not register its ops: my own refusal",
        ),
    ],
)
def test_whatever_a_plugin_raises_is_a_netc_error_naming_it(tmp_path, monkeypatch, code, needle):
    """In-process (the CLI's handling of a NetError is tested above): a plugin named with --plugin."""
    from dsl.errors import NetError
    from dsl.plugins import load_plugins

    install(tmp_path, "bad_mod", code=code, entry=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("NETC_PLUGINS", raising=False)
    with pytest.raises(NetError) as got:
        load_plugins(["bad_mod"], entry_points=False)
    assert needle in got.value.message
    sys.modules.pop("bad_mod", None)
