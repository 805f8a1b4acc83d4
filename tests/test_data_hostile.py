"""dsl.data against hostile --data: every bad file gives a DataError naming it, with an accurate message,
exit code 2 from `netc train` and no traceback; never a crash, a hang, a misleading message or wrong data.

Each case below builds a bad file in tmp_path in the real on-disk format and says which message it
must get and which file the message must name; one test runs every case through `load_dataset` and
through the real CLI. Hypothesis then mutates valid files (bytes, truncation, dtypes, offsets).
"""

from __future__ import annotations

import io
import os
import pickle
import re
import signal
import socket
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from train_fixtures import (
    easy_images,
    encode_images,
    write_cifar_pickles,
    write_encoded_npz,
    write_imagefolder,
    write_net,
    write_npz,
)

from dsl.cli import main
from dsl.data import LABEL_LIMIT, Dataset, load_dataset
from dsl.data import npz as npz_mod
from dsl.errors import DataError

POSIX_SPECIAL = hasattr(os, "mkfifo")


@pytest.fixture(autouse=True)
def no_hang():
    """Fail (instead of hanging forever) if anything blocks, e.g. opening a FIFO with no writer."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def alarm(*_):
        raise TimeoutError("dsl.data blocked (opened a FIFO or read a device?)")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(20)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# ----------------------------------------------------------------------------- building bad files
def _arrays(n_train=8, n_test=4, size=16) -> dict[str, np.ndarray]:
    tx, ty = easy_images(n_train, size, 0)
    vx, vy = easy_images(n_test, size, 1)
    return {"train_x": tx, "train_y": ty, "test_x": vx, "test_y": vy}


def _npz(tmp: Path, name="d.npz", **changes) -> Path:
    """A small plain .npz with some arrays replaced (None drops one)."""
    arrays = _arrays()
    arrays.update(changes)
    path = tmp / name
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def _enc(tmp: Path, **changes) -> Path:
    return write_encoded_npz(tmp / "enc.npz", n_train=6, n_test=3, size=8, **changes)


def _enc_parts(n=6, size=8, seed=0):
    x, y = easy_images(n, size, seed)
    data, offs = encode_images(x, "PNG")
    return data, offs, y


def _central_entry(raw: bytes, member: str) -> int:
    """Offset of `member`'s entry in a zip's central directory."""
    pos = 0
    while True:
        pos = raw.index(b"PK\x01\x02", pos)
        nlen = struct.unpack_from("<H", raw, pos + 28)[0]
        if raw[pos + 46 : pos + 46 + nlen] == member.encode():
            return pos
        pos += 4


def _png_header(width: int, height: int) -> bytes:
    """A PNG that only declares its size (with a token IDAT): Pillow checks the size on open."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def _dump_batch(path: Path, obj) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def _cifar(tmp: Path, batch: str = "data_batch_2", obj=None, meta=None) -> tuple[Path, Path]:
    """The torchvision layout with one batch (or batches.meta) replaced by `obj` / `meta`."""
    root = write_cifar_pickles(tmp / "pk", 40, 20)
    folder = root / "cifar-10-batches-py"
    if obj is not None:
        _dump_batch(folder / batch, obj)
    if meta is not None:
        _dump_batch(folder / "batches.meta", meta)
    return root, folder / (batch if meta is None else "batches.meta")


def _batch(n=8, labels=None, data=None):
    x, y = easy_images(n, 16, 3)
    return {
        b"data": x.transpose(0, 3, 1, 2).reshape(n, -1) if data is None else data,
        b"labels": [int(v) for v in y] if labels is None else labels,
    }


CASES = {}


def case(expect: str):
    """Register a bad-data builder: tmp -> (the --data path, the file the message must name)."""

    def deco(fn):
        CASES[fn.__name__] = (fn, expect)
        return fn

    return deco


# --- npz: the file itself
@case(r"is not an \.npz \(zip\) archive")
def npz_not_a_zip(tmp):
    p = tmp / "d.npz"
    p.write_bytes(b"these are not the bytes of a zip archive\n" * 20)
    return p, p


@case(r"is not an \.npz \(zip\) archive \(it looks like a pickle\)")
def npz_is_a_pickle(tmp):
    p = tmp / "d.npz"
    p.write_bytes(pickle.dumps(_arrays(), protocol=4))
    return p, p


@case(r"is not an \.npz \(zip\) archive \(it looks like a single \.npy array")
def npz_is_an_npy(tmp):
    p = tmp / "d.npz"
    with open(p, "wb") as f:
        np.save(f, np.zeros((4, 16, 16, 3), np.uint8))
    return p, p


@case(r"is empty \(0 bytes\), not an \.npz \(zip\) archive")
def npz_zero_bytes(tmp):
    p = tmp / "d.npz"
    p.write_bytes(b"")
    return p, p


@case(r"is a truncated or corrupt zip archive")
def npz_truncated(tmp):
    p = write_npz(tmp / "d.npz", 40, 20)
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) * 2 // 3])
    return p, p


@case(r"corrupt or truncated member 'train_x\.npy' \(BadZipFile: Bad CRC-32")
def npz_member_data_corrupt(tmp):
    p = _npz(tmp)
    raw = bytearray(p.read_bytes())
    at = raw.index(_arrays()["train_x"].tobytes()[:64]) + 100
    raw[at] ^= 0xFF
    p.write_bytes(bytes(raw))
    return p, p


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def _zip_npz(path: Path, **members: bytes) -> Path:
    """An .npz whose members are the given bytes (valid CRCs), the rest from `_arrays`."""
    import zipfile

    raw = {k: _npy(v) for k, v in _arrays().items()}
    raw.update(members)
    with zipfile.ZipFile(path, "w") as z:
        for k, v in raw.items():
            z.writestr(k + ".npy", v)
    return path


