"""dsl.data by name and in torchvision's other on-disk layouts: CIFAR-100, SVHN, Fashion-MNIST (and MNIST),
STL-10, image folders with val/; the class count checked against the network with a located error.

Every file here is generated small, in the real format (the writers below follow each dataset's own
layout, and torchvision's own classes read the same files where they can without the network); no test
downloads anything.
"""

from __future__ import annotations

import gzip
import json
import os
import pickle
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from dsl.cli import main
from dsl.data import check_data_path, data_arg, dataset_name, load_dataset
from dsl.errors import DataError

FINE = [f"fine{i:02d}" for i in range(100)]  # CIFAR-100's meta names all 100 fine classes
FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def images(n: int, h: int, w: int, c: int = 3, seed: int = 0) -> np.ndarray:
    """(N, H, W, C) uint8 noise, every pixel different between images."""
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, c), dtype=np.uint8)


# ----------------------------------------------------------------------------- writers of the real formats
def write_cifar100(root: Path, n_train=40, n_test=20, labels=(0, 7, 42, 99), size=32) -> dict:
    """torchvision's `cifar-100-python/`: protocol-2 dict pickles `train`, `test` (data N x 3072 rows,
    R then G then B planes; fine_labels, coarse_labels) and `meta` (fine_label_names, coarse_label_names)."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    out = {}
    g = np.random.default_rng(5)
    for split, n, seed in (("train", n_train, 0), ("test", n_test, 1)):
        x = images(n, size, size, 3, seed)
        y = g.choice(labels, n)
        d = {
            "filenames": [f"img_{i}.png" for i in range(n)],
            "batch_label": f"{split}ing batch 1 of 1",
            "fine_labels": [int(v) for v in y],
            "coarse_labels": [int(v) // 5 for v in y],
            "data": np.ascontiguousarray(x.transpose(0, 3, 1, 2).reshape(n, -1)),
        }
        with open(folder / split, "wb") as f:
            pickle.dump(d, f, protocol=2)
        out[split] = (x, y)
    with open(folder / "meta", "wb") as f:
        pickle.dump({"fine_label_names": FINE, "coarse_label_names": [f"coarse{i}" for i in range(20)]}, f, protocol=2)
    return out


def _mat_var(name: str, a: np.ndarray) -> bytes:
    """One MATLAB v5 miMATRIX element (array flags, dimensions, name, real part; column-major data)."""
    cls, mi = {np.dtype(np.uint8): (9, 2), np.dtype(np.float64): (6, 9)}[a.dtype]

    def pad(b: bytes) -> bytes:
        return b + b"\0" * ((-len(b)) % 8)

    flags = struct.pack("<IIII", 6, 8, cls, 0)
    dims = struct.pack("<II", 5, 4 * a.ndim) + pad(struct.pack(f"<{a.ndim}i", *a.shape))
    raw = name.encode()
    nm = (
        struct.pack("<I", (len(raw) << 16) | 1) + raw.ljust(4, b"\0")
        if len(raw) <= 4
        else pad(struct.pack("<II", 1, len(raw)) + raw)
    )
    data = a.tobytes(order="F")
    body = flags + dims + nm + pad(struct.pack("<II", mi, len(data)) + data)
    return struct.pack("<II", 14, len(body)) + body


def write_mat(path: Path, arrays: dict[str, np.ndarray], compress: bool = True) -> Path:
    """A MATLAB v5 MAT-file as MATLAB and scipy.io.savemat write it (each variable zlib-packed in a
    miCOMPRESSED element when `compress`, as in SVHN's files)."""
    text = b"MATLAB 5.0 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024"
    out = bytearray(text.ljust(116, b" ") + b"\0" * 8 + struct.pack("<H", 0x0100) + b"IM")
    for name, a in arrays.items():
        el = _mat_var(name, a)
        if compress:
            z = zlib.compress(el)
            el = struct.pack("<II", 15, len(z)) + z
        out += el
    path.write_bytes(bytes(out))
    return path


def write_svhn(folder: Path, n_train=12, n_test=6, compress=True) -> dict:
    """SVHN's `train_32x32.mat`, `test_32x32.mat`: X is 32 x 32 x 3 x N uint8, y is N x 1 double 1..10."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n, seed in (("train", n_train, 0), ("test", n_test, 1)):
        x = images(n, 32, 32, 3, seed)
        y = np.arange(n) % 10 + 1  # 10 is the digit 0
        write_mat(
            folder / f"{split}_32x32.mat", {"X": x.transpose(1, 2, 3, 0), "y": y[:, None].astype(np.float64)}, compress
        )
        out[split] = (x, y)
    return out


def idx_bytes(a: np.ndarray) -> bytes:
    return struct.pack(">BBBB", 0, 0, 8, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()


def write_idx(folder: Path, n_train=16, n_test=8, gz=False) -> dict:
    """MNIST-style IDX files as torchvision's `FashionMNIST/raw/` holds them (plain, or .gz as downloaded)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, prefix, n, seed in (("train", "train", n_train, 0), ("test", "t10k", n_test, 1)):
        x = images(n, 28, 28, 1, seed)[..., 0]
        y = (np.arange(n) * 3 % 10).astype(np.uint8)
        for name, a in ((f"{prefix}-images-idx3-ubyte", x), (f"{prefix}-labels-idx1-ubyte", y)):
            data = idx_bytes(a)
            if gz:
                (folder / (name + ".gz")).write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)
        out[split] = (x, y)
    return out


