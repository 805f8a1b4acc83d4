"""What netc writes and what it trusts: outputs never replace special files, final weights are
verified before use, exports are all-or-nothing and carry their preprocessing (issue: hardening).

Special files are made in a temporary folder (FIFOs, and symbolic links to them): the tests run as
root, and a test must never point an output at a real device node."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat

import pytest
import torch
from train_fixtures import write_net, write_npz

import dsl
from dsl import fileio
from dsl.fileio import FileWriteError


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run folder with one finished run of a tiny net, its data and its .net file."""
    tmp = tmp_path_factory.mktemp("trained")
    data = write_npz(tmp / "d.npz", 128, 64)
    net = write_net(tmp / "tiny.net", epochs=1)
    run = tmp / "run"
    from dsl.cli import main

    assert main(["train", str(net), "--data", str(data), "--out", str(run), "--quiet"]) == 0
    return run


def special_targets(folder):
    """Outputs that must be refused: a FIFO, a link to it, a link to a link to it, a folder."""
    fifo = folder / "pipe"
    os.mkfifo(fifo)
    (folder / "link").symlink_to(fifo)
    (folder / "link2").symlink_to(folder / "link")
    (folder / "dir.svg").mkdir()
    return {"fifo": fifo, "link": folder / "link", "link-to-link": folder / "link2", "folder": folder / "dir.svg"}


def untouched(targets):
    """The special files are as they were: still a FIFO, links still links."""
    assert stat.S_ISFIFO(os.lstat(targets["fifo"]).st_mode)
    assert os.path.islink(targets["link"]) and os.path.islink(targets["link-to-link"])
    assert targets["folder"].is_dir() and not any(targets["folder"].iterdir())


def commands(trained, target):
    net = trained.parent / "tiny.net"
    return {
        "draw": ["draw", net, "-o", target, "--format", "svg"],
        "draw-dot": ["draw", net, "-o", target, "--format", "dot"],
        "export-py": ["export", trained, "--format", "py", "-o", target],
        "export-net-py": ["export", net, "--format", "py", "-o", target],
        "export-pt2": ["export", net, "--format", "pt2", "-o", target],
        "eval-plot": ["eval", trained, "--plot", target],
        "report-plot": ["report", trained, "--plot", target],
    }


@pytest.mark.parametrize(
    "cmd", ["draw", "draw-dot", "export-py", "export-net-py", "export-pt2", "eval-plot", "report-plot"]
)
@pytest.mark.parametrize("kind", ["fifo", "link", "link-to-link", "folder"])
def test_an_output_that_is_not_a_regular_file_is_refused_and_left_alone(netc, trained, tmp_path, cmd, kind):
    targets = special_targets(tmp_path)
    target = targets[kind]
    if cmd.endswith("plot"):  # plots are told by their extension: a link named .png to the FIFO
        (tmp_path / "plot.png").symlink_to(targets["fifo"] if kind != "folder" else targets["folder"])
        target = tmp_path / "plot.png"
    r = netc(*commands(trained, target)[cmd])
    assert r.code == 2, r
    assert "Traceback" not in r.err and "internal error" not in r.err, r.err
    assert any(w in r.err for w in ("not a regular file", "folder", "directory")), r.err
    untouched(targets)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary file left


def test_an_output_through_a_link_to_a_regular_file_writes_the_file_and_keeps_the_link(netc, trained, tmp_path):
    real = tmp_path / "real.svg"
    real.write_text("old")
    (tmp_path / "link.svg").symlink_to(real)
    r = netc("draw", trained.parent / "tiny.net", "-o", tmp_path / "link.svg")
    assert r.code == 0, r
    assert os.path.islink(tmp_path / "link.svg") and real.read_text().startswith("<?xml")