@case(r"corrupt or truncated member 'train_y\.npy' \(ValueError")
def npz_member_not_npy(tmp):
    return (p := _zip_npz(tmp / "d.npz", train_y=b"just some text, not an .npy array")), p


@case(r"corrupt or truncated member 'test_x\.npy' \(ValueError")
def npz_member_header_garbage(tmp):
    head = _npy(np.zeros(3, np.uint8))
    bad = head.replace(b"'descr': '|u1'", b"'descr': 'zz9'")
    return (p := _zip_npz(tmp / "d.npz", test_x=bad)), p


@case(r"has a member 'train_x\.npy' in \.npy format version 9\.0, which netc does not read")
def npz_member_future_version(tmp):
    head = bytearray(_npy(_arrays()["train_x"]))
    head[6] = 9
    return (p := _zip_npz(tmp / "d.npz", train_x=bytes(head))), p


@case(r"corrupt or truncated member 'train_x\.npy': its header promises 6,144 bytes of data but it holds 0")
def npz_member_only_header(tmp):
    head = _npy(np.zeros((8, 16, 16, 3), np.uint8))
    return (p := _zip_npz(tmp / "d.npz", train_x=head[:128])), p


@case(r"corrupt or truncated member 'train_y\.npy' \(")
def npz_member_header_corrupt(tmp):
    p = _npz(tmp)
    raw = bytearray(p.read_bytes())
    at = raw.index(b"\x93NUMPY", raw.index(b"train_y.npy"))
    raw[at : at + 6] = b"NOTNPY"
    p.write_bytes(bytes(raw))
    return p, p


@case(r"corrupt or truncated member 'train_x\.npy' \(zlib\.error: Error -3 while decompressing")
def npz_compressed_member_corrupt(tmp):
    p = tmp / "d.npz"
    np.savez_compressed(p, **_arrays())
    raw = bytearray(p.read_bytes())
    start = raw.index(b"train_x.npy") + len("train_x.npy") + 20  # inside the deflate stream
    for i in range(start, start + 40):
        raw[i] ^= 0x5A
    p.write_bytes(bytes(raw))
    return p, p


@case(r"has an encrypted member 'test_x\.npy'")
def npz_encrypted_member(tmp):
    p = _npz(tmp)
    raw = bytearray(p.read_bytes())
    raw[_central_entry(raw, "test_x.npy") + 8] |= 0x1
    p.write_bytes(bytes(raw))
    return p, p


@case(r"member 'test_y\.npy' packed with zip compression method 99")
def npz_unknown_compression(tmp):
    p = _npz(tmp)
    raw = bytearray(p.read_bytes())
    struct.pack_into("<H", raw, _central_entry(raw, "test_y.npy") + 10, 99)
    p.write_bytes(bytes(raw))
    return p, p


@case(r"corrupt or truncated member 'train_x\.npy': its header promises 12,288 bytes of data but it holds 6,144")
def npz_member_shape_lies(tmp):
    p = _npz(tmp)
    raw = bytearray(p.read_bytes())
    at = raw.index(b"(8, 16, 16, 3)")
    raw[at : at + 14] = b"(16,16, 16, 3)"
    p.write_bytes(bytes(raw))
    # the header now claims 16 images in the bytes of 8 (CRC is only checked on a full read)
    return p, p


@case(r"stores Python objects \(in member 'train_x\.npy'\)")
def npz_object_array(tmp):
    return (p := _npz(tmp, train_x=np.array([{"a": 1}] * 8, dtype=object))), p


@case(r"lacks test_x, test_y \(it has train_x, train_y\)")
def npz_missing_keys(tmp):
    return (p := _npz(tmp, test_x=None, test_y=None)), p


# --- npz: the arrays
@case(r"train_x must be uint8 images \(0\.\.255\), not float32")
def npz_float_images(tmp):
    return (p := _npz(tmp, train_x=_arrays()["train_x"].astype(np.float32) / 255)), p


@case(r"test_x must be uint8 images \(0\.\.255\), not int64")
def npz_int_images(tmp):
    return (p := _npz(tmp, test_x=_arrays()["test_x"].astype(np.int64))), p


@case(r"train_y must hold integer class labels, not bool")
def npz_bool_labels(tmp):
    return (p := _npz(tmp, train_y=np.ones(8, bool))), p


@case(r"test_y must hold integer class labels, not float64")
def npz_float_labels(tmp):
    return (p := _npz(tmp, test_y=np.array([0.0, 1.0, 2.5, 3.0]))), p


@case(r"train_y holds the label 9223372036854775813; labels must be integers in \[0, 2147483648\)")
def npz_huge_uint64_label(tmp):
    return (p := _npz(tmp, train_y=np.array([0, 1, 2, 2**63 + 5, 1, 0, 3, 2], dtype=np.uint64))), p


@case(r"train_y holds the label 2147483648; labels must be integers")
def npz_label_2_31(tmp):
    return (p := _npz(tmp, train_y=np.array([0, 1, 2, 2**31, 1, 0, 3, 2], dtype=np.int64))), p


@case(r"test_y holds the label -3; labels must be integers in \[0, 2147483648\)")
def npz_negative_label(tmp):
    return (p := _npz(tmp, test_y=np.array([0, -3, 2, 1], dtype=np.int8))), p


@case(r"train_y must be a 1-D array of integer labels, one per image, not shape \(8, 4\)")
def npz_one_hot_labels(tmp):
    return (p := _npz(tmp, train_y=np.eye(4, dtype=np.int64)[_arrays()["train_y"]])), p


