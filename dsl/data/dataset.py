"""What a dataset is: `Dataset`, and the checks every layout's images and labels go through."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dsl.data.paths import file_md5, is_file, refuse
from dsl.errors import DataError, Span

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".gif", ".webp", ".tif", ".tiff"}
USAGE = (
    "pass --data a dataset's name (cifar10, cifar100, svhn, fashion-mnist, mnist, stl10: downloaded once) "
    "or a PATH: torchvision's copy of one (cifar-10-batches-py/, cifar-100-python/, the folder of "
    "train_32x32.mat and test_32x32.mat, FashionMNIST/raw/, stl10_binary/), an image folder "
    "(train/<class>/*.png and test/<class>/... or val/<class>/...) or an .npz with train_x, train_y, test_x, test_y"
)
LABEL_LIMIT = 2**31  # labels are class indices in [0, LABEL_LIMIT)
MODES = {1: "L", 3: "RGB"}  # Pillow mode for a net's input channels
_CLASSES_LINE = re.compile(r"[ \t]*(classes)[ \t]*=(?!=)")  # a file's `classes = N` line


@dataclass
class Dataset:
    """A loaded dataset: uint8 NCHW images and int64 labels for the training and test sets."""

    train_x: np.ndarray  # (N, C, H, W) uint8
    train_y: np.ndarray  # (N,) int64
    test_x: np.ndarray  # (M, C, H, W) uint8
    test_y: np.ndarray  # (M,) int64
    classes: list[str] = field(default_factory=list)
    source: str = ""  # where it came from (a path)
    layout: str = ""  # "cifar-pickle", "cifar100-pickle", "svhn-mat", "idx", "stl10-binary", "imagefolder", "npz"...
    official: bool = False  # a dataset's official release (CIFAR-10, CIFAR-100, ...), checksums verified
    notice: str | None = None  # one line for the user when not official

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image."""
        c, h, w = (int(v) for v in self.train_x.shape[1:])
        return c, h, w

    @property
    def num_classes(self) -> int:
        """The number of classes: the class names when the data names them, else max label + 1."""
        top = max(self.train_y.max(initial=-1), self.test_y.max(initial=-1))
        return len(self.classes) if self.classes else int(top) + 1

    def subset(self, split: str, keep: np.ndarray) -> None:
        """Keep only the images at indices `keep` (sorted) of `split`, "train" or "test" (`--limit`)."""
        if split == "train":
            self.train_x, self.train_y = self.train_x[keep], self.train_y[keep]
        else:
            self.test_x, self.test_y = self.test_x[keep], self.test_y[keep]

    def describe(self) -> str:
        """One line: counts, image size, classes, layout and source."""
        counts = f"{len(self.train_y)} train / {len(self.test_y)} test images"
        return f"{counts}, {_shape(self.image_shape)}, {self.num_classes} classes ({self.layout}: {self.source})"

    def check_fits(self, graph: Any) -> None:
        """Refuse data a network cannot take: another image shape, or a class count (`check_classes`)."""
        if tuple(self.image_shape) != tuple(graph.input_shape):
            takes = f"'{graph.name}' takes input {_shape(graph.input_shape)}"
            hint = "change the file's 'input' line or pass other --data"
            raise DataError(f"the images are {_shape(self.image_shape)} but {takes}", file=self.source, hint=hint)
        check_classes(self.num_classes, self.source, graph)


def _shape(shape: Iterable[int]) -> str:
    return "x".join(map(str, shape))


def check_classes(n: int, source: str, graph: Any) -> None:
    """Refuse `n` classes other than the file's `classes = N` (pointing at it), or more than the outputs."""
    data, declared = f"(the data: {source})", getattr(graph, "classes", None)
    if declared is not None and declared != n:
        message = f"the data has {n} classes but '{graph.name}' declares classes = {declared} {data}"
        hint = f"set classes = {n} in the .net file, or pass other --data"
        raise DataError(message, span=_classes_span(graph), file=source, hint=hint)
    if n > graph.num_classes:
        message = f"the data has {n} classes but '{graph.name}' has {graph.num_classes} outputs {data}"
        hint = f"end the net with a linear({n}), or set classes = {n} (the prelude's fc has `classes` outputs)"
        raise DataError(message, span=getattr(graph, "net_span", None), file=source, hint=hint)


def _classes_span(graph: Any) -> Span | None:
    """Where the file says `classes = N`: the first line of its sources that does, else the network's span."""
    for file, text in {graph.file: graph.source, **(getattr(graph, "sources", None) or {})}.items():
        for i, line in enumerate(text.splitlines() if isinstance(text, str) else [], 1):
            if m := _CLASSES_LINE.match(line):
                end = len(line.split("#", 1)[0].rstrip()) + 1
                return Span(file, i, m.start(1) + 1, i, max(end, m.end(1) + 1), text)
    net_span = getattr(graph, "net_span", None)
    return net_span if isinstance(net_span, Span) else None


def default_root() -> Path:
    """The download/cache folder: $NETC_DATA, else ~/.cache/netc."""
    return Path(os.environ.get("NETC_DATA") or Path.home() / ".cache" / "netc")


def require(folder: Path, names: Iterable[str], copy: str) -> None:
    """Refuse a folder that lacks one of the files `names` (`copy`: what a copy of the dataset holds)."""
    for name in names:
        if not is_file(folder / name):
            raise DataError(f"'{folder}' has no '{name}'; {copy}", file=str(folder / name), hint=USAGE)


