"""netc eval and netc predict on a tiny net trained once on generated data: eval reproduces the
run's last-epoch test figures, predict agrees with the model on independently preprocessed images,
and every bad input is a clean exit 2 naming the file."""

from __future__ import annotations

import csv
import json
import math
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from train_fixtures import easy_images, write_net, write_npz

import dsl
from dsl.cli import main
from dsl.data import load_dataset
from dsl.train.infer import Evaluation, evaluation_text, plot_confusion, read_image

NAMES = ["red", "green", "blue", "yellow"]
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2471, 0.2435, 0.2616)


def named_npz(path, n_train=256, n_test=128, size=16, seed=0):
    tx, ty = easy_images(n_train, size, seed)
    vx, vy = easy_images(n_test, size, seed + 1)
    np.savez(path, train_x=tx, train_y=ty, test_x=vx, test_y=vy, classes=np.array(NAMES))
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished run of a tiny net (2 epochs) on 256 / 100-of-128 images with named classes."""
    root = tmp_path_factory.mktemp("evalrun")
    data = named_npz(root / "d.npz")
    net = write_net(root / "tiny.net", epochs=2)
    out = root / "run"
    code = main(["train", str(net), "--data", str(data), "--out", str(out), "--limit-test", "100", "--quiet"])
    assert code == 0
    return out


def last_row(run):
    with open(run / "metrics.csv") as f:
        return list(csv.DictReader(f))[-1]


def rows_of_table(out: str) -> dict[str, list[str]]:
    """The per-class rows of eval's text output: class name -> its cells."""
    rows = {}
    for line in out.splitlines():
        cells = line.split()
        if len(cells) == 5 and cells[1] in NAMES:
            rows[cells[1]] = cells
    return rows


# ----------------------------------------------------------------------------- eval


def test_eval_reproduces_the_runs_last_epoch(run, netc):
    row = last_row(run)
    r = netc("eval", run, "--device", "cpu")
    assert r.code == 0, r.err
    assert "Traceback" not in r.err
    head = next(line for line in r.out.splitlines() if line.startswith("test loss"))
    loss = float(head.split()[2].rstrip(","))
    right, n = map(int, head.split("(")[1].split(")")[0].split("/"))
    assert n == 100  # the run's --limit-test subset, taken again
    assert abs(right / n - float(row["test_acc"])) <= 1e-6
    assert abs(loss - float(row["test_loss"])) <= 1e-5
    table = rows_of_table(r.out)
    assert set(table) == set(NAMES)
    assert sum(int(c[2]) for c in table.values()) == n and sum(int(c[3]) for c in table.values()) == right
    # the confusion matrix: a header of column indices, then one row per class whose counts add up to n
    lines = r.out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("confusion matrix"))
    assert lines[at + 1].split() == ["0", "1", "2", "3"]
    matrix = [[int(v) for v in line.split()[2:]] for line in lines[at + 2 : at + 6]]
    assert [line.split()[1] for line in lines[at + 2 : at + 6]] == NAMES
    assert sum(map(sum, matrix)) == n and sum(matrix[i][i] for i in range(4)) == right

    j = netc("eval", run, "--json")
    assert j.code == 0, j.err
    res = json.loads(j.out)
    assert res["n"] == n and res["correct"] == right and res["classes"] == NAMES
    assert abs(res["accuracy"] - float(row["test_acc"])) <= 1e-6
    assert abs(res["loss"] - float(row["test_loss"])) <= 1e-5
    conf = np.array(res["confusion"])
    assert conf.shape == (4, 4) and conf.sum() == n and np.trace(conf) == right
    for pc in res["per_class"]:
        assert pc["count"] == conf[pc["index"]].sum() == int(table[pc["class"]][2])
        assert pc["correct"] == conf[pc["index"], pc["index"]]
        assert pc["predicted"] == conf[:, pc["index"]].sum()
    # another batch size: the same figures up to float rounding
    b = json.loads(netc("eval", run, "--json", "--batch-size", "7").out)
    assert b["correct"] == right and abs(b["loss"] - res["loss"]) <= 1e-5


