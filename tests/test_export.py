"""`netc export`: readable standalone PyTorch source, ONNX and torch.export programs.

The py export of every file in nets/ and nets/zoo/ (and of the hand-written nets that use every
primitive) runs in a fresh Python process that cannot import netc: it loads the state dict of
dsl.build(graph) with strict=True and gives the same outputs (max abs difference <= 1e-6, fp32). The
sources pass `ruff check`; residual_l1_l3's is a golden file. ONNX Runtime and torch.export.load agree
with torch on several networks.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
import types

import pytest
import torch
from conftest import NETS, ROOT
from hypothesis import HealthCheck, given, settings
from net_strategies import PRELUDE, net_exprs
from test_counts import HAND

import dsl
from dsl.errors import NetError
from dsl.export import to_python

ZOO = sorted((ROOT / "nets" / "zoo").glob("*.net"))
GOLDEN = ROOT / "tests" / "golden" / "export_residual_l1_l3.py"
UPDATE = os.environ.get("NETC_UPDATE_GOLDEN") == "1"


def graph_of(path) -> dsl.core.graph.Graph:
    """The file's network, ImageNet zoo networks at 32×32 (64×64 for ViT-B/16: 16 tokens) to keep this fast."""
    if path.parent.name != "zoo":
        return dsl.load(path)
    return dsl.load(path, input_shape=(3, 64, 64) if "vit" in path.name else (3, 32, 32))


def root_class(module: types.ModuleType) -> type:
    """The network's class: the last class the file defines."""
    classes = [v for v in vars(module).values() if isinstance(v, type) and v.__module__ == module.__name__]
    return classes[-1]


def exec_source(source: str, name: str = "exported") -> types.ModuleType:
    mod = types.ModuleType(name)
    exec(compile(source, f"<{name}>", "exec"), mod.__dict__)
    return mod


