"""The encoded-image .npz layout (shared/data/cifar10_jpeg.npz's): JPEG bytes + offsets, decoded on load."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from train_fixtures import encode_images

from dsl.data import load_dataset
from dsl.errors import DataError


def _encoded(images: np.ndarray, quality=95):
    return encode_images(images, "JPEG", quality)


def test_encoded_npz_is_decoded(tmp_path):
    g = np.random.default_rng(0)
    tr = (g.random((12, 32, 32, 3)) * 40 + np.arange(12)[:, None, None, None] * 15).astype(np.uint8)
    te = tr[:5].copy()
    tj, to = _encoded(tr)
    ej, eo = _encoded(te)
    np.savez(
        tmp_path / "jpeg.npz",
        train_jpeg=tj,
        train_offsets=to,
        train_y=np.arange(12) % 10,
        test_jpeg=ej,
        test_offsets=eo,
        test_y=np.arange(5),
        classes=np.array([f"c{i}" for i in range(10)]),
    )
    ds = load_dataset(tmp_path / "jpeg.npz")
    assert ds.train_x.shape == (12, 3, 32, 32) and ds.test_x.shape == (5, 3, 32, 32)
    assert ds.layout == "npz-encoded" and "encoded" in ds.notice and ds.classes[3] == "c3"
    for i in (0, 7, 11):  # exactly what Pillow decodes from each image's bytes
        blob = tj[to[i] : to[i + 1]].tobytes()
        ref = np.asarray(Image.open(io.BytesIO(blob)).convert("RGB"))
        assert np.array_equal(ds.train_x[i].transpose(1, 2, 0), ref)
    assert np.abs(ds.train_x.astype(int).mean() - tr.astype(int).mean()) < 3  # lossy but faithful


def test_corrupt_encoded_image_names_the_file(tmp_path):
    tj, to = _encoded(np.zeros((3, 8, 8, 3), np.uint8))
    tj = tj.copy()
    tj[: len(tj) // 2] = 7  # wreck the first images' bytes
    np.savez(
        tmp_path / "bad.npz",
        train_jpeg=tj,
        train_offsets=to,
        train_y=np.zeros(3, int),
        test_jpeg=tj,
        test_offsets=to,
        test_y=np.zeros(3, int),
    )
    with pytest.raises(DataError, match=r"bad\.npz': train image 0 does not decode as an image") as info:
        load_dataset(tmp_path / "bad.npz")
    assert info.value.file == str(tmp_path / "bad.npz")


def test_float_offsets_are_refused_not_crashed_on(tmp_path):
    tj, to = _encoded(np.zeros((3, 8, 8, 3), np.uint8))
    np.savez(
        tmp_path / "f.npz",
        train_jpeg=tj,
        train_offsets=to.astype(np.float64),
        train_y=np.zeros(3, int),
        test_jpeg=tj,
        test_offsets=to,
        test_y=np.zeros(3, int),
    )
    with pytest.raises(DataError, match="train_offsets must hold integer byte positions, not float64"):
        load_dataset(tmp_path / "f.npz")