STL_NAMES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]


def write_stl10(root: Path, n_train=5, n_test=4) -> dict:
    """torchvision's `stl10_binary/`: *_X.bin holds 3 x 96 x 96 bytes an image, each channel column-major;
    *_y.bin one byte an image, classes 1..10; class_names.txt."""
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)
    out = {}
    for split, n, seed in (("train", n_train, 0), ("test", n_test, 1)):
        x = images(n, 96, 96, 3, seed).transpose(0, 3, 1, 2)  # (N, C, H, W)
        y = np.arange(n) % 10
        (folder / f"{split}_X.bin").write_bytes(np.ascontiguousarray(x.transpose(0, 1, 3, 2)).tobytes())
        (folder / f"{split}_y.bin").write_bytes((y + 1).astype(np.uint8).tobytes())
        out[split] = (x, y)
    (folder / "class_names.txt").write_text("\n".join(STL_NAMES) + "\n")
    return out


# ----------------------------------------------------------------------------- each format
def test_cifar100_pickles_load_with_the_fine_labels_and_their_names(tmp_path):
    want = write_cifar100(tmp_path)
    ds = load_dataset(tmp_path)  # the folder holding cifar-100-python/
    assert ds.layout == "cifar100-pickle" and ds.classes == FINE and ds.num_classes == 100
    for x, y, split in ((ds.train_x, ds.train_y, "train"), (ds.test_x, ds.test_y, "test")):
        np.testing.assert_array_equal(x, want[split][0].transpose(0, 3, 1, 2))
        np.testing.assert_array_equal(y, want[split][1])
    assert not ds.official and "not the official CIFAR-100" in (ds.notice or "")
    direct = load_dataset(tmp_path / "cifar-100-python", limit=10, limit_test=5)
    assert (len(direct.train_y), len(direct.test_y)) == (10, 5) and direct.train_x.shape[1:] == (3, 32, 32)


def test_torchvision_reads_the_generated_cifar100_the_same(tmp_path, monkeypatch):
    from torchvision.datasets import CIFAR100

    write_cifar100(tmp_path)
    monkeypatch.setattr(CIFAR100, "_check_integrity", lambda self: True)
    monkeypatch.setattr("torchvision.datasets.cifar.check_integrity", lambda *a, **k: True)
    tv = CIFAR100(str(tmp_path), train=True, download=False)
    ds = load_dataset(tmp_path)
    np.testing.assert_array_equal(ds.train_x, tv.data.transpose(0, 3, 1, 2))
    assert ds.train_y.tolist() == tv.targets and ds.classes == tv.classes


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo never",))


def test_a_cifar100_pickle_naming_a_global_is_refused(tmp_path):
    write_cifar100(tmp_path)
    bad = tmp_path / "cifar-100-python" / "meta"
    bad.write_bytes(pickle.dumps({"fine_label_names": _Evil()}, protocol=2))
    with pytest.raises(DataError, match="not a plain data pickle: refused to load '(posix|os|nt).system'") as info:
        load_dataset(tmp_path)
    assert info.value.file == str(bad)