@case(r"train_x must be images \(N,H,W,C\), \(N,C,H,W\) or \(N,H,W\), not a 2-D array of shape \(8, 768\)")
def npz_2d_images(tmp):
    return (p := _npz(tmp, train_x=_arrays()["train_x"].reshape(8, -1))), p


@case(r"test_x must be images .*, not a 5-D array of shape \(4, 1, 16, 16, 3\)")
def npz_5d_images(tmp):
    return (p := _npz(tmp, test_x=_arrays()["test_x"][:, None])), p


@case(r"train_x must be images .*, not a 1-D array")
def npz_1d_images(tmp):
    return (p := _npz(tmp, train_x=np.zeros(8, np.uint8))), p


@case(r"train_x holds zero-size images")
def npz_zero_size_images(tmp):
    return (p := _npz(tmp, train_x=np.zeros((8, 0, 0, 3), np.uint8))), p


@case(r"the training images are 3x16x16 but the test images are 3x8x8")
def npz_train_test_sizes_differ(tmp):
    return (p := _npz(tmp, test_x=np.zeros((4, 8, 8, 3), np.uint8))), p


@case(r"has 8 train images but 7 labels in train_y; it needs one label per image")
def npz_labels_too_few(tmp):
    return (p := _npz(tmp, train_y=np.zeros(7, np.int64))), p


@case(r"has 4 test images but 9 labels in test_y")
def npz_labels_too_many(tmp):
    return (p := _npz(tmp, test_y=np.zeros(9, np.int64))), p


@case(r"'[^']*d\.npz' has no training images")
def npz_no_training_images(tmp):
    return (p := _npz(tmp, train_x=np.zeros((0, 16, 16, 3), np.uint8), train_y=np.zeros(0, np.int64))), p


@case(r"'[^']*d\.npz' has no test images")
def npz_no_test_images(tmp):
    return (p := _npz(tmp, test_x=np.zeros((0, 16, 16, 3), np.uint8), test_y=np.zeros(0, np.int64))), p


@case(r"the labels go up to 3 but the data names only 2 classes \(cat, dog\), so labels must be 0\.\.1")
def npz_more_labels_than_class_names(tmp):
    return (p := _npz(tmp, classes=np.array(["cat", "dog"]))), p


@case(r"classes must be a 1-D array of class names \(strings\), not int64")
def npz_numeric_class_names(tmp):
    return (p := _npz(tmp, classes=np.arange(4))), p


@case(r"holds several \.npz files \(a\.npz, b\.npz\)")
def npz_folder_with_two(tmp):
    (tmp / "f").mkdir()
    _npz(tmp / "f", "a.npz")
    _npz(tmp / "f", "b.npz")
    return tmp / "f", tmp / "f"


# --- encoded npz
@case(r"train_offsets must hold integer byte positions, not float64")
def enc_float_offsets(tmp):
    _, offs, _ = _enc_parts()
    return (p := _enc(tmp, train_offsets=offs.astype(np.float64))), p


@case(r"test_offsets must hold integer byte positions, not bool")
def enc_bool_offsets(tmp):
    return (p := _enc(tmp, test_offsets=np.ones(4, bool))), p


@case(r"train_offsets must be a 1-D array of N\+1 byte positions, not shape \(7, 1\)")
def enc_2d_offsets(tmp):
    _, offs, _ = _enc_parts()
    return (p := _enc(tmp, train_offsets=offs[:, None])), p


@case(r"train_offsets must be a 1-D array of N\+1 byte positions, not shape \(0,\)")
def enc_empty_offsets(tmp):
    return (p := _enc(tmp, train_offsets=np.zeros(0, np.int64))), p


@case(r"train_offsets starts at -5; byte positions must be >= 0")
def enc_negative_start(tmp):
    _, offs, _ = _enc_parts()
    offs = offs.copy()
    offs[0] = -5
    return (p := _enc(tmp, train_offsets=offs)), p


@case(r"train_offsets goes down from \d+ to 10 at index 3; byte positions must not decrease")
def enc_decreasing_offsets(tmp):
    _, offs, _ = _enc_parts()
    offs = offs.copy()
    offs[3] = 10
    return (p := _enc(tmp, train_offsets=offs)), p


@case(r"test_offsets ends at 99999 but test_jpeg holds only \d+ bytes")
def enc_offsets_past_the_end(tmp):
    _, offs, _ = _enc_parts(n=3, seed=1)
    offs = offs.copy()
    offs[-1] = 99999
    return (p := _enc(tmp, test_offsets=offs)), p


@case(r"train_offsets ends at 18446744073709551615 but train_jpeg holds only")
def enc_uint64_offsets_past_the_end(tmp):
    _, offs, _ = _enc_parts()
    offs = offs.astype(np.uint64)
    offs[-1] = 2**64 - 1
    return (p := _enc(tmp, train_offsets=offs)), p


@case(r"'[^']*enc\.npz': train image 2 is empty: train_offsets\[2\] and \[3\] are both \d+")
def enc_empty_image(tmp):
    _, offs, _ = _enc_parts()
    offs = offs.copy()
    offs[3] = offs[2]
    return (p := _enc(tmp, train_offsets=offs)), p


@case(r"has 6 train images \(train_offsets\) but 5 labels in train_y")
def enc_labels_count(tmp):
    return (p := _enc(tmp, train_y=np.zeros(5, np.int64))), p


@case(r"test_y holds the label 9223372036854775813")
def enc_huge_label(tmp):
    return (p := _enc(tmp, test_y=np.array([0, 2**63 + 5, 1], dtype=np.uint64))), p