@pytest.mark.parametrize("level", [1, 2])
def test_eval_tta_averages_the_logits_of_the_views_as_training_does(run, netc, level):
    r = netc("eval", run, "--tta", str(level), "--json")
    assert r.code == 0, r.err
    res = json.loads(r.out)
    assert res["tta"] == level and 0 <= res["accuracy"] <= 1 and res["n"] == 100
    # the same figures computed here, from the model and the test images
    trained = dsl.load_run(run)
    ds = load_dataset(trained.config.data.arg, limit_test=100)
    x = torch.from_numpy(ds.test_x).float() / 255
    x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    m = trained.model
    with torch.no_grad():

        def mirror_avg(v):
            return (m(v) + m(v.flip(3))) / 2

        logits = mirror_avg(x)
        if level == 2:
            p = F.pad(x, (1, 1, 1, 1), mode="reflect")
            h, w = x.shape[-2:]
            logits = logits / 2 + (mirror_avg(p[:, :, :h, :w]) + mirror_avg(p[:, :, 2:, 2:])) / 4
    y = torch.from_numpy(ds.test_y)
    assert res["correct"] == int((logits.argmax(1) == y).sum())
    assert math.isclose(res["loss"], float(F.cross_entropy(logits, y)), rel_tol=1e-4)
    text = netc("eval", run, "--tta", str(level))
    assert text.code == 0 and f"TTA level {level}" in text.out


def test_eval_defaults_to_the_runs_own_tta_level(run, netc):
    assert dsl.load_run(run).settings.tta == 0
    assert json.loads(netc("eval", run, "--json").out)["tta"] == 0


def test_eval_plot_writes_a_png(run, netc, tmp_path):
    out = tmp_path / "cm.png"
    r = netc("eval", run, "--plot", out)
    assert r.code == 0, r.err
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size[0] > 100
    bad = netc("eval", run, "--plot", tmp_path / "cm.txt")
    assert bad.code == 2 and "cm.txt" in bad.err
    nofolder = netc("eval", run, "--plot", tmp_path / "nowhere" / "cm.png")
    assert nofolder.code == 2 and "does not exist" in nofolder.err


def test_eval_on_other_data(run, netc, tmp_path):
    other = named_npz(tmp_path / "other.npz", 64, 48, seed=5)
    r = netc("eval", run, "--data", other, "--json")
    assert r.code == 0, r.err
    res = json.loads(r.out)
    assert res["n"] == 48 and sum(map(sum, res["confusion"])) == 48 and res["data"] == str(other)
    assert res["accuracy"] > 0.5  # the tint task is easy: the run learnt it
    limited = json.loads(netc("eval", run, "--data", other, "--json", "--limit-test", "10").out)
    assert limited["n"] == 10
    small = write_npz(tmp_path / "small.npz", 32, 16, size=12)
    bad = netc("eval", run, "--data", small)
    assert bad.code == 2 and "small.npz" in bad.err and "3x12x12" in bad.err and "Traceback" not in bad.err


def test_eval_user_errors(run, netc, tmp_path):
    r = netc("eval", tmp_path / "missing")
    assert r.code == 2 and "missing" in r.err
    r = netc("eval", run, "--run", "1")
    assert r.code == 2 and "no run 1" in r.err
    r = netc("eval", run, "--data", tmp_path / "nodata.npz")
    assert r.code == 2 and "nodata.npz" in r.err


def edited_copy(run, dest, **data):
    shutil.copytree(run, dest)
    cfg = json.loads((dest / "config.json").read_text())
    cfg["data"].update(data)
    (dest / "config.json").write_text(json.dumps(cfg))
    return dest