@pytest.mark.parametrize("compress", [True, False])
def test_svhn_mat_files_load_with_10_as_the_digit_0(tmp_path, compress):
    want = write_svhn(tmp_path / "svhn", compress=compress)
    ds = load_dataset(tmp_path / "svhn")
    assert ds.layout == "svhn-mat" and ds.classes == [str(d) for d in range(10)]
    for x, y, split in ((ds.train_x, ds.train_y, "train"), (ds.test_x, ds.test_y, "test")):
        np.testing.assert_array_equal(x, want[split][0].transpose(0, 3, 1, 2))
        np.testing.assert_array_equal(y, want[split][1] % 10)
    # a pixel, by hand: image 3, row 5, column 9, green
    assert ds.train_x[3, 1, 5, 9] == want["train"][0][3, 5, 9, 1]
    assert 0 in ds.train_y.tolist() and 10 not in ds.train_y.tolist()


def test_svhn_against_scipy(tmp_path):
    """scipy reads the generated files as written, and netc (through torchvision's SVHN) reads what
    scipy.io.savemat writes, uncompressed and compressed."""
    import scipy.io as sio

    want = write_svhn(tmp_path / "a")
    m = sio.loadmat(tmp_path / "a" / "train_32x32.mat")
    np.testing.assert_array_equal(m["X"], want["train"][0].transpose(1, 2, 3, 0))
    (tmp_path / "b").mkdir()
    for split in ("train", "test"):
        x, y = want[split]
        sio.savemat(
            tmp_path / "b" / f"{split}_32x32.mat",
            {"X": x.transpose(1, 2, 3, 0), "y": y[:, None] * 1.0},
            do_compression=split == "train",
        )
    ds = load_dataset(tmp_path / "b")
    np.testing.assert_array_equal(ds.test_x, want["test"][0].transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(ds.train_x, want["train"][0].transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(ds.train_y, want["train"][1] % 10)


def test_torchvision_reads_the_generated_svhn_the_same(tmp_path, monkeypatch):
    from torchvision.datasets import SVHN

    write_svhn(tmp_path)
    monkeypatch.setattr(SVHN, "_check_integrity", lambda self: True)
    tv = SVHN(str(tmp_path), split="train", download=False)
    ds = load_dataset(tmp_path)
    np.testing.assert_array_equal(ds.train_x, tv.data)
    assert ds.train_y.tolist() == tv.labels.tolist()


def test_svhn_larger_than_memory_is_refused_before_scipy_reads_it(tmp_path, monkeypatch):
    from dsl.data import paths

    write_svhn(tmp_path / "s")  # 12 images: 36 KB of X
    monkeypatch.setattr(paths, "memory_bytes", lambda: 16 << 10)
    with pytest.raises(DataError, match=r"would take 36\.\d KB, more than this machine's 16\.0 KB of memory") as info:
        load_dataset(tmp_path / "s")
    assert info.value.file == str(tmp_path / "s" / "train_32x32.mat")


def test_svhn_without_scipy_says_how_to_get_it(tmp_path, monkeypatch):
    import sys

    write_svhn(tmp_path / "svhn")
    monkeypatch.setitem(sys.modules, "scipy.io", None)  # `import scipy.io` raises ImportError
    with pytest.raises(DataError) as info:
        load_dataset(tmp_path / "svhn")
    assert info.value.message == "SVHN needs scipy: pip install 'netc[svhn]'"


@pytest.mark.parametrize("gz", [False, True])
def test_fashion_mnist_idx_files_load_as_1x28x28_with_names(tmp_path, gz):
    want = write_idx(tmp_path / "FashionMNIST" / "raw", gz=gz)
    for data in (tmp_path, tmp_path / "FashionMNIST", tmp_path / "FashionMNIST" / "raw"):
        ds = load_dataset(data, channels=1)
        assert ds.layout == "idx" and ds.classes == FASHION and ds.image_shape == (1, 28, 28)
        np.testing.assert_array_equal(ds.train_x[:, 0], want["train"][0])
        np.testing.assert_array_equal(ds.test_y, want["test"][1])


def test_torchvision_reads_the_generated_idx_files_the_same(tmp_path):
    from torchvision.datasets import FashionMNIST

    write_idx(tmp_path / "FashionMNIST" / "raw")
    tv = FashionMNIST(str(tmp_path), train=False, download=False)
    ds = load_dataset(tmp_path)
    np.testing.assert_array_equal(ds.test_x[:, 0], tv.data.numpy())
    assert ds.test_y.tolist() == tv.targets.tolist() and ds.classes == tv.classes


def test_idx_files_elsewhere_are_numbered_mnist_named(tmp_path):
    write_idx(tmp_path / "plain")
    assert load_dataset(tmp_path / "plain").classes == []  # no dataset folder name: numbered classes
    write_idx(tmp_path / "m" / "MNIST" / "raw", gz=True)
    assert load_dataset(tmp_path / "m").classes[0] == "0 - zero"


def test_stl10_binaries_load_in_torchvisions_pixel_order(tmp_path, monkeypatch):
    from torchvision.datasets import STL10

    want = write_stl10(tmp_path)
    ds = load_dataset(tmp_path)
    assert ds.layout == "stl10-binary" and ds.classes == STL_NAMES and ds.image_shape == (3, 96, 96)
    np.testing.assert_array_equal(ds.train_x, want["train"][0])
    np.testing.assert_array_equal(ds.test_y, want["test"][1])
    # a pixel set by hand: row 2, column 70 of image 1's blue channel (column-major on disk)
    x = want["train"][0].copy()
    x[1, 2, 2, 70] = 0
    x[1, 2, 70, 2] = 255
    (tmp_path / "stl10_binary" / "train_X.bin").write_bytes(np.ascontiguousarray(x.transpose(0, 1, 3, 2)).tobytes())
    ds = load_dataset(tmp_path / "stl10_binary")
    assert ds.train_x[1, 2, 2, 70] == 0 and ds.train_x[1, 2, 70, 2] == 255
    monkeypatch.setattr(STL10, "_check_integrity", lambda self: True)
    tv = STL10(str(tmp_path), split="train", download=False)
    np.testing.assert_array_equal(ds.train_x, tv.data)
    assert ds.train_y.tolist() == tv.labels.tolist() and ds.classes == tv.classes


def test_image_folders_of_any_size_and_class_count_with_val(tmp_path):
    from PIL import Image

    names = [f"k{i}" for i in range(7)]
    for split in ("train", "val"):
        for i, c in enumerate(names):
            (tmp_path / split / c).mkdir(parents=True)
            Image.fromarray(images(1, 12, 20, 3, i)[0]).save(tmp_path / split / c / "a.png")
    ds = load_dataset(tmp_path)
    assert ds.layout == "imagefolder" and ds.classes == names and ds.image_shape == (3, 12, 20)
    assert len(ds.test_y) == 7 and "val/" in (ds.notice or "")
    gray = load_dataset(tmp_path, channels=1)
    assert gray.image_shape == (1, 12, 20)


# ----------------------------------------------------------------------------- names
@pytest.mark.parametrize(
    ("name", "title", "folder"),
    [
        ("cifar100", "CIFAR-100", "cifar-100-python"),
        ("CIFAR-100", "CIFAR-100", "cifar-100-python"),
        ("svhn", "SVHN", "svhn"),
        ("Fashion-MNIST", "Fashion-MNIST", "FashionMNIST/raw"),
        ("fmnist", "Fashion-MNIST", "FashionMNIST/raw"),
        ("stl10", "STL-10", "stl10_binary"),
        ("mnist", "MNIST", "MNIST/raw"),
    ],
)
def test_a_name_without_a_cached_copy_says_where_it_looked(tmp_path, monkeypatch, name, title, folder):
    monkeypatch.setenv("NETC_DATA", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError) as info:
        load_dataset(name, download=False)
    text = str(info.value)
    assert f"{title} is not in '{tmp_path / 'cache'}'" in text and str(tmp_path / "cache" / folder) in text
    assert "downloads" in text and "NETC_DATA" in text and "--data PATH" in text


def test_cached_copies_are_found_by_name(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("NETC_DATA", str(cache))
    monkeypatch.chdir(tmp_path)
    write_cifar100(cache, 8, 4)
    write_svhn(cache / "svhn", 4, 2)
    write_idx(cache / "FashionMNIST" / "raw", 6, 3, gz=True)
    write_stl10(cache, 3, 2)
    for name, layout, n in [
        ("cifar100", "cifar100-pickle", 8),
        ("Cifar_100", "cifar100-pickle", 8),
        ("SVHN", "svhn-mat", 4),
        ("fashion-mnist", "idx", 6),
        ("FashionMNIST", "idx", 6),
        ("STL-10", "stl10-binary", 3),
    ]:
        ds = load_dataset(name, download=False)
        assert (ds.layout, len(ds.train_y)) == (layout, n), name
    # torchvision's own SVHN(root=cache) keeps the files in the cache folder itself
    for f in (cache / "svhn").iterdir():
        f.rename(cache / f.name)
    assert load_dataset("svhn", download=False).layout == "svhn-mat"


def test_a_failed_download_is_a_clean_error(tmp_path, monkeypatch):
    import torchvision.datasets.utils as tvu

    def offline(*a, **k):
        raise OSError("network is unreachable")

    monkeypatch.setenv("NETC_DATA", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tvu, "download_and_extract_archive", offline)
    with pytest.raises(DataError, match="CIFAR-100 is not in .* and downloading it failed .*unreachable"):
        load_dataset("cifar100")


def test_a_path_wins_over_a_name_and_names_are_recorded_as_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert dataset_name("CIFAR-100") == "cifar100" and dataset_name("./cifar100") is None
    assert dataset_name("imagenet") is None and data_arg("Fashion_MNIST") == "fashion-mnist"
    check_data_path("svhn")  # a name is valid --data before anything is loaded
    with pytest.raises(DataError) as info:
        check_data_path("cifar1000")
    assert "'cifar1000' is neither a dataset name (cifar10, cifar100," in str(info.value)
    assert "did you mean 'cifar100'" in str(info.value)
    write_cifar100(tmp_path / "cifar100", 6, 3)  # a folder called cifar100 in the working folder
    assert dataset_name("cifar100") is None and data_arg("cifar100") == str(tmp_path / "cifar100")
    assert len(load_dataset("cifar100").train_y) == 6


def test_a_folder_of_several_datasets_is_refused(tmp_path):
    write_cifar100(tmp_path, 4, 2)
    write_stl10(tmp_path, 2, 2)
    with pytest.raises(DataError, match=r"holds several datasets \(cifar-100-python/, stl10_binary/\)"):
        load_dataset(tmp_path)


# ----------------------------------------------------------------------------- netc train, and the class count
NET = """\
input 3x32x32
classes = {classes}
conv_bn(8) -> gmp -> {head}
train {{
  epochs = 1
  batch_size = 16
  eval_batch_size = 32
  lr = [(0, 0), (0.5, 0.1), (1, 0)]
}}
"""


def test_train_on_cifar100_and_the_class_count_is_checked_where_it_is_declared(tmp_path, capsys):
    write_cifar100(tmp_path / "data")
    net = tmp_path / "c100.net"
    net.write_text(NET.format(classes=100, head="linear(classes)"))
    run = tmp_path / "run"
    code = main(["train", str(net), "--data", str(tmp_path / "data"), "--out", str(run)])
    out = capsys.readouterr()
    assert code == 0, out.err
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["data"]["classes"] == FINE and cfg["data"]["layout"] == "cifar100-pickle"

    net.write_text(NET.format(classes=10, head="linear(classes)"))
    code = main(["train", str(net), "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run10")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"{net}:2:1: error: the data has 100 classes but 'c100' declares classes = 10" in err
    assert "classes = 10\n" in err and "^^^" in err and "set classes = 100" in err

    # no declared count, a 10-wide head: the error points at the network
    net.write_text("input 3x32x32\nconv_bn(8) -> gmp -> linear(10)\n")
    code = main(["train", str(net), "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run10b")])
    err = capsys.readouterr().err
    assert code == 2 and f"{net}:2:" in err and "the data has 100 classes but 'c100' has 10 outputs" in err


def test_fashion_mnist_needs_a_1x28x28_net(tmp_path, capsys):
    write_idx(tmp_path / "FashionMNIST" / "raw")
    net = tmp_path / "f.net"
    net.write_text(NET.format(classes=10, head="linear(classes)"))
    code = main(["train", str(net), "--data", str(tmp_path), "--out", str(tmp_path / "r")])
    assert code == 2 and "the images are 1x28x28 but 'f' takes input 3x32x32" in capsys.readouterr().err
    one_channel = NET.format(classes=10, head="linear(classes)").replace("3x32x32", "1x28x28")
    net.write_text(one_channel.replace("  epochs = 1\n", "  epochs = 1\n  mean = [0.286]\n  std = [0.353]\n"))
    code = main(["train", str(net), "--data", str(tmp_path), "--out", str(tmp_path / "r2")])
    assert code == 0, capsys.readouterr().err


# ----------------------------------------------------------------------------- damaged files name the file
def _cut(path: Path, keep: float = 0.5) -> Path:
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * keep)])
    return path