@case(r"train_y must hold integer class labels, not float32")
def enc_float_labels(tmp):
    return (p := _enc(tmp, train_y=np.zeros(6, np.float32))), p


@case(r"train_jpeg must be a 1-D uint8 array of bytes, not int16")
def enc_bytes_not_uint8(tmp):
    data, _, _ = _enc_parts()
    return (p := _enc(tmp, train_jpeg=data.astype(np.int16))), p


@case(r"lacks test_offsets")
def enc_missing_offsets(tmp):
    return (p := _enc(tmp, test_offsets=None)), p


@case(r"lacks train_y")
def enc_missing_labels(tmp):
    return (p := _enc(tmp, train_y=None)), p


@case(r"'[^']*enc\.npz' has no training images")
def enc_no_training_images(tmp):
    return (
        p := _enc(
            tmp, train_jpeg=np.zeros(0, np.uint8), train_offsets=np.zeros(1, np.int64), train_y=np.zeros(0, np.int64)
        )
    ), p


@case(r"'[^']*enc\.npz': train image 1 does not decode as an image \(not in any image format Pillow reads\)")
def enc_garbage_image(tmp):
    data, offs, _ = _enc_parts()
    data = data.copy()
    data[offs[1] : offs[2]] = 7
    return (p := _enc(tmp, train_jpeg=data)), p


@case(r"'[^']*enc\.npz': test image 2 is 9x8 but test image 0 is 8x8; all images must have one size")
def enc_images_of_different_sizes(tmp):
    x, _ = easy_images(3, 8, 1)
    odd = np.zeros((8, 9, 3), np.uint8)
    data, offs = encode_images([x[0], x[1], odd], "PNG")
    return (p := _enc(tmp, test_jpeg=data, test_offsets=offs)), p


@case(r"train image 0 was refused as a possible decompression bomb")
def enc_decompression_bomb(tmp):
    blob = np.frombuffer(_png_header(60000, 60000), np.uint8)
    _, offs, _ = _enc_parts()
    data = np.concatenate([blob] + [blob] * 5)
    offs = np.arange(7, dtype=np.int64) * len(blob)
    return (p := _enc(tmp, train_jpeg=data, train_offsets=offs)), p


@case(r"the labels go up to 3 but the data names only 3 classes")
def enc_more_labels_than_class_names(tmp):
    return (p := _enc(tmp, classes=np.array(["a", "b", "c"]))), p


# --- image folders
def _folder(tmp):
    return write_imagefolder(tmp / "if", 24, 12, 8)


@case(r"class folder '[^']*train/purple' holds no images \(\.bmp, \.gif")
def if_empty_train_class(tmp):
    root = _folder(tmp)
    (root / "train" / "purple").mkdir()
    return root, root / "train" / "purple"


@case(r"class folder '[^']*test/red' holds no images")
def if_empty_test_class(tmp):
    root = _folder(tmp)
    for p in (root / "test" / "red").iterdir():
        p.unlink()
    return root, root / "test" / "red"


@case(r"test class folder '[^']*test/purple' has no training counterpart \(train/ has blue, green, red, yellow\)")
def if_test_class_not_in_train(tmp):
    root = _folder(tmp)
    (root / "test" / "purple").mkdir()
    (root / "test" / "purple" / "x.png").write_bytes((root / "test" / "red").iterdir().__next__().read_bytes())
    return root, root / "test" / "purple"


@case(r"\.png' does not decode as an image \(not in any image format Pillow reads\)")
def if_garbage_png(tmp):
    root = _folder(tmp)
    bad = min((root / "train" / "green").iterdir())
    bad.write_bytes(b"\x89PNG but then nothing sensible")
    return root, bad


