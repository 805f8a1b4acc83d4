"""Helpers for the training tests: small generated datasets in every --data layout, tiny nets."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

# 4 classes told apart by colour: easy for a tiny conv net, impossible for chance (25%)
TINY_NET = """\
input 3x{size}x{size}
conv_bn(16) -> maxpool(2) -> conv_bn(32) -> gmp -> linear(4)
train {{
  epochs = {epochs}
  batch_size = 64
  eval_batch_size = 128
  lr = [(0, 0), ({peak}, 0.2), ({epochs}, 0)]
  pad = 2
  cutout = 4
}}
"""

COLOURS = np.array([[200, 40, 40], [40, 200, 40], [40, 40, 200], [200, 200, 40]], dtype=np.int16)


def easy_images(n: int, size: int = 16, seed: int = 0):
    """(N,H,W,3) uint8 noisy images whose tint gives the class (4 classes), and labels."""
    g = np.random.default_rng(seed)
    y = g.integers(0, 4, n)
    x = g.integers(-60, 60, (n, size, size, 3)) + COLOURS[y][:, None, None, :]
    return np.clip(x, 0, 255).astype(np.uint8), y.astype(np.int64)


def write_net(path: Path, epochs: int = 2, size: int = 16) -> Path:
    path.write_text(TINY_NET.format(epochs=epochs, size=size, peak=0.5 if epochs == 1 else 1))
    return path


def write_npz(path: Path, n_train=256, n_test=128, size=16) -> Path:
    tx, ty = easy_images(n_train, size, 0)
    vx, vy = easy_images(n_test, size, 1)
    np.savez(path, train_x=tx, train_y=ty, test_x=vx, test_y=vy)
    return path


def write_cifar_pickles(root: Path, n_train=256, n_test=128, size=16, batches=5) -> Path:
    """The real torchvision layout: cifar-10-batches-py/ with protocol-2 dict pickles."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    tx, ty = easy_images(n_train, size, 0)
    vx, vy = easy_images(n_test, size, 1)

    def dump(name, x, y):
        d = {
            b"batch_label": name.encode(),
            b"labels": [int(v) for v in y],
            b"data": np.ascontiguousarray(x.transpose(0, 3, 1, 2).reshape(len(x), -1)),
            b"filenames": [f"img{i}.png".encode() for i in range(len(x))],
        }
        with open(folder / name, "wb") as f:
            pickle.dump(d, f, protocol=2)

    for i, (xs, ys) in enumerate(zip(np.array_split(tx, batches), np.array_split(ty, batches)), start=1):
        dump(f"data_batch_{i}", xs, ys)
    dump("test_batch", vx, vy)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump(
            {b"label_names": [b"red", b"green", b"blue", b"yellow"], b"num_vis": size * size * 3}, f, protocol=2
        )
    return root


def write_imagefolder(root: Path, n_train=128, n_test=64, size=16) -> Path:
    from PIL import Image

    names = ["red", "green", "blue", "yellow"]
    for split, (x, y) in (("train", easy_images(n_train, size, 0)), ("test", easy_images(n_test, size, 1))):
        for c in names:
            (root / split / c).mkdir(parents=True)
        for i, (im, label) in enumerate(zip(x, y)):
            Image.fromarray(im).save(root / split / names[label] / f"{i:05d}.png")
    return root


def encode_images(images: np.ndarray, fmt: str = "JPEG", quality: int = 95) -> tuple[np.ndarray, np.ndarray]:
    """Encoded images as the encoded-npz layout stores them: all bytes in one uint8 array, and
    int64 offsets (N+1 positions, the first 0) cutting it into images."""
    import io

    from PIL import Image

    blobs = []
    for im in images:
        buf = io.BytesIO()
        Image.fromarray(im).save(buf, format=fmt, **({"quality": quality} if fmt == "JPEG" else {}))
        blobs.append(np.frombuffer(buf.getvalue(), np.uint8))
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    return (np.concatenate(blobs) if blobs else np.zeros(0, np.uint8)), offsets


def write_encoded_npz(path: Path, n_train=12, n_test=6, size=8, fmt: str = "PNG", **overrides) -> Path:
    """A small encoded-image .npz ({split}_jpeg, {split}_offsets, {split}_y); `overrides` replace arrays."""
    arrays = {}
    for split, (x, y) in (("train", easy_images(n_train, size, 0)), ("test", easy_images(n_test, size, 1))):
        arrays[f"{split}_jpeg"], arrays[f"{split}_offsets"] = encode_images(x, fmt)
        arrays[f"{split}_y"] = y
    arrays.update(overrides)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


@contextmanager
def ctrl_c_at_epoch(after: int) -> Iterator[None]:
    """Inside the block, `netc train` is stopped by Ctrl-C as epoch `after + 1` begins (counting every
    epoch start of the process, all runs together), as a user pressing Ctrl-C would stop it."""
    from dsl.train import report as report_mod

    seen = {"n": 0}
    real = report_mod.ConsoleReporter.epoch_start

    def epoch_start(self, epoch, steps):
        seen["n"] += 1
        if seen["n"] == after + 1:
            raise KeyboardInterrupt
        real(self, epoch, steps)

    report_mod.ConsoleReporter.epoch_start = epoch_start
    try:
        yield
    finally:
        report_mod.ConsoleReporter.epoch_start = real


def write_class_folder(
    root: Path, classes: int = 20, per_train: int = 8, per_test: int = 3, size: int | None = 64, seed: int = 0
) -> Path:
    """An image folder (train/, test/) of `classes` classes told apart by their tint; PNG images of
    `size` x `size`, or of mixed sizes (each side in 24..80) when `size` is None."""
    from PIL import Image

    g = np.random.default_rng(seed)
    tints = g.integers(30, 226, (classes, 3))
    for split, n in (("train", per_train), ("test", per_test)):
        for c in range(classes):
            d = root / split / f"class{c:02d}"
            d.mkdir(parents=True)
            for i in range(n):
                h, w = (size, size) if size else (int(g.integers(24, 81)), int(g.integers(24, 81)))
                x = np.clip(g.integers(-40, 40, (h, w, 3)) + tints[c], 0, 255).astype(np.uint8)
                Image.fromarray(x).save(d / f"{i:03d}.png")
    return root


STREAM_NET = """\
input 3x{size}x{size}
conv_bn(8) -> maxpool(4) -> conv_bn(16) -> gmp -> linear({classes})
train {{
  epochs = {epochs}
  batch_size = 32
  eval_batch_size = 64
  lr = [(0, 0), ({peak}, 0.2), ({epochs}, 0)]
{extra}}}
"""


def write_stream_net(path: Path, epochs: int = 2, size: int = 64, classes: int = 20, extra: str = "") -> Path:
    """A tiny classifier of `size` x `size` RGB images into `classes` classes (`extra`: train { } lines)."""
    path.write_text(STREAM_NET.format(epochs=epochs, size=size, classes=classes, extra=extra, peak=min(1, epochs / 2)))
    return path