def test_eval_says_when_the_runs_data_changed_or_went(run, netc, tmp_path):
    changed = edited_copy(run, tmp_path / "changed", digest="0" * 32)
    r = netc("eval", changed)
    assert r.code == 0 and "differs from what the run trained on" in r.err
    gone = edited_copy(run, tmp_path / "gone", arg=str(tmp_path / "gone.npz"))
    r = netc("eval", gone)
    assert r.code == 2 and "gone.npz" in r.err and "--data" in r.err and "Traceback" not in r.err


def test_many_classes_leave_the_matrix_to_json_and_plot(tmp_path):
    n = 25
    conf = np.diag(np.arange(1, n + 1)).astype(np.int64)
    conf[0, 1] = 3
    ev = Evaluation(
        [f"class ${i}" for i in range(n)],
        int(conf.sum()),
        0.5,
        int(np.trace(conf)),
        conf.sum(1),
        np.diag(conf).copy(),
        conf.sum(0),
        conf,
        False,
    )
    text = evaluation_text(ev)
    assert "too large to print" in text and "class $24" in text
    assert len([line for line in text.splitlines() if "class $" in line]) == n
    with Image.open(plot_confusion(ev, tmp_path / "big.png", "many")) as im:
        assert im.format == "PNG"


# ----------------------------------------------------------------------------- predict


