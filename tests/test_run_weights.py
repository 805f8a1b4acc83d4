"""Trained weights in the run folder (weights-runN.pt), `dsl.load_run`, `dsl.build(graph, weights=...)`
and `netc export RUN_DIR`: the weights a run ends with, in a safe format, usable without netc."""

from __future__ import annotations

import importlib.util
import json
import shutil
import zipfile

import pytest
import torch
from train_fixtures import write_net, write_npz

import dsl
from dsl.cli import main
from dsl.errors import NetError


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run folder with two finished runs of a tiny net (trained once for this file)."""
    tmp = tmp_path_factory.mktemp("trained")
    data = write_npz(tmp / "d.npz", 128, 64)
    net = write_net(tmp / "tiny.net", epochs=2)
    run = tmp / "run"
    assert main(["train", str(net), "--data", str(data), "--out", str(run), "--runs", "2", "--quiet"]) == 0
    return run


def test_each_run_leaves_its_final_weights_readable_with_weights_only(trained):
    for run in (0, 1):
        state = torch.load(trained / f"weights-run{run}.pt", weights_only=True)
        assert isinstance(state, dict) and all(torch.is_tensor(v) for v in state.values())
    a = torch.load(trained / "weights-run0.pt", weights_only=True)
    b = torch.load(trained / "weights-run1.pt", weights_only=True)
    assert any(not torch.equal(a[k], b[k]) for k in a)  # two seeds, two networks


def test_load_run_gives_the_network_that_scored_the_runs_accuracy(trained):
    r = dsl.load_run(trained, run=1)
    assert not r.model.training and r.run == 1 and r.weights_file.name == "weights-run1.pt"
    assert r.graph.fingerprint == json.loads((trained / "config.json").read_text())["net"]["fingerprint"]
    assert r.classes == ["0", "1", "2", "3"]  # an npz names no classes; 4 outputs
    # the final weights equal the last checkpoint's (the last run's final epoch)
    from dsl.train import checkpoint

    snap = checkpoint.load(trained / "checkpoint.pt")["snapshot"]
    for k, v in r.model.state_dict().items():
        assert torch.equal(v, snap["model"][k]), k


def test_load_run_does_not_depend_on_the_net_file(trained, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    (trained.parent / "tiny.net").rename(trained.parent / "moved.net")  # the original file is gone
    try:
        assert dsl.load_run(copy).graph.params > 0
    finally:
        (trained.parent / "moved.net").rename(trained.parent / "tiny.net")


def test_build_with_weights_from_a_file_or_a_state_dict(trained):
    r = dsl.load_run(trained)
    x = torch.randn(2, *r.graph.input_shape)
    with torch.no_grad():
        expected = r.model(x)
        for weights in (trained / "weights-run0.pt", str(trained / "weights-run0.pt"), r.model.state_dict()):
            assert torch.equal(dsl.build(r.graph, weights=weights).eval()(x), expected)


def test_weights_that_do_not_fit_are_refused_with_what_differs(trained, tmp_path):
    g = dsl.loads("input 3x16x16\nconv(8) -> gmp -> linear(4)")
    with pytest.raises(NetError, match="do not fit this network: .*missing .*unexpected"):
        dsl.build(g, weights=trained / "weights-run0.pt")
    other = dsl.loads("input 3x16x16\nconv_bn(16) -> maxpool(2) -> conv_bn(32) -> gmp -> linear(5)")
    with pytest.raises(NetError, match="of another shape \\(e.g. linear.weight: \\(4, 32\\) for \\(5, 32\\)\\)"):
        dsl.build(other, weights=trained / "weights-run0.pt")


def test_hostile_weights_files_are_refused_without_running_them(tmp_path):
    g = dsl.loads("input 3x8x8\nconv(4) -> gmp -> linear(2)")

    class Boom:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"conv.weight": Boom()}, tmp_path / "evil.pt")  # a pickle that would call print
    (tmp_path / "text.pt").write_text("not a weights file")
    with zipfile.ZipFile(tmp_path / "zip.pt", "w") as z:
        z.writestr("x", "y")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    for name in ("evil.pt", "text.pt", "zip.pt", "list.pt", "missing.pt"):
        with pytest.raises(NetError) as err:
            dsl.build(g, weights=tmp_path / name)
        assert name in str(err.value)


def test_load_run_refusals(trained, tmp_path):
    with pytest.raises(NetError, match="there is no run 2"):
        dsl.load_run(trained, run=2)
    with pytest.raises(NetError, match="not a netc run folder"):
        dsl.load_run(tmp_path)
    with pytest.raises(NetError, match="is not a folder"):
        dsl.load_run(tmp_path / "nope")
    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    (copy / "weights-run1.pt").unlink()
    with pytest.raises(NetError, match="no final weights for run 1"):
        dsl.load_run(copy, run=1)


def test_export_from_a_run_folder_carries_the_trained_weights(trained, tmp_path, netc):
    r = netc("export", trained, "--run", "1", "--format", "py", "-o", tmp_path / "tiny_model.py")
    assert r.code == 0 and "tiny_model.pt" in r.out, r
    text = (tmp_path / "tiny_model.py").read_text()
    assert 'torch.load("tiny_model.pt", weights_only=True)' in text  # the docstring's one-liner names it
    spec = importlib.util.spec_from_file_location("tiny_model", tmp_path / "tiny_model.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    model = mod.Tiny().eval()
    model.load_state_dict(torch.load(tmp_path / "tiny_model.pt", weights_only=True))
    x = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(model(x), dsl.load_run(trained, run=1).model(x))
    out = tmp_path / "tiny.pt2"
    assert netc("export", trained, "--format", "pt2", "-o", out).code == 0
    with torch.no_grad():
        assert torch.allclose(torch.export.load(out).module()(x), dsl.load_run(trained).model(x), atol=1e-6)
    r = netc("export", trained, "--format", "py", "--variant", "x", "-o", tmp_path / "v.py")
    assert r.code == 2 and "--variant applies to a .net file" in r.err


def test_a_session_stopped_after_its_last_epoch_writes_the_weights_when_resumed(trained, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    before = torch.load(copy / "weights-run1.pt", weights_only=True)
    (copy / "weights-run1.pt").unlink()  # as if killed between the last checkpoint and the weights file
    assert main(["train", "--resume", str(copy), "--quiet"]) == 0
    after = torch.load(copy / "weights-run1.pt", weights_only=True)
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