@case(r"does not decode as an image \(OSError")
def if_truncated_png(tmp):
    from PIL import Image

    root = _folder(tmp)
    bad = min((root / "train" / "blue").iterdir())
    g = np.random.default_rng(0)
    Image.fromarray(g.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(bad)
    bad.write_bytes(bad.read_bytes()[:-40])
    return root, bad


@case(r"is 16x8 but '[^']*' is 8x8; all images must have one size")
def if_images_of_different_sizes(tmp):
    from PIL import Image

    root = _folder(tmp)
    bad = max((root / "train" / "red").iterdir())
    Image.fromarray(np.zeros((8, 16, 3), np.uint8)).save(bad)
    return root, bad


@case(r"the training images are 3x8x8 but the test images are 3x9x9")
def if_train_test_sizes_differ(tmp):
    from PIL import Image

    root = _folder(tmp)
    for p in (root / "test").rglob("*.png"):
        Image.fromarray(np.zeros((9, 9, 3), np.uint8)).save(p)
    return root, root


@case(r"was refused as a possible decompression bomb \(.*exceeds limit")
def if_decompression_bomb(tmp):
    root = _folder(tmp)
    bad = root / "train" / "red" / "zz_bomb.png"
    bad.write_bytes(_png_header(60000, 60000))  # 3.6 gigapixels in 70 bytes
    return root, bad


@case(r"was refused as a possible decompression bomb \(.*could be decompression bomb")
def if_decompression_bomb_warning_size(tmp):
    root = _folder(tmp)
    bad = root / "train" / "red" / "zz_big.png"
    bad.write_bytes(_png_header(10000, 10000))  # over Pillow's limit, under twice it: Pillow only warns
    return root, bad


@case(r"is a folder, not an image file")
def if_folder_named_png(tmp):
    root = _folder(tmp)
    (root / "train" / "red" / "zz.png").mkdir()
    return root, root / "train" / "red" / "zz.png"


@case(r"has no class folders")
def if_no_class_folders(tmp):
    root = tmp / "if"
    (root / "train").mkdir(parents=True)
    (root / "test").mkdir()
    return root, root / "train"


@case(r"has a train/ folder but no test/ folder; an image folder needs both")
def if_no_test_folder(tmp):
    root = tmp / "if"
    (root / "train" / "a").mkdir(parents=True)
    return root, root


# --- CIFAR pickles
@case(r"holds a list, not a CIFAR batch \(a dict with 'data' and 'labels'\)")
def pk_not_a_dict(tmp):
    return _cifar(tmp, obj=[1, 2, 3])


@case(r"has no 'labels' entry")
def pk_no_labels(tmp):
    return _cifar(tmp, obj={b"data": _batch()[b"data"], b"filenames": []})


@case(r"has no 'data' entry")
def pk_no_data(tmp):
    return _cifar(tmp, obj={"labels": [0, 1]})


@case(r"'data' must be a uint8 array of N x 3\*H\*W, not a float32 array of shape \(8, 768\)")
def pk_float_data(tmp):
    return _cifar(tmp, obj=_batch(data=_batch()[b"data"].astype(np.float32)))


@case(r"'data' must be a uint8 array of N x 3\*H\*W, not a list")
def pk_data_list(tmp):
    return _cifar(tmp, obj=_batch(data=[1, 2, 3]))


@case(r"rows of 0 bytes are not square 3-channel images")
def pk_zero_size_rows(tmp):
    return _cifar(tmp, obj=_batch(data=np.zeros((8, 0), np.uint8)))


@case(r"rows of 150 bytes are not square 3-channel images")
def pk_non_square_rows(tmp):
    return _cifar(tmp, obj=_batch(data=np.zeros((8, 150), np.uint8)))


@case(r"'labels' must hold integer class labels, not str \('3'\)")
def pk_string_labels(tmp):
    return _cifar(tmp, obj=_batch(labels=["3"] * 8))


@case(r"'labels' must hold integer class labels, not float \(1\.5\)")
def pk_float_labels(tmp):
    return _cifar(tmp, obj=_batch(labels=[1.5] * 8))


@case(r"'labels' must hold integer class labels, not bool")
def pk_bool_labels(tmp):
    return _cifar(tmp, obj=_batch(labels=[True] * 8))


@case(r"'labels' must be a list or array of integer labels, not str")
def pk_labels_a_string(tmp):
    return _cifar(tmp, obj=_batch(labels="01230123"))


@case(r"'labels' holds the label 1180591620717411303424; labels must be integers in \[0, 2147483648\)")
def pk_huge_label(tmp):
    return _cifar(tmp, obj=_batch(labels=[0] * 7 + [2**70]))


@case(r"'labels' holds the label -1")
def pk_negative_label(tmp):
    return _cifar(tmp, obj=_batch(labels=[0] * 7 + [-1]))


@case(r"has 8 images but 7 labels")
def pk_label_count(tmp):
    return _cifar(tmp, obj=_batch(labels=[0] * 7))


@case(r"the labels go up to 5 but the data names only 4 classes \(red, green, blue, yellow\)")
def pk_more_labels_than_names(tmp):
    root, _ = _cifar(tmp, obj=_batch(labels=[0] * 7 + [5]))
    return root, root / "cifar-10-batches-py"


@case(r"'label_names' must be a list of class names \(strings\)")
def pk_meta_names_wrong_type(tmp):
    return _cifar(tmp, meta={b"label_names": 10})


@case(r"holds a str, not a dict with 'label_names'")
def pk_meta_not_a_dict(tmp):
    return _cifar(tmp, meta="airplane")


@case(r"the batches in '[^']*' hold images of different sizes \(16x16, 8x8\)")
def pk_batches_of_different_sizes(tmp):
    root, _ = _cifar(tmp, obj=_batch(data=np.zeros((8, 3 * 8 * 8), np.uint8)))
    return root, root / "cifar-10-batches-py"


@case(r"is not a plain data pickle: refused to load 'builtins\.eval'")
def pk_code(tmp):
    root, bad = _cifar(tmp)
    bad.write_bytes(b"cbuiltins\neval\n(Vprint(1)\ntR.")
    return root, bad


@case(r"is not a plain data pickle: refused an object array")
def pk_object_array(tmp):
    return _cifar(tmp, obj={b"data": np.array([None] * 4, dtype=object), b"labels": [0] * 4})


@case(r"is corrupt or truncated \(")
def pk_truncated(tmp):
    root, bad = _cifar(tmp)
    bad.write_bytes(bad.read_bytes()[:500])
    return root, bad


@case(r"is corrupt or truncated \(")
def pk_garbage(tmp):
    root, bad = _cifar(tmp)
    bad.write_bytes(bytes(range(256)) * 4)
    return root, bad


@case(r"is a folder, not a data file")
def pk_batch_is_a_folder(tmp):
    root, _ = _cifar(tmp)
    bad = root / "cifar-10-batches-py" / "data_batch_6"
    bad.mkdir()
    return root, bad


# --- paths that are not data
@case(r"'[^']*a\\0b' is not a valid path \(it holds a NUL byte\)")
def path_with_nul(tmp):
    return Path(f"{tmp}/a\0b"), Path(f"{tmp}/a\\0b")


@case(r"cannot read '[^']*loop': too many levels of symbolic links")
def path_symlink_loop(tmp):
    (p := tmp / "loop").symlink_to(tmp / "loop")
    return p, p


@case(r"data path '[^']*nothing' does not exist")
def path_missing(tmp):
    return tmp / "nothing", tmp / "nothing"


@case(r"is not a data folder or an \.npz file")
def path_other_file(tmp):
    (p := tmp / "cifar.tar.gz").write_bytes(b"\x1f\x8b" + b"\0" * 100)
    return p, p


@case(r"holds no data in a layout netc reads")
def path_empty_folder(tmp):
    (p := tmp / "empty").mkdir()
    return p, p


@case(r"is a FIFO \(named pipe\), not a data file or folder")
def special_fifo(tmp):
    if not POSIX_SPECIAL:
        pytest.skip("no FIFOs here")
    os.mkfifo(p := tmp / "pipe")
    return p, p


@case(r"is a FIFO \(named pipe\), not a data file or folder")
def special_fifo_named_npz(tmp):
    if not POSIX_SPECIAL:
        pytest.skip("no FIFOs here")
    os.mkfifo(p := tmp / "d.npz")
    return p, p


@case(r"is a FIFO \(named pipe\), not an \.npz file")
def special_fifo_npz_in_folder(tmp):
    if not POSIX_SPECIAL:
        pytest.skip("no FIFOs here")
    (tmp / "f").mkdir()
    os.mkfifo(p := tmp / "f" / "d.npz")
    return tmp / "f", p


@case(r"is a FIFO \(named pipe\), not an image file")
def special_fifo_image(tmp):
    if not POSIX_SPECIAL:
        pytest.skip("no FIFOs here")
    root = _folder(tmp)
    os.mkfifo(p := root / "train" / "red" / "zz.png")
    return root, p


@case(r"is a FIFO \(named pipe\), not a data file")
def special_fifo_batch(tmp):
    if not POSIX_SPECIAL:
        pytest.skip("no FIFOs here")
    root, _ = _cifar(tmp)
    p = root / "cifar-10-batches-py" / "data_batch_3"
    p.unlink()
    os.mkfifo(p)
    return root, p


@case(r"is a socket, not a data file or folder")
def special_socket(tmp):
    if not hasattr(socket, "AF_UNIX"):
        pytest.skip("no unix sockets here")
    p = tmp / "sock.npz"
    if len(str(p)) > 100:
        pytest.skip("tmp path too long for a unix socket")
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(p))
    SOCKETS.append(s)
    return p, p