def test_run_folder_files_that_are_fifos_are_refused(netc, trained, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    os.mkfifo(out / "config.json")  # planted before the run: the folder is not empty
    net, data = trained.parent / "tiny.net", trained.parent / "d.npz"
    r = netc("train", net, "--data", data, "--out", out, "--quiet")
    assert r.code == 2 and "not empty" in r.err
    assert stat.S_ISFIFO(os.lstat(out / "config.json").st_mode)


def test_atomic_writer_refuses_special_files_before_creating_anything(tmp_path):
    fifo = tmp_path / "p"
    os.mkfifo(fifo)
    with pytest.raises(FileWriteError, match="FIFO"), fileio.atomic_writer(fifo) as f:
        f.write(b"x")
    assert [p.name for p in tmp_path.iterdir()] == ["p"]


# ----------------------------------------------------------------------------- exports
def test_export_of_a_search_space_without_a_variant_lists_the_variants(netc, root, tmp_path):
    r = netc("export", root / "nets/search_residual.net", "--format", "py", "-o", tmp_path / "m.py")
    assert r.code == 2 and "--variant" in r.err and "Residual:L1+L3" in r.err, r
    assert not (tmp_path / "m.py").exists()
    r = netc(
        "export", root / "nets/search_residual.net", "--format", "py", "-o", tmp_path / "m.py", "--variant", "Backbone"
    )
    assert r.code == 0 and (tmp_path / "m.py").exists()


def test_export_refuses_a_bad_output_before_loading_anything(netc, tmp_path):
    # the source does not exist: the output is checked first, so the message is about the output
    r = netc("export", tmp_path / "absent.net", "--format", "pt2", "-o", tmp_path / "no" / "such" / "m.pt2")
    assert r.code == 2 and "folder" in r.err and "absent.net" not in r.err, r


def test_a_failed_second_file_leaves_neither_behind(netc, trained, tmp_path, monkeypatch):
    real_replace = os.replace

    def failing(src, dst):
        if str(dst).endswith(".pt"):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(fileio.os, "replace", failing)
    r = netc("export", trained, "--format", "py", "-o", tmp_path / "m.py")
    assert r.code == 2 and "no space left" in r.err, r
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_export_py_refuses_when_its_weights_file_would_be_a_fifo(netc, trained, tmp_path):
    os.mkfifo(tmp_path / "m.pt")
    r = netc("export", trained, "--format", "py", "-o", tmp_path / "m.py")
    assert r.code == 2 and "m.pt" in r.err and not (tmp_path / "m.py").exists()


def test_exports_carry_their_preprocessing(netc, trained, tmp_path):
    settings = dsl.load_run(trained).settings
    assert netc("export", trained, "--format", "py", "-o", tmp_path / "m.py").code == 0
    ns: dict = {}
    exec(compile((tmp_path / "m.py").read_text(), "m.py", "exec"), ns)  # the test's own export, not user input
    assert ns["INPUT_SHAPE"] == (3, 16, 16)
    assert ns["MEAN"] == tuple(settings.mean) and ns["STD"] == tuple(settings.std)
    assert ns["CLASSES"] is None  # the npz named no classes: none invented
    images = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8)
    from dsl.train.infer import normalise

    assert torch.equal(ns["preprocess"](images), normalise(images, settings))
    assert netc("export", trained, "--format", "pt2", "-o", tmp_path / "m.pt2").code == 0
    from dsl.export.run import read_metadata

    meta = read_metadata(tmp_path / "m.pt2")
    assert meta["input_shape"] == [3, 16, 16] and meta["mean"] == list(settings.mean)


# ----------------------------------------------------------------------------- final weights
@pytest.fixture
def copy_of(trained, tmp_path):
    dest = tmp_path / "run"
    shutil.copytree(trained, dest)
    return dest


def rewrite_weights(run, state, checksum=True):
    path = run / "weights-run0.pt"
    torch.save(state, path)
    if checksum:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        (run / "weights-run0.pt.sha256").write_text(f"{digest}  weights-run0.pt\n")


@pytest.mark.parametrize("command", ["eval", "predict", "export"])
def test_tampered_weights_are_refused_by_every_command(netc, copy_of, tmp_path, command):
    state = torch.load(copy_of / "weights-run0.pt", weights_only=True)
    key = next(iter(state))
    state[key] = state[key] + 1  # same shapes, other values: only the checksum tells
    rewrite_weights(copy_of, state, checksum=False)
    args = {
        "eval": ["eval", copy_of],
        "predict": ["predict", copy_of, tmp_path / "x.png"],
        "export": ["export", copy_of, "--format", "py", "-o", tmp_path / "m.py"],
    }[command]
    r = netc(*args)
    assert r.code == 2 and "SHA-256 does not match" in r.err, r