def reference_input(path, size=16):
    """The documented preprocessing, written out here: RGB, shorter side to `size`, centre crop, normalise."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        s = size / min(w, h)
        nw, nh = max(size, round(w * s)), max(size, round(h * s))
        im = im.resize((nw, nh), Image.Resampling.BILINEAR)
        left, top = (nw - size) // 2, (nh - size) // 2
        im = im.crop((left, top, left + size, top + size))
        x = torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1).float() / 255
    return (x - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(3, 1, 1)


@pytest.fixture
def images(tmp_path):
    """Images of several sizes, formats and modes, tinted like the classes (red, blue, yellow, green)."""
    g = np.random.default_rng(3)

    def tinted(h, w, colour):
        return np.clip(g.integers(-40, 40, (h, w, 3)) + np.array(colour), 0, 255).astype(np.uint8)

    paths = {
        "a.png": Image.fromarray(tinted(23, 40, (200, 40, 40))),
        "b.jpg": Image.fromarray(tinted(16, 16, (40, 40, 200))),
        "c.png": Image.fromarray(tinted(50, 30, (200, 200, 40))).convert("L"),
        "d.jpeg": Image.fromarray(tinted(9, 12, (40, 200, 40))),
    }
    for name, im in paths.items():
        im.save(tmp_path / name)
    return [tmp_path / name for name in paths]


def parse_predictions(out: str) -> dict[str, list[tuple[float, str]]]:
    result: dict[str, list[tuple[float, str]]] = {}
    current = ""
    for line in out.splitlines():
        if line.startswith("  "):
            p, name = line.split()
            result[current].append((float(p), name))
        else:
            current = line
            result[current] = []
    return result


def test_predict_agrees_with_the_model(run, netc, images):
    r = netc("predict", run, *images, "--top", "2")
    assert r.code == 0, r.err
    got = parse_predictions(r.out)
    assert list(got) == [str(p) for p in images]
    model = dsl.load_run(run).model
    with torch.no_grad():
        probs = F.softmax(model(torch.stack([reference_input(p) for p in images])), 1)
    for p, row in zip(images, probs):
        top = got[str(p)]
        assert len(top) == 2 and sum(q for q, _ in top) <= 1 + 1e-4
        assert top[0][0] >= top[1][0]
        assert top[0][1] == NAMES[int(row.argmax())]
        assert abs(top[0][0] - float(row.max())) <= 2e-3

    j = netc("predict", run, *images, "--json", "--top", "9", "--batch-size", "3")
    assert j.code == 0, j.err
    res = json.loads(j.out)
    assert [p["file"] for p in res["predictions"]] == [str(p) for p in images]
    for pred, row in zip(res["predictions"], probs):
        assert len(pred["top"]) == 4  # --top is capped at the class count
        assert [t["class"] for t in pred["top"]] == [NAMES[i] for i in row.argsort(descending=True).tolist()]
        assert math.isclose(sum(t["probability"] for t in pred["top"]), 1, rel_tol=1e-5)
        assert np.allclose([t["probability"] for t in pred["top"]], row.sort(descending=True).values, atol=1e-4)
    five = parse_predictions(netc("predict", run, images[0]).out)
    assert len(five[str(images[0])]) == 4  # default 5, capped at 4 classes


@pytest.fixture
def damaged_run(run, tmp_path):
    copy = tmp_path / "noweights"
    shutil.copytree(run, copy)
    (copy / "weights-run0.pt").unlink()
    return copy


def bad_inputs(tmp_path, images):
    text = tmp_path / "notes.png"
    text.write_text("not an image at all\n")
    blob = images[1].read_bytes()
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(blob[: len(blob) // 2])
    (tmp_path / "folder").mkdir()
    return {
        "missing": (tmp_path / "missing.png", "does not exist"),
        "folder": (tmp_path / "folder", "is a folder"),
        "text": (text, "is not an image"),
        "truncated": (truncated, "does not decode"),
    }


@pytest.mark.parametrize("case", ["missing", "folder", "text", "truncated"])
def test_predict_bad_images(run, netc, tmp_path, images, case):
    path, needle = bad_inputs(tmp_path, images)[case]
    r = netc("predict", run, images[0], path)
    assert r.code == 2, r
    assert str(path) in r.err and needle in r.err
    assert "Traceback" not in r.err and r.out == ""  # nothing printed for the good image either


@pytest.mark.parametrize("limit", [600, 100])  # 40x23 = 920 pixels: above the limit (warning), above twice it (error)
def test_predict_refuses_decompression_bombs(run, netc, images, monkeypatch, limit):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    r = netc("predict", run, images[0])
    assert r.code == 2 and "decompression bomb" in r.err and str(images[0]) in r.err


def test_predict_bad_run_folders(netc, tmp_path, images, damaged_run):
    r = netc("predict", tmp_path / "norun", images[0])
    assert r.code == 2 and "norun" in r.err and "Traceback" not in r.err
    r = netc("predict", damaged_run, images[0])
    assert r.code == 2 and "weights-run0.pt" in r.err and "Traceback" not in r.err
    r = netc("eval", damaged_run)
    assert r.code == 2 and "weights-run0.pt" in r.err


# ----------------------------------------------------------------------------- read_image


def test_read_image_channels_orientation_and_depth(tmp_path):
    g = np.random.default_rng(4)
    rgb = g.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    grey = read_image(tmp_path / "rgb.png", (1, 10, 10))
    with Image.open(tmp_path / "rgb.png") as im:
        want = np.asarray(im.convert("L").resize((15, 10), Image.Resampling.BILINEAR).crop((2, 0, 12, 10)))
    assert grey.shape == (1, 10, 10) and grey.dtype == np.uint8 and np.array_equal(grey[0], want)
    # a non-square input: the image is scaled to cover it, then its centre is cut out
    assert read_image(tmp_path / "rgb.png", (3, 8, 16)).shape == (3, 8, 16)
    # EXIF orientation 6 (rotate 90° clockwise to show) is applied before cropping
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rgb).save(tmp_path / "turned.png", exif=exif)
    Image.fromarray(rgb).transpose(Image.Transpose.ROTATE_270).save(tmp_path / "upright.png")
    assert np.array_equal(
        read_image(tmp_path / "turned.png", (3, 12, 12)), read_image(tmp_path / "upright.png", (3, 12, 12))
    )
    # 16-bit grey is scaled to 8 bits, not clipped
    Image.fromarray(np.full((12, 12), 65535, np.uint16)).save(tmp_path / "deep.png")
    Image.fromarray(np.full((12, 12), 32768, np.uint16)).save(tmp_path / "mid.png")
    assert (read_image(tmp_path / "deep.png", (3, 12, 12)) == 255).all()
    assert (read_image(tmp_path / "mid.png", (1, 12, 12)) == 128).all()