@case(r"is a device, not a data file or folder")
def special_dev_zero(tmp):
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    return Path("/dev/zero"), Path("/dev/zero")


@case(r"is a device, not a data file or folder")
def special_link_to_dev_zero(tmp):
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    (p := tmp / "d.npz").symlink_to("/dev/zero")
    return p, p


SOCKETS: list[socket.socket] = []


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_data_gives_an_accurate_clean_error(tmp_path, capsys, name):
    build, expect = CASES[name]
    try:
        data, named = build(tmp_path)
        with pytest.raises(DataError) as info:
            load_dataset(data)
        text = str(info.value)
        assert re.search(expect, text), text
        assert str(named) in text, text
        assert info.value.file == str(named)
        assert "--limit" not in text and "Python objects" not in text or name == "npz_object_array"
        # the real command line: exit 2, the same message, no traceback
        net = write_net(tmp_path / "tiny.net")
        capsys.readouterr()
        code = main(["train", str(net), "--data", str(data), "--out", str(tmp_path / "run")])
        err = capsys.readouterr().err
        assert code == 2, err
        assert re.search(expect, err), err
        assert str(named) in err and "Traceback" not in err and "internal error" not in err
    finally:
        while SOCKETS:
            SOCKETS.pop().close()


def test_limit_message_only_when_limit_emptied_the_set(tmp_path):
    p = write_npz(tmp_path / "d.npz", 20, 10)
    with pytest.raises(DataError, match=r"--limit 0 leaves no training images \(it must be at least 1\)"):
        load_dataset(p, limit=0)
    with pytest.raises(DataError, match=r"--limit-test 0 leaves no test images"):
        load_dataset(p, limit_test=0)
    empty = _npz(tmp_path, "e.npz", train_x=np.zeros((0, 16, 16, 3), np.uint8), train_y=np.zeros(0, np.int64))
    with pytest.raises(DataError, match="has no training images") as info:
        load_dataset(empty, limit=5)
    assert "--limit" not in str(info.value)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads unreadable files")
def test_unreadable_file_and_folder(tmp_path):
    p = write_npz(tmp_path / "d.npz", 20, 10)
    p.chmod(0)
    with pytest.raises(DataError, match="cannot read .*permission denied"):
        load_dataset(p)
    root = _folder(tmp_path)
    (root / "train" / "red").chmod(0)
    try:
        with pytest.raises(DataError, match="cannot list the folder .*red.*permission denied"):
            load_dataset(root)
    finally:
        (root / "train" / "red").chmod(0o755)


def test_an_array_larger_than_memory_is_refused_before_reading(tmp_path, monkeypatch):
    p = write_npz(tmp_path / "d.npz", 20, 10)
    monkeypatch.setattr(npz_mod, "memory_bytes", lambda: 4096)
    with pytest.raises(
        DataError,
        match=r"has a member 'train_x\.npy' of 15\.0 KB unpacked, more than this "
        r"machine's 4\.0 KB of memory",
    ):
        load_dataset(p)


# ----------------------------------------------------------------------------- what must keep working
def test_num_classes_comes_from_class_names_else_labels(tmp_path):
    ds = load_dataset(
        _npz(tmp_path, "a.npz", train_y=np.array([0, 1, 2, 1, 0, 1, 2, 0]), test_y=np.array([0, 1, 1, 0]))
    )
    assert ds.classes == [] and ds.num_classes == 3
    ds = load_dataset(_npz(tmp_path, "b.npz", classes=np.array([f"c{i}" for i in range(10)])))
    assert ds.num_classes == 10 and ds.classes[9] == "c9"
    ds = load_dataset(_npz(tmp_path, "c.npz", classes=np.array([b"w", b"x", b"y", b"z"])))
    assert ds.classes == ["w", "x", "y", "z"] and ds.num_classes == 4
    ds = load_dataset(write_cifar_pickles(tmp_path / "pk", 20, 10))
    assert ds.num_classes == 4 and "4 classes" in ds.describe()


