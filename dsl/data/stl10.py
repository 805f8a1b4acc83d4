"""torchvision's STL-10 layout: `stl10_binary/` with `train_X.bin`, `train_y.bin`, `test_X.bin`, `test_y.bin`
and `class_names.txt` (the unlabeled set, `unlabeled_X.bin`, is not read).

`*_X.bin` is the images back to back, 3 x 96 x 96 bytes each, every channel stored column by column
(torchvision: `reshape(-1, 3, 96, 96).transpose(0, 1, 3, 2)`); `*_y.bin` is one byte per image, the
classes numbered 1..10. Sizes are checked against the files before anything is allocated.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dsl.data.dataset import USAGE, Dataset
from dsl.data.paths import _check_memory, _is_file, _md5, _open_file, _read_into
from dsl.errors import DataError

STL10_DIR = "stl10_binary"

STL10_SIDE = 96

STL10_IMAGE = 3 * STL10_SIDE * STL10_SIDE

# torchvision's STL10.train_list / test_list (the labelled files)
STL10_MD5 = {
    "train_X.bin": "918c2871b30a85fa023e0c44e0bee87f",
    "train_y.bin": "5a34089d4802c674881badbb80307741",
    "test_X.bin": "7f263ba9f9e0b06b93213547f721ac82",
    "test_y.bin": "36f9794fa4beb8a2c72628de14fa638e",
}

_NAMES_LIMIT = 1 << 20  # class_names.txt: one short line per class


def has_stl10(folder: Path) -> bool:
    """`folder` holds STL-10's training or test images."""
    return _is_file(folder / "train_X.bin") or _is_file(folder / "test_X.bin")


def _bytes(path: Path, what: str) -> np.ndarray:
    """A whole regular file as uint8, its size checked against memory first."""
    with _open_file(path) as f:
        size = os.fstat(f.fileno()).st_size
        _check_memory(size, path, what)
        out = np.empty(size, np.uint8)
        _read_into(f, out, path, what)
        return out


def _split(folder: Path, split: str, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    px, py = folder / f"{split}_X.bin", folder / f"{split}_y.bin"
    for p in (px, py):
        if not _is_file(p):
            raise DataError(
                f"'{folder}' has no '{p.name}'; an STL-10 copy has train_X.bin, train_y.bin, test_X.bin, test_y.bin",
                file=str(p),
                hint=USAGE,
            )
    raw = _bytes(px, "the images")
    if len(raw) == 0 or len(raw) % STL10_IMAGE:
        raise DataError(
            f"'{px}' holds {len(raw):,} bytes, not a whole number of {STL10_SIDE}x{STL10_SIDE}x3 images "
            f"({STL10_IMAGE:,} bytes each): it is truncated or not STL-10's",
            file=str(px),
        )
    n = len(raw) // STL10_IMAGE
    y = _bytes(py, "the labels")
    if len(y) != n:
        raise DataError(f"'{px}' holds {n} images but '{py}' holds {len(y)} labels (one byte each)", file=str(py))
    if n and (y.min() < 1 or y.max() > n_classes):
        bad = int(y.min()) if y.min() < 1 else int(y.max())
        raise DataError(f"'{py}' holds the label {bad}; STL-10's labels are 1..{n_classes}", file=str(py))
    x = raw.reshape(n, 3, STL10_SIDE, STL10_SIDE).transpose(0, 1, 3, 2)
    return np.ascontiguousarray(x), y.astype(np.int64) - 1


def _class_names(folder: Path) -> list[str]:
    path = folder / "class_names.txt"
    if not _is_file(path):
        return []
    with _open_file(path) as f:
        text = f.read(_NAMES_LIMIT + 1)
    if len(text) > _NAMES_LIMIT:
        raise DataError(f"'{path}' is over 1 MB; it should list the class names, one a line", file=str(path))
    return [line.strip() for line in text.decode("utf-8", "replace").splitlines() if line.strip()]


def _load_stl10(folder: Path) -> Dataset:
    """STL-10's labelled train (5,000) and test (8,000) images, 3x96x96, with class_names.txt's names."""
    classes = _class_names(folder)
    n_classes = len(classes) or 10
    x, y = _split(folder, "train", n_classes)
    tx, ty = _split(folder, "test", n_classes)
    official = all(_md5(folder / n) == m for n, m in STL10_MD5.items())
    return Dataset(
        x,
        y,
        tx,
        ty,
        classes,
        str(folder),
        "stl10-binary",
        official,
        None
        if official
        else f"note: '{folder}' is not the official STL-10 release (checksums differ); using it as given",
    )