def _damage(tmp: Path, case: str) -> tuple[Path, Path, str]:
    """Build data with one damaged file: (the --data path, the file the error must name, the message)."""
    if case == "cifar100_truncated":
        write_cifar100(tmp)
        return tmp, _cut(tmp / "cifar-100-python" / "test"), "is corrupt or truncated"
    if case == "cifar100_no_fine_labels":
        write_cifar100(tmp)
        bad = tmp / "cifar-100-python" / "train"
        bad.write_bytes(pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1]}, protocol=2))
        return tmp, bad, "has no 'fine_labels' entry"
    if case.startswith("svhn"):
        write_svhn(tmp / "s", compress=case != "svhn_truncated_plain")
        bad = tmp / "s" / "train_32x32.mat"
        if case in ("svhn_truncated", "svhn_truncated_plain"):
            return tmp / "s", _cut(bad), "is corrupt or truncated"
        if case == "svhn_not_matlab":
            bad.write_bytes(b"\x89HDF\r\n" + b"\0" * 300)
            return tmp / "s", bad, "is not a MATLAB .mat file"
        if case == "svhn_v73":
            bad.write_bytes(b"MATLAB 7.3 MAT-file, Platform: GLNXA64".ljust(116) + b"\0" * 8 + b"\x00\x02IM")
            return tmp / "s", bad, r"is a MATLAB v7\.3 \(HDF5\) file"
        if case == "svhn_label_11":
            write_mat(bad, {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[1.0], [11.0]])})
            return tmp / "s", bad, "holds the label 11; SVHN's labels are 1..10"
        if case == "svhn_no_y":
            write_mat(bad, {"X": np.zeros((32, 32, 3, 2), np.uint8)})
            return tmp / "s", bad, r"has no variable 'y' \(it has 'X'\)"
        if case in ("svhn_bomb", "svhn_lying_size"):
            # X claims 32x32x3x1,000,000 images (3 GB) in a few compressed bytes: refused before allocating,
            # by zlib's greatest ratio (the bomb) or by the variable's own stated size (the lie)
            n = 32 * 32 * 3 * 1_000_000
            body = (
                struct.pack("<IIII", 6, 8, 9, 0)
                + struct.pack("<II4i", 5, 16, 32, 32, 3, 1_000_000)
                + struct.pack("<I", (1 << 16) | 1)
                + b"X\0\0\0"
                + struct.pack("<II", 2, n)
            )
            z = zlib.compress(struct.pack("<II", 14, len(body) + (n if case == "svhn_bomb" else 0)) + body)
            head = b"MATLAB 5.0 MAT-file".ljust(116) + b"\0" * 8 + struct.pack("<H", 0x0100) + b"IM"
            bad.write_bytes(head + struct.pack("<II", 15, len(z)) + z)
            return tmp / "s", bad, "more than zlib can" if case == "svhn_bomb" else "its element holds only 0 more"
        if case == "svhn_overlong":
            raw = bad.read_bytes()
            bad.write_bytes(raw[:132] + struct.pack("<I", 10**9) + raw[136:])
            return tmp / "s", bad, "claims 1,000,000,000 bytes but only"
        if case == "svhn_lying_data":
            # X says 32x32x3x2 (honest) but its data part claims 3 GB: scipy would allocate that before reading
            el = bytearray(_mat_var("X", np.zeros((32, 32, 3, 2), np.uint8))[:64])
            el[4:8], el[60:64] = struct.pack("<I", 56), struct.pack("<I", 3_000_000_000)
            z = zlib.compress(bytes(el))
            head = b"MATLAB 5.0 MAT-file".ljust(116) + b"\0" * 8 + struct.pack("<H", 0x0100) + b"IM"
            bad.write_bytes(head + struct.pack("<II", 15, len(z)) + z + _mat_var("y", np.ones((2, 1))))
            return tmp / "s", bad, "a variable's data part claims 3,000,000,000 bytes but its element holds only 0 more"
        if case == "svhn_x_dims":  # the data of 2 images, dimensions that claim 900,000
            el = _mat_var("X", np.zeros((32, 32, 3, 2), np.uint8))
            el = el.replace(struct.pack("<4i", 32, 32, 3, 2), struct.pack("<4i", 32, 32, 3, 900_000))
            z = zlib.compress(el)
            head = b"MATLAB 5.0 MAT-file".ljust(116) + b"\0" * 8 + struct.pack("<H", 0x0100) + b"IM"
            bad.write_bytes(head + struct.pack("<II", 15, len(z)) + z + _mat_var("y", np.ones((2, 1))))
            return (
                tmp / "s",
                bad,
                r"'X' claims 32x32x3x900000 images \(2\.6 GB\), more than a file of \d+ bytes can hold",
            )
        if case == "svhn_cell":  # a cell array: scipy would size its nested parts unchecked
            import scipy.io as sio

            cell = np.array([[1, "a"]], dtype=object)
            sio.savemat(bad, {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.ones((2, 1)), "c": cell})
            return tmp / "s", bad, "holds a cell, struct or other non-numeric variable"
        if case in ("svhn_nan_label", "svhn_half_label"):  # torchvision would cast them to integers unchecked
            y = np.array([[1.0], [np.nan if case == "svhn_nan_label" else 2.5]])
            write_mat(bad, {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": y})
            return tmp / "s", bad, r"'y' holds the label (nan|2\.5); SVHN's labels are 1\.\.10"
    if case.startswith("idx"):
        gz = case in ("idx_truncated_gz", "idx_gz_trailing")
        write_idx(tmp / "FashionMNIST" / "raw", gz=gz)
        raw = tmp / "FashionMNIST" / "raw"
        if case == "idx_truncated":
            return tmp, _cut(raw / "train-images-idx3-ubyte"), "is truncated: its header promises 16x28x28"
        if case == "idx_truncated_gz":
            return tmp, _cut(raw / "t10k-images-idx3-ubyte.gz"), "is not a valid gzip file or is truncated"
        if case == "idx_bad_magic":
            bad = raw / "train-labels-idx1-ubyte"
            bad.write_bytes(b"PK\x03\x04" + b"\0" * 20)
            return tmp, bad, "is not an IDX file"
        if case == "idx_count_mismatch":
            bad = raw / "t10k-labels-idx1-ubyte"
            bad.write_bytes(idx_bytes(np.zeros(5, np.uint8)))
            return tmp, bad, "has 8 images but .* has 5 labels"
        if case == "idx_huge_header":  # a header that claims 60000 x 100000 x 100000 bytes
            bad = raw / "train-images-idx3-ubyte"
            bad.write_bytes(struct.pack(">BBBB3I", 0, 0, 8, 3, 60000, 100000, 100000) + b"\0" * 100)
            return tmp, bad, r"60000x100000x100000 values would take .* more than this machine's"
        if case == "idx_gz_trailing":  # a gzip bomb behind a small header: inflated no further than the header says
            bad = raw / "t10k-images-idx3-ubyte.gz"
            bad.write_bytes(gzip.compress(idx_bytes(np.zeros((8, 28, 28), np.uint8)) + b"\0" * (64 << 20)))
            return tmp, bad, "has more data after the values its header promises"
    if case.startswith("stl"):
        write_stl10(tmp)
        folder = tmp / "stl10_binary"
        if case == "stl_truncated":
            bad = folder / "test_X.bin"
            bad.write_bytes(bad.read_bytes()[:-100])
            return tmp, bad, "not a whole number of 96x96x3 images"
        if case == "stl_label_0":
            bad = folder / "train_y.bin"
            bad.write_bytes(bytes([0, 1, 2, 3, 4]))
            return tmp, bad, "holds the label 0; STL-10's labels are 1..10"
        if case == "stl_labels_missing":
            bad = folder / "train_y.bin"
            bad.write_bytes(bytes([1, 2]))
            return tmp, bad, "holds 5 images but .* holds 2 labels"
    raise AssertionError(case)


DAMAGE = [
    "cifar100_truncated",
    "cifar100_no_fine_labels",
    "svhn_truncated",
    "svhn_truncated_plain",
    "svhn_not_matlab",
    "svhn_v73",
    "svhn_label_11",
    "svhn_no_y",
    "svhn_bomb",
    "svhn_lying_size",
    "svhn_overlong",
    "svhn_lying_data",
    "svhn_x_dims",
    "svhn_cell",
    "svhn_nan_label",
    "svhn_half_label",
    "idx_truncated",
    "idx_truncated_gz",
    "idx_bad_magic",
    "idx_count_mismatch",
    "idx_huge_header",
    "idx_gz_trailing",
    "stl_truncated",
    "stl_label_0",
    "stl_labels_missing",
]


@pytest.mark.parametrize("case", DAMAGE)
def test_damaged_files_give_a_data_error_naming_the_file(tmp_path, case):
    import tracemalloc

    import scipy.io  # noqa: F401  (imported before measuring: the readers' own modules are not the file's doing)
    import torchvision.datasets  # noqa: F401

    data, bad, message = _damage(tmp_path, case)
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as info:
            load_dataset(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    text = str(info.value)
    assert info.value.file == str(bad) and str(bad) in text, text
    assert re.search(message, text), text
    assert peak < 64 << 20, f"{peak:,} bytes allocated: what a damaged file claims must not be"


def test_a_damaged_file_through_netc_train_exits_2(tmp_path, capsys):
    data, bad, _ = _damage(tmp_path / "d", "svhn_truncated")
    net = tmp_path / "s.net"
    net.write_text(NET.format(classes=10, head="linear(classes)"))
    assert main(["train", str(net), "--data", str(data), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert bad.name in err and "Traceback" not in err and "internal error" not in err


# ----------------------------------------------------------------------------- fuzzing the new readers
FUZZ = {
    "svhn": ("s/train_32x32.mat", lambda t: write_svhn(t / "s", 3, 2), "s"),
    "svhn_plain": ("s/train_32x32.mat", lambda t: write_svhn(t / "s", 3, 2, compress=False), "s"),
    "idx_gz": (
        "FashionMNIST/raw/train-images-idx3-ubyte.gz",
        lambda t: write_idx(t / "FashionMNIST" / "raw", 3, 2, gz=True),
        "",
    ),
    "idx": ("FashionMNIST/raw/train-labels-idx1-ubyte", lambda t: write_idx(t / "FashionMNIST" / "raw", 3, 2), ""),
    "stl": ("stl10_binary/train_y.bin", lambda t: write_stl10(t, 2, 2), ""),
    "cifar100": ("cifar-100-python/train", lambda t: write_cifar100(t, 3, 2), ""),
}


@pytest.mark.parametrize("fmt", sorted(FUZZ))
def test_fuzzed_files_load_or_give_a_data_error(tmp_path, fmt):
    """Random byte changes and truncations: the loader returns data or raises DataError, nothing else."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    name, write, sub = FUZZ[fmt]
    write(tmp_path)
    target = tmp_path / name
    good = target.read_bytes()

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(
        st.lists(st.tuples(st.integers(0, len(good) - 1), st.integers(0, 255)), max_size=4),
        st.integers(0, len(good)),
    )
    def run(changes, cut):
        raw = bytearray(good)
        for pos, value in changes:
            raw[pos] = value
        target.write_bytes(bytes(raw[: max(cut, 1)] if cut < len(good) // 2 else raw))
        try:
            load_dataset(tmp_path / sub if sub else tmp_path)
        except DataError as err:
            assert "Traceback" not in str(err)

    run()


def test_a_run_trained_on_a_dataset_by_name_records_the_name_resumes_and_evaluates(tmp_path, monkeypatch, capsys):
    """`--data cifar100` is recorded as the name (not a path under the current folder), so --resume and
    netc eval find the same data from anywhere."""
    cache = tmp_path / "cache"
    write_cifar100(cache)
    monkeypatch.setenv("NETC_DATA", str(cache))
    monkeypatch.chdir(tmp_path)
    net = tmp_path / "c100.net"
    net.write_text(NET.format(classes=100, head="linear(classes)").replace("epochs = 1", "epochs = 2"))
    run = tmp_path / "run"
    from train_fixtures import ctrl_c_at_epoch

    with ctrl_c_at_epoch(1):
        assert main(["train", str(net), "--data", "CIFAR-100", "--out", str(run)]) == 130
    assert json.loads((run / "config.json").read_text())["data"]["arg"] == "cifar100"
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert main(["train", "--resume", str(run), "--quiet"]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["eval", str(run), "--json"]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["n"] == 20