def test_plain_npz_variants_load_exactly(tmp_path):
    a = _arrays()
    want = a["train_x"].transpose(0, 3, 1, 2)
    variants = {
        "nchw.npz": {"train_x": want, "test_x": a["test_x"].transpose(0, 3, 1, 2)},
        "fortran.npz": {"train_x": np.asfortranarray(a["train_x"]), "train_y": np.asfortranarray(a["train_y"])},
        "column_labels.npz": {"train_y": a["train_y"][:, None].astype(np.uint8), "test_y": a["test_y"].astype(">i4")},
        "uint64_labels.npz": {"train_y": a["train_y"].astype(np.uint64)},
    }
    for name, changes in variants.items():
        ds = load_dataset(_npz(tmp_path, name, **changes))
        np.testing.assert_array_equal(ds.train_x, want, err_msg=name)
        np.testing.assert_array_equal(ds.train_y, a["train_y"], err_msg=name)
        assert ds.train_y.dtype == np.int64 and ds.train_x.dtype == np.uint8
    p = tmp_path / "compressed.npz"
    np.savez_compressed(p, **a)
    np.testing.assert_array_equal(load_dataset(p).test_x, a["test_x"].transpose(0, 3, 1, 2))


def test_ambiguous_image_layout_follows_the_nets_channels(tmp_path):
    g = np.random.default_rng(0)
    x = g.integers(0, 255, (8, 4, 4, 3), dtype=np.uint8)  # NHWC 4x4 RGB, or NCHW 4 channels of 4x3?
    p = _npz(tmp_path, train_x=x, test_x=x[:4])
    ds = load_dataset(p, channels=3)
    assert ds.image_shape == (3, 4, 4)
    np.testing.assert_array_equal(ds.train_x, x.transpose(0, 3, 1, 2))
    gray = g.integers(0, 255, (8, 16, 16), dtype=np.uint8)  # (N,H,W): one channel
    ds = load_dataset(_npz(tmp_path, "g.npz", train_x=gray, test_x=gray[:4]), channels=1)
    assert ds.image_shape == (1, 16, 16)


def test_encoded_npz_variants_load(tmp_path):
    x, y = easy_images(6, 8, 0)
    data, offs = encode_images(x, "PNG")
    pad = np.concatenate([np.full(10, 255, np.uint8), data, np.zeros(5, np.uint8)])
    p = write_encoded_npz(
        tmp_path / "e.npz",
        6,
        3,
        8,
        train_jpeg=pad,
        train_offsets=(offs + 10).astype(np.uint32),
        train_y=y.astype(np.uint8),
    )
    ds = load_dataset(p)
    np.testing.assert_array_equal(ds.train_x, x.transpose(0, 3, 1, 2))  # PNG is lossless
    np.testing.assert_array_equal(ds.train_y, y)
    ds = load_dataset(p, channels=1)
    assert ds.image_shape == (1, 8, 8) and ds.num_classes == 4


def test_pickles_with_empty_bytes_and_numpy_labels_load(tmp_path):
    root, bad = _cifar(tmp_path)
    x, y = easy_images(8, 16, 3)
    rows = x.transpose(0, 3, 1, 2).reshape(8, -1)
    _dump_batch(bad, {b"batch_label": b"", b"data": rows, b"labels": y.astype(np.int32)})
    ds = load_dataset(root)
    np.testing.assert_array_equal(ds.train_x[8:16], x.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(ds.train_y[8:16], y)


def test_npz_reader_matches_np_load(tmp_path):
    g = np.random.default_rng(1)
    arrays = {
        "a": g.integers(0, 255, (3, 5, 7), dtype=np.uint8),
        "b": g.normal(size=(4, 2)).astype(">f8"),
        "c": np.asfortranarray(g.integers(-9, 9, (6, 5))),
        "d": np.zeros((0, 3), np.int16),
        "e": np.array(["x", "yz"]),
        "f": np.array(7, np.uint64),
    }
    for save in (np.savez, np.savez_compressed):
        p = tmp_path / f"{save.__name__}.npz"
        save(p, **arrays)
        with npz_mod._Npz(p) as z, np.load(p) as ref:
            assert sorted(z.members) == sorted(ref.files)
            for k in arrays:
                got = z.array(k)
                assert got.dtype == ref[k].dtype and got.shape == ref[k].shape
                np.testing.assert_array_equal(got, ref[k])


def test_decompression_bomb_filter_does_not_leak(tmp_path):
    import warnings

    from PIL import Image

    root = _folder(tmp_path)
    (root / "train" / "red" / "zz_big.png").write_bytes(_png_header(10000, 10000))
    with pytest.raises(DataError):
        load_dataset(root)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        Image.open(io.BytesIO(_png_header(10000, 10000))).close()
    assert any(issubclass(w.category, Image.DecompressionBombWarning) for w in seen)


# ----------------------------------------------------------------------------- fuzzing
def _assert_sane(ds: Dataset) -> None:
    """What every loaded dataset must be: nothing silently wrong gets through."""
    for x, y in ((ds.train_x, ds.train_y), (ds.test_x, ds.test_y)):
        assert x.dtype == np.uint8 and x.ndim == 4 and min(x.shape[1:]) >= 1 and len(x) >= 1
        assert y.dtype == np.int64 and y.shape == (len(x),)
        assert y.min() >= 0 and y.max() < LABEL_LIMIT
    assert ds.train_x.shape[1:] == ds.test_x.shape[1:]
    assert ds.num_classes >= 1 and (not ds.classes or ds.num_classes == len(ds.classes))


def _load_or_data_error(path: Path) -> None:
    try:
        ds = load_dataset(path)
    except DataError as err:
        assert err.file and err.file.startswith(str(path)) and str(err).startswith(err.file), err
        return
    _assert_sane(ds)


def _small_files(tmp: Path) -> dict[str, bytes]:
    stored = _npz(tmp, "s.npz", classes=np.array(["r", "g", "b", "y"]))
    compressed = tmp / "c.npz"
    np.savez_compressed(compressed, **_arrays(6, 3, 8))
    enc = write_encoded_npz(tmp / "e.npz", 4, 2, 8, fmt="PNG")
    return {k: p.read_bytes() for k, p in (("stored", stored), ("compressed", compressed), ("encoded", enc))}


FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(
    which=st.sampled_from(["stored", "compressed", "encoded"]),
    flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), max_size=4),
    cut=st.none() | st.floats(0, 1),
)
def test_fuzz_npz_bytes(tmp_path, which, flips, cut):
    raw = bytearray(_SMALL[which])
    for where, mask in flips:
        raw[int(where * len(raw))] ^= mask
    if cut is not None:
        raw = raw[: int(cut * len(raw))]
    p = tmp_path / "f.npz"
    p.write_bytes(bytes(raw))
    _load_or_data_error(p)


