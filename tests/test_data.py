"""dsl.data: the three --data layouts, the restricted unpickler, clean errors for bad files."""

from __future__ import annotations

import os
import pickle
import re

import numpy as np
import pytest
from train_fixtures import easy_images, write_cifar_pickles, write_imagefolder, write_net, write_npz

from dsl.cli import main
from dsl.data import PickleRefused, SafeUnpickler, load_dataset
from dsl.errors import DataError


def test_three_layouts_give_the_same_images(tmp_path):
    a = load_dataset(write_npz(tmp_path / "d.npz", 100, 40))
    b = load_dataset(write_cifar_pickles(tmp_path / "pk", 100, 40))
    c = load_dataset(write_imagefolder(tmp_path / "if", 100, 40))
    tx, ty = easy_images(100, 16, 0)
    for ds in (a, b):
        assert ds.train_x.shape == (100, 3, 16, 16) and ds.train_x.dtype == np.uint8
        np.testing.assert_array_equal(ds.train_x, tx.transpose(0, 3, 1, 2))
        np.testing.assert_array_equal(ds.train_y, ty)
        assert ds.test_x.shape == (40, 3, 16, 16)
    assert b.layout == "cifar-pickle" and b.classes == ["red", "green", "blue", "yellow"]
    assert not b.official and b.notice and "not the official" in b.notice
    # the image folder: classes are the sorted folder names; the same images, in folder order
    assert c.classes == ["blue", "green", "red", "yellow"]
    names = ["red", "green", "blue", "yellow"]
    want = sorted((names[y], x.transpose(2, 0, 1).tobytes()) for x, y in zip(tx, ty))
    got = sorted((c.classes[y], x.tobytes()) for x, y in zip(c.train_x, c.train_y))
    assert got == want


def test_npz_in_a_folder_and_limits(tmp_path):
    write_npz(tmp_path / "only.npz", 50, 20)
    ds = load_dataset(tmp_path, limit=10, limit_test=5)
    assert (len(ds.train_y), len(ds.test_y)) == (10, 5)


def test_safe_unpickler_reads_plain_data_and_numeric_arrays():
    import io

    obj = {b"data": np.arange(6, dtype=np.uint8).reshape(2, 3), "labels": [1, 2], "x": (1.5, None, True, b"b")}
    for proto in (2, 4, 5):
        got = SafeUnpickler(io.BytesIO(pickle.dumps(obj, protocol=proto)), encoding="latin1").load()
        np.testing.assert_array_equal(got[b"data"], obj[b"data"])
        assert got["x"] == obj["x"]
    with pytest.raises(PickleRefused, match="object array"):
        SafeUnpickler(io.BytesIO(pickle.dumps(np.array([{}], dtype=object), protocol=2))).load()
    with pytest.raises(PickleRefused, match="posix.system|os.system"):
        SafeUnpickler(io.BytesIO(pickle.dumps(_Evil("x"), protocol=2))).load()
    assert SafeUnpickler(io.BytesIO(pickle.dumps(b"", protocol=2))).load() == b""  # protocol 2's bytes()


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path, capsys):
    root = write_cifar_pickles(tmp_path / "pk", 40, 20)
    marker = tmp_path / "PWNED"
    with open(root / "cifar-10-batches-py" / "data_batch_2", "wb") as f:
        pickle.dump({b"data": _Evil(marker), b"labels": [0]}, f, protocol=2)
    net = write_net(tmp_path / "tiny.net")
    code = main(["train", str(net), "--data", str(root), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2
    assert "data_batch_2" in err and "system" in err and "Traceback" not in err
    assert not marker.exists()


EXPECT = {
    "truncated_pickle": "is corrupt or truncated",
    "garbage_npz": r"is not an \.npz \(zip\) archive",
    "truncated_npz": "is a truncated or corrupt zip archive",
    "bad_png": "does not decode as an image",
    "npz_missing_key": "lacks test_x, test_y",
}


@pytest.mark.parametrize("damage", sorted(EXPECT))
def test_corrupt_data_gives_a_clean_error_naming_the_file(tmp_path, capsys, damage):
    if damage == "truncated_pickle":
        root = write_cifar_pickles(tmp_path / "pk", 40, 20)
        bad = root / "cifar-10-batches-py" / "test_batch"
        bad.write_bytes(bad.read_bytes()[:300])
        data = root
    elif damage in ("garbage_npz", "truncated_npz"):
        bad = write_npz(tmp_path / "d.npz", 40, 20)
        raw = bad.read_bytes()
        bad.write_bytes(b"\x00garbage" * 10 if damage == "garbage_npz" else raw[: len(raw) // 2])
        data = bad
    elif damage == "npz_missing_key":
        bad = tmp_path / "d.npz"
        np.savez(bad, train_x=np.zeros((4, 16, 16, 3), np.uint8), train_y=np.zeros(4, np.int64))
        data = bad
    else:
        root = write_imagefolder(tmp_path / "if", 16, 8)
        bad = next((root / "train" / "red").glob("*.png"))
        bad.write_bytes(b"not a png at all")
        data = root
    net = write_net(tmp_path / "tiny.net")
    code = main(["train", str(net), "--data", str(data), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert bad.name in err and "Traceback" not in err and "internal error" not in err
    assert re.search(EXPECT[damage], err), err
    assert "Python objects" not in err


def test_offline_without_data_says_how_to_use_data(tmp_path, monkeypatch):
    import torchvision.datasets.utils as tvu

    def offline(*a, **k):
        raise OSError("network is unreachable")

    monkeypatch.setenv("NETC_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(tvu, "download_and_extract_archive", offline)
    with pytest.raises(DataError) as info:
        load_dataset(None)
    text = str(info.value)
    assert "--data" in text and "cache" in text and "unreachable" in text


def test_cache_folder_with_cifar_is_used(tmp_path, monkeypatch):
    write_cifar_pickles(tmp_path / "cache", 20, 10)
    monkeypatch.setenv("NETC_DATA", str(tmp_path / "cache"))
    ds = load_dataset(None)
    assert len(ds.train_y) == 20 and ds.layout == "cifar-pickle"