# ----------------------------------------------------------------------------- every file, without netc
RUNNER = textwrap.dedent(
    """
    import importlib.util, json, sys
    sys.modules["dsl"] = None  # the exported code must not need netc
    try:
        import dsl  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("netc is importable")
    import torch
    report = {}
    for name in sys.argv[2:]:
        spec = importlib.util.spec_from_file_location(name, f"{sys.argv[1]}/{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        cls = [v for v in vars(mod).values() if isinstance(v, type) and v.__module__ == name][-1]
        data = torch.load(f"{sys.argv[1]}/{name}.pt", weights_only=True, mmap=True)
        with torch.device("meta"):  # no time spent drawing initial weights that are replaced at once
            model = cls().eval()
        model.load_state_dict(data["state"], strict=True, assign=True)
        with torch.no_grad():
            out = model(data["x"])
        # relative to the output's scale: a float32 sum in another order (thread count) differs by ~1e-7
        report[name] = ((out - data["y"]).abs().max() / data["y"].abs().max().clamp(min=1)).item()
    print(json.dumps(report))
    """
)


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")  # torch pads a copy; outputs unaffected
def test_every_net_and_zoo_file_runs_without_netc_with_the_same_weights_and_outputs(tmp_path):
    cases = {p.stem: graph_of(p) for p in [*NETS, *ZOO]}
    cases.update({f"hand_{k}": dsl.loads(v, filename=f"{k}.net") for k, v in HAND.items()})
    for name, graph in cases.items():
        torch.manual_seed(0)
        model = dsl.build(graph).eval()
        (tmp_path / f"{name}.py").write_text(to_python(graph, model), encoding="utf-8")
        x = torch.randn(2, *graph.input_shape)
        with torch.no_grad():
            y = model(x)
        torch.save({"state": model.state_dict(), "x": x, "y": y}, tmp_path / f"{name}.pt")
        del model
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, str(tmp_path), *cases],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    import json

    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(report) == set(cases)
    assert all(d <= 1e-5 for d in report.values()), {k: v for k, v in report.items() if v > 1e-5}

    ruff = shutil.which("ruff") or shutil.which("ruff", path=os.path.dirname(sys.executable))
    if ruff is None:  # at least they compile
        for name in cases:
            compile((tmp_path / f"{name}.py").read_text(), name, "exec")
    else:  # ruff's default rules (pyflakes, pycodestyle errors), not this project's configuration
        r = subprocess.run([ruff, "check", "--isolated", "--no-cache", str(tmp_path)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout[-3000:]


def test_the_source_reads_as_hand_written(netc, tmp_path):
    out = tmp_path / "residual_l1_l3.py"
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        r = netc("export", "nets/residual_l1_l3.net", "--format", "py", "-o", out)
    finally:
        os.chdir(cwd)
    assert r.code == 0, r
    text = out.read_text(encoding="utf-8")
    if UPDATE:
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8"), "regenerate with NETC_UPDATE_GOLDEN=1"
    # one class per definition, named after it; the network last; no netc import
    for cls in ("class ConvBn(nn.Module)", "class Res(nn.Module)", "class Layer1(nn.Module)", "class ResidualL1L3"):
        assert cls in text
    assert "dsl" not in text.replace("dsl.build", "") and "netc" not in text.split('"""', 2)[2]


def test_instances_share_a_class_with_their_numbers_as_parameters():
    src = to_python(dsl.load(ROOT / "nets/zoo/resnet18.net"))
    assert src.count("class Basic(") == 1 and src.count("class Basic2(") == 1  # with and without projection
    assert "def __init__(self, c: int)" in src and "def __init__(self, in_channels: int, c: int)" in src
    assert "self.layer2 = nn.Sequential(Basic2(64, 128), Basic(128))" in src


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")
@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(net_exprs)
def test_generated_nets_export_to_equal_modules(body):
    text = f"input 3x8x8\n{PRELUDE}\nconv(4, k=1) -> {body} -> concat(gmp, flatten -> linear(3)) -> linear(2)"
    try:
        graph = dsl.loads(text, filename="generated.net")
    except NetError:
        return
    torch.manual_seed(0)
    model = dsl.build(graph).eval()
    exported = root_class(exec_source(to_python(graph, model)))().eval()
    exported.load_state_dict(model.state_dict(), strict=True)
    assert [k for k, _ in exported.named_parameters()] == [k for k, _ in model.named_parameters()]
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert (exported(x) - model(x)).abs().max().item() <= 1e-6


def test_frozen_parameters_stay_frozen():
    g = dsl.loads("input 3x8x8\nconv(4, frozen=true) -> bn(frozen=true) -> gmp -> linear(2)")
    model = dsl.build(g)
    exported = root_class(exec_source(to_python(g, model)))()
    frozen = {k for k, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {"conv.weight", "conv.bias", "bn.weight"}
    assert frozen == {k for k, p in exported.named_parameters() if not p.requires_grad}


# ----------------------------------------------------------------------------- ONNX and torch.export
ONNX_NETS = ["nets/residual_l1_l3.net", "nets/vit_cifar.net", "nets/zoo/mobilenet_v2.net"]


@pytest.mark.parametrize("file", ONNX_NETS)
def test_onnx_runtime_agrees_with_torch(file, netc, tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="the optional extra netc[onnx] is not installed")
    pytest.importorskip("onnxscript", reason="the optional extra netc[onnx] is not installed")
    out = tmp_path / "model.onnx"
    r = netc("export", ROOT / file, "--format", "onnx", "-o", out, "--seed", "3")
    assert r.code == 0, r
    torch.manual_seed(3)
    model = dsl.build(dsl.load(ROOT / file)).eval()
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = torch.randn(5, *dsl.load(ROOT / file).input_shape)  # another batch size than the export's
    (y,) = session.run(None, {"input": x.numpy()})
    with torch.no_grad():
        assert abs(y - model(x).numpy()).max() <= 1e-4


@pytest.mark.parametrize("file", ["nets/residual_l1_l3.net", "nets/vit_cifar.net"])
def test_pt2_program_loads_and_agrees(file, netc, tmp_path):
    out = tmp_path / "model.pt2"
    assert netc("export", ROOT / file, "--format", "pt2", "-o", out).code == 0
    torch.manual_seed(0)
    model = dsl.build(dsl.load(ROOT / file)).eval()
    program = torch.export.load(out)
    x = torch.randn(3, *dsl.load(ROOT / file).input_shape)
    with torch.no_grad():
        assert (program.module()(x) - model(x)).abs().max().item() <= 1e-6


# ----------------------------------------------------------------------------- refusals
def test_bad_invocations_exit_2(netc, tmp_path, write):
    net = ROOT / "nets/residual_l1_l3.net"
    assert netc("export", net, "--format", "tflite", "-o", tmp_path / "x").code == 2
    r = netc("export", tmp_path / "missing.net", "--format", "py", "-o", tmp_path / "x.py")
    assert r.code == 2 and "missing.net" in r.err
    r = netc("export", net, "--format", "py", "-o", tmp_path / "no" / "such" / "dir" / "x.py")
    assert r.code == 2 and "Traceback" not in r.err
    bad = write("bad.net", "conv(8) -> gmp -> fc 3\n")
    assert netc("export", bad, "--format", "py", "-o", tmp_path / "b.py").code == 2
    assert not (tmp_path / "b.py").exists()


def test_an_op_the_exporter_cannot_write_is_named(tmp_path):
    import torch.nn as nn

    from dsl.export.modules import RENDERERS
    from dsl.export.pysource import PythonWriter

    class Odd(nn.Module):
        def forward(self, x):
            return x

    g = dsl.loads("input 3x8x8\nrelu -> gmp -> linear(2)")
    model = dsl.build(g)
    model.relu = Odd()
    assert Odd not in RENDERERS
    with pytest.raises(NetError, match="op relu \\(at relu\\) compiles to .*Odd, which the py exporter cannot write"):
        PythonWriter(g, model).source()


def test_module_path_spec_loading_works_for_the_golden_file():
    spec = importlib.util.spec_from_file_location("golden_export", GOLDEN)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    model = mod.ResidualL1L3()
    assert sum(p.numel() for p in model.parameters()) == 6_573_120
    assert list(model.state_dict()) == list(dsl.build(dsl.load(ROOT / "nets/residual_l1_l3.net")).state_dict())


def test_onnx_without_the_optional_extra_says_how_to_install_it(netc, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # as if netc[onnx] were not installed
    r = netc("export", ROOT / "nets/residual_l1_l3.net", "--format", "onnx", "-o", tmp_path / "m.onnx")
    assert r.code == 2 and "needs the 'onnxscript' package" in r.err and "pip install 'netc[onnx]'" in r.err
    assert not (tmp_path / "m.onnx").exists()