DTYPES = [np.uint8, np.int8, np.int32, np.uint64, np.float32, np.float64, bool, ">i8", "U3", object]


@st.composite
def _array_changes(draw):
    a = _arrays(6, 3, 8)
    key = draw(st.sampled_from(sorted(a) + ["classes"]))
    dtype = draw(st.sampled_from(DTYPES))
    base = a.get(key, np.arange(4))
    kind = draw(st.sampled_from(["dtype", "reshape", "values", "drop"]))
    if kind == "drop":
        return {key: None}
    if kind == "reshape":
        shape = draw(st.lists(st.integers(0, 6), min_size=0, max_size=5))
        return {key: np.resize(base, shape).astype(dtype)}
    if kind == "values":
        vals = draw(st.lists(st.integers(-(2**64), 2**64), min_size=0, max_size=8))
        return {
            key: np.array([v % 2**64 for v in vals], dtype=np.uint64)
            if vals and draw(st.booleans())
            else np.array([min(max(v, -(2**63)), 2**63 - 1) for v in vals], dtype=np.int64)
        }
    with np.errstate(all="ignore"):
        return {key: base.astype(dtype)}


@FUZZ
@given(changes=st.lists(_array_changes(), min_size=1, max_size=3))
def test_fuzz_npz_arrays(tmp_path, changes):
    arrays = _arrays(6, 3, 8)
    for c in changes:
        arrays.update(c)
    p = tmp_path / "f.npz"
    np.savez(p, **{k: v for k, v in arrays.items() if v is not None})
    _load_or_data_error(p)


@FUZZ
@given(
    offsets=st.none() | st.lists(st.integers(-10, 3000), max_size=8),
    offsets_dtype=st.sampled_from([np.int64, np.uint16, np.int8, np.float32, np.uint64]),
    flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), max_size=3),
    labels=st.none() | st.lists(st.integers(-3, 2**33), max_size=6),
    fmt=st.sampled_from(["PNG", "JPEG", "BMP", "GIF"]),
)
def test_fuzz_encoded_arrays(tmp_path, offsets, offsets_dtype, flips, labels, fmt):
    x, _ = easy_images(5, 8, 0)
    data, offs = encode_images(x, fmt)
    data = data.copy()
    for where, mask in flips:  # inside the images: the zip's CRC is right, Pillow meets the damage
        data[int(where * len(data))] ^= mask
    if offsets is not None:
        with np.errstate(all="ignore"):
            offs = np.array(offsets).astype(offsets_dtype)
    changes = {"train_jpeg": data, "train_offsets": offs}
    if labels is not None:
        changes["train_y"] = np.array(labels, dtype=np.int64)
    p = write_encoded_npz(tmp_path / "e.npz", 5, 2, 8, fmt=fmt, **changes)
    _load_or_data_error(p)


@FUZZ
@given(
    flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), min_size=1, max_size=4),
    cut=st.none() | st.floats(0, 1),
)
def test_fuzz_cifar_pickle_bytes(tmp_path, flips, cut):
    folder = tmp_path / "cifar-10-batches-py"
    if not folder.exists():
        write_cifar_pickles(tmp_path, 16, 8, size=8, batches=1)
    raw = bytearray(_SMALL_PICKLE)
    for where, mask in flips:
        raw[int(where * len(raw))] ^= mask
    if cut is not None:
        raw = raw[: int(cut * len(raw))]
    (folder / "data_batch_1").write_bytes(bytes(raw))
    _load_or_data_error(tmp_path)


def _small_pickle() -> bytes:
    x, y = easy_images(16, 8, 0)
    return pickle.dumps(
        {
            b"batch_label": b"training batch 1 of 1",
            b"labels": [int(v) for v in y],
            b"data": x.transpose(0, 3, 1, 2).reshape(16, -1),
        },
        protocol=2,
    )


def _build_small() -> dict[str, bytes]:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        return _small_files(Path(d))


_SMALL = _build_small()
_SMALL_PICKLE = _small_pickle()