def release(
    folder: Path, parts: list, classes: list[str], layout: str, title: str, md5: dict, why: str = "checksums differ"
) -> Dataset:
    """A Dataset of the (images, labels) `parts` of train and test in `folder`; official when `md5`'s files match."""
    official = bool(md5) and all(is_file(folder / n) and file_md5(folder / n) == m for n, m in md5.items())
    note = None if official else f"note: '{folder}' is not the official {title} release ({why}); using it as given"
    (x, y), (tx, ty) = parts
    return Dataset(x, y, tx, ty, classes, str(folder), layout, official, note)


def labels_array(values: object, path: Path | str, name: str) -> np.ndarray:
    """(N,) int64 labels (`name` in `path`) from integers in [0, 2**31), checked before any cast."""
    if isinstance(values, np.ndarray):
        if values.dtype.kind not in "iu":  # "b" (bool) and "f" are refused: labels are class indices
            raise refuse(path, f": {name} must hold integer class labels, not {values.dtype}")
        values = values[:, 0] if values.ndim == 2 and values.shape[1] == 1 else values
        if values.ndim != 1:
            hint = "one-hot labels? store the class indices (labels.argmax(1))" if values.ndim == 2 else None
            one = f"a 1-D array of integer labels, one per image, not shape {values.shape}"
            raise refuse(path, f": {name} must be {one}", hint)
        lo, hi = (values.min(), values.max()) if values.size else (0, 0)
    elif isinstance(values, (list, tuple)):
        for v in values:
            if type(v) is not int:  # bool is an int subclass; True/False are not class labels
                raise refuse(path, f": {name} must hold integer class labels, not {type(v).__name__} ({v!r:.40})")
        lo, hi = (min(values), max(values)) if values else (0, 0)
    else:
        raise refuse(path, f": {name} must be a list or array of integer labels, not {type(values).__name__}")
    if lo < 0 or hi >= LABEL_LIMIT:
        bad = int(lo) if lo < 0 else int(hi)
        raise refuse(path, f": {name} holds the label {bad}; labels must be integers in [0, {LABEL_LIMIT})")
    return np.asarray(values).astype(np.int64).reshape(-1)


def class_names(values: object, path: Path | str, name: str) -> list[str]:
    """Class names (`name` in `path`) from a list of str/bytes or a 1-D string array."""
    if isinstance(values, np.ndarray):
        if values.ndim != 1 or values.dtype.kind not in "US":
            got = f"{values.dtype} {values.shape}"
            raise refuse(path, f": {name} must be a 1-D array of class names (strings), not {got}")
        values = values.tolist()
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, (str, bytes)) for v in values):
        raise refuse(path, f": {name} must be a list of class names (strings)")
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in values]


def images_array(x: np.ndarray, path: Path | str, name: str, channels: int) -> np.ndarray:
    """(N, C, H, W) uint8 from uint8 images (`name` in `path`) stored (N,H,W), (N,H,W,C) or (N,C,H,W)."""
    if x.dtype != np.uint8:
        floats = "scale [0, 1] floats with (x * 255).round().astype(np.uint8)"
        hint = floats if x.dtype.kind == "f" else "store the pixels as uint8 (0..255)"
        raise refuse(path, f": {name} must be uint8 images (0..255), not {x.dtype}", hint)
    if x.ndim not in (3, 4):
        shapes = "(N,H,W,C), (N,C,H,W) or (N,H,W)"
        flat = "reshape flat rows to (N,H,W,C)" if x.ndim == 2 else None
        raise refuse(path, f": {name} must be images {shapes}, not a {x.ndim}-D array of shape {x.shape}", flat)
    last, second = x.shape[-1], x.shape[1]
    # NHWC when the last axis is the channel axis: the net's channel count decides an ambiguous shape such
    # as (N, 4, 4, 3); otherwise a small last axis next to a large second one
    if x.ndim == 4 and ((last == channels != second) or (last in (1, 3, 4) and second not in (1, 3, 4, channels))):
        x = x.transpose(0, 3, 1, 2)
    x = x[:, None] if x.ndim == 3 else x
    if 0 in x.shape[1:]:
        raise refuse(path, f": {name} holds zero-size images (C,H,W = {x.shape[1:]})")
    return np.ascontiguousarray(x)


def check_dataset(ds: Dataset) -> None:
    """Checks every layout shares: images in both sets, one image size, labels within the class names."""
    for name, y in (("training", ds.train_y), ("test", ds.test_y)):
        if len(y) == 0:
            raise refuse(ds.source, f"has no {name} images", USAGE)
    if ds.train_x.shape[1:] != ds.test_x.shape[1:]:
        sizes = f"the training images are {_shape(ds.train_x.shape[1:])} but the test images are {_shape(ds.test_x.shape[1:])}"
        raise DataError(f"{sizes} (channels x height x width); both need one size", file=ds.source)
    top, names = int(max(ds.train_y.max(), ds.test_y.max())), ds.classes
    if names and top >= len(names):
        shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
        only = f"the data names only {len(names)} classes ({shown}), so labels must be 0..{len(names) - 1}"
        hint = "labels are 0-based indices into the class names"
        raise DataError(f"the labels go up to {top} but {only}", file=ds.source, hint=hint)