def test_weights_without_their_checksum_are_refused_with_the_way_to_trust_them(netc, copy_of):
    (copy_of / "weights-run0.pt.sha256").unlink()
    r = netc("eval", copy_of)
    assert r.code == 2 and "no checksum file" in r.err and "sha256sum weights-run0.pt" in r.err, r
    digest = hashlib.sha256((copy_of / "weights-run0.pt").read_bytes()).hexdigest()
    (copy_of / "weights-run0.pt.sha256").write_text(f"{digest}  weights-run0.pt\n")  # as the hint says
    assert netc("eval", copy_of).code == 0


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused(netc, copy_of, value):
    state = torch.load(copy_of / "weights-run0.pt", weights_only=True)
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key] = torch.full_like(state[key], value)
    rewrite_weights(copy_of, state)  # a correct checksum: the values themselves are refused
    r = netc("eval", copy_of, "--json")
    assert r.code == 2 and "NaN or infinite" in r.err and r.out == "", r


def test_a_weights_file_larger_than_the_network_could_need_is_refused_unread(netc, copy_of, monkeypatch):
    path = copy_of / "weights-run0.pt"
    with open(path, "r+b") as f:  # a sparse 20 GB file: costs no disk
        f.truncate(20 << 30)
    read = []
    real_read = os.read

    def spy(fd, n):
        read.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real_read(fd, n)

    monkeypatch.setattr(fileio.os, "read", spy)
    r = netc("eval", copy_of)
    assert r.code == 2 and "weights file for this network is limited to" in r.err, r
    assert str(path) not in read and str(copy_of / "config.json") in read


def test_outputs_that_are_not_finite_are_refused_not_printed(copy_of, tmp_path):
    # weights that are finite but drive the logits to inf: a huge scale on the last layer
    from dsl.train.infer import NonFiniteOutput, predict

    trained = dsl.load_run(copy_of)
    last = [m for m in trained.model.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.weight.fill_(3e38)
    images = torch.full((2, 3, 16, 16), 255, dtype=torch.uint8).numpy()
    with pytest.raises(NonFiniteOutput, match="NaN or infinite for 2 of 2 images .e.g. a.png"):
        predict(trained.model, images, trained.settings, names=["a.png", "b.png"])


def test_eval_json_is_always_valid_json(netc, trained):
    r = netc("eval", trained, "--json")
    assert r.code == 0
    json.loads(r.out)


# ----------------------------------------------------------------------------- the standard output
class FullDisk:
    """A standard output on a full disk."""

    def write(self, text):
        raise OSError(28, "No space left on device")

    def flush(self):
        raise OSError(28, "No space left on device")

    def fileno(self):
        raise OSError(9, "not a real file")  # nothing to redirect: it is not a descriptor

    isatty = lambda self: False  # noqa: E731


@pytest.mark.parametrize(
    "args", [["ops"], ["summary", "nets/residual_l1_l3.net"], ["check", "nets/residual_l1_l3.net"]]
)
def test_a_standard_output_that_cannot_take_the_output_is_said_not_an_internal_error(root, monkeypatch, capsys, args):
    from dsl.cli import main

    monkeypatch.chdir(root)
    monkeypatch.setattr("sys.stdout", FullDisk())
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2 and "could not write the output: no space left on device" in err, err
    assert "internal error" not in err


def test_a_reader_that_goes_away_ends_netc_quietly(root):
    import subprocess
    import sys

    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dsl.cli",
            "summary",
            "--json",
            "nets/zoo/densenet121.net",
        ],  # 76 kB: over a pipe's buffer
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    p.stdout.read(10)
    p.stdout.close()  # as `| head -c 10` does
    err = p.stderr.read().decode()
    p.wait(timeout=60)
    assert p.returncode in (0, 141) and "Traceback" not in err and "internal error" not in err, err
