"""What a dataset is: `Dataset`, and the checks every layout's images and labels go through."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dsl.errors import DataError, Span

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".gif", ".webp", ".tif", ".tiff"}

USAGE = (
    "pass --data a dataset's name (cifar10, cifar100, svhn, fashion-mnist, mnist, stl10: downloaded once) "
    "or a PATH: torchvision's copy of one (cifar-10-batches-py/, cifar-100-python/, the folder of "
    "train_32x32.mat and test_32x32.mat, FashionMNIST/raw/, stl10_binary/), an image folder "
    "(train/<class>/*.png and test/<class>/... or val/<class>/...) or an .npz with train_x, train_y, test_x, test_y"
)

LABEL_LIMIT = 2**31  # labels are class indices in [0, LABEL_LIMIT)

_MODES = {1: "L", 3: "RGB"}  # Pillow mode for a net's input channels


@dataclass
class Dataset:
    """A loaded dataset: uint8 NCHW images and int64 labels for the training and test sets."""

    train_x: np.ndarray  # (N, C, H, W) uint8
    train_y: np.ndarray  # (N,) int64
    test_x: np.ndarray  # (M, C, H, W) uint8
    test_y: np.ndarray  # (M,) int64
    classes: list[str] = field(default_factory=list)
    source: str = ""  # where it came from (a path)
    # "cifar-pickle", "cifar100-pickle", "svhn-mat", "idx", "stl10-binary", "imagefolder", "npz" or "npz-encoded"
    layout: str = ""
    official: bool = False  # a dataset's official release (CIFAR-10, CIFAR-100, ...), checksums verified
    notice: str | None = None  # one line for the user when not official

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image."""
        c, h, w = (int(v) for v in self.train_x.shape[1:])
        return c, h, w

    def describe(self) -> str:
        """One line: counts, image size, classes, layout and source."""
        c, h, w = self.image_shape
        return (
            f"{len(self.train_y)} train / {len(self.test_y)} test images, {c}x{h}x{w}, "
            f"{self.num_classes} classes ({self.layout}: {self.source})"
        )

    @property
    def num_classes(self) -> int:
        """The number of classes: the class names when the data names them, else max label + 1."""
        if self.classes:
            return len(self.classes)
        return int(max(self.train_y.max(initial=-1), self.test_y.max(initial=-1))) + 1

    def check_fits(self, graph: Any) -> None:
        """Refuse data a network cannot take: another image shape; a class count other than the file's
        `classes = N` (the error points at that line); more classes than outputs (it points at the network)."""
        fmt = "x".join
        if tuple(self.image_shape) != tuple(graph.input_shape):
            raise DataError(
                f"the images are {fmt(map(str, self.image_shape))} but '{graph.name}' takes input "
                f"{fmt(map(str, graph.input_shape))}",
                file=self.source,
                hint="change the file's 'input' line or pass other --data",
            )
        check_classes(self.num_classes, self.source, graph)


def check_classes(n: int, source: str, graph: Any) -> None:
    """Refuse `n` classes (of the data at `source`) that a network cannot take: a count other than the
    file's `classes = N` (the error points at that line), more classes than outputs (at the network)."""
    data = f"(the data: {source})"
    declared = getattr(graph, "classes", None)
    if declared is not None and declared != n:
        raise DataError(
            f"the data has {n} classes but '{graph.name}' declares classes = {declared} {data}",
            span=_classes_span(graph),
            file=source,
            hint=f"set classes = {n} in the .net file, or pass other --data",
        )
    if n > graph.num_classes:
        raise DataError(
            f"the data has {n} classes but '{graph.name}' has {graph.num_classes} outputs {data}",
            span=getattr(graph, "net_span", None),
            file=source,
            hint=f"end the net with a linear({n}), or set classes = {n} (the prelude's fc has `classes` outputs)",
        )


def _classes_span(graph: Any) -> Span | None:
    """Where the file says `classes = N`: the graph's `classes_span` when it has one, else the first
    line of its sources that defines `classes`, else the network's span."""
    span = getattr(graph, "classes_span", None)
    if isinstance(span, Span):
        return span
    texts = {graph.file: graph.source, **(getattr(graph, "sources", None) or {})}
    for file, text in texts.items():
        if not isinstance(text, str):
            continue
        for i, line in enumerate(text.splitlines(), 1):
            m = _CLASSES_LINE.match(line)
            if m:
                end = len(line.split("#", 1)[0].rstrip()) + 1
                return Span(file, i, m.start(1) + 1, i, max(end, m.end(1) + 1), text)
    net_span = getattr(graph, "net_span", None)
    return net_span if isinstance(net_span, Span) else None


_CLASSES_LINE = re.compile(r"[ \t]*(classes)[ \t]*=(?!=)")


def default_root() -> Path:
    """The download/cache folder: $NETC_DATA, else ~/.cache/netc."""
    return Path(os.environ.get("NETC_DATA") or Path.home() / ".cache" / "netc")


def _memory_bytes() -> int | None:
    """This machine's physical memory, or None where it cannot be told."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _size(n: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


# ----------------------------------------------------------------------------- values


def _labels(values: object, where: str, file: str) -> np.ndarray:
    """(N,) int64 labels from an integer array or list, refusing floats, bools and values outside
    [0, 2**31) before any cast (a cast would show 2**63+5 as a negative number)."""
    if isinstance(values, np.ndarray):
        if values.dtype.kind not in "iu":  # "b" (bool) and "f" are refused: labels are class indices
            raise DataError(f"{where} must hold integer class labels, not {values.dtype}", file=file)
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim != 1:
            raise DataError(
                f"{where} must be a 1-D array of integer labels, one per image, not shape {values.shape}",
                file=file,
                hint="one-hot labels? store the class indices (labels.argmax(1))" if values.ndim == 2 else None,
            )
        if values.size:
            lo, hi = values.min(), values.max()
            if lo < 0 or hi >= LABEL_LIMIT:
                bad = int(lo) if lo < 0 else int(hi)
                raise DataError(
                    f"{where} holds the label {bad}; labels must be integers in [0, {LABEL_LIMIT})", file=file
                )
        return values.astype(np.int64)
    if isinstance(values, (list, tuple)):
        for v in values:
            if type(v) is not int:  # bool is an int subclass; True/False are not class labels
                raise DataError(
                    f"{where} must hold integer class labels, not {type(v).__name__} ({v!r:.40})", file=file
                )
        if values:
            lo, hi = min(values), max(values)
            if lo < 0 or hi >= LABEL_LIMIT:
                raise DataError(
                    f"{where} holds the label {lo if lo < 0 else hi}; labels must be integers in [0, {LABEL_LIMIT})",
                    file=file,
                )
        return np.array(values, dtype=np.int64).reshape(-1)
    raise DataError(f"{where} must be a list or array of integer labels, not {type(values).__name__}", file=file)


def _class_names(values: object, where: str, file: str) -> list[str]:
    """Class names from a list of str/bytes or a 1-D string array."""
    if isinstance(values, np.ndarray):
        if values.ndim != 1 or values.dtype.kind not in "US":
            raise DataError(
                f"{where} must be a 1-D array of class names (strings), not {values.dtype} {values.shape}", file=file
            )
        values = values.tolist()
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, (str, bytes)) for v in values):
        raise DataError(f"{where} must be a list of class names (strings)", file=file)
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in values]


def _images(x: np.ndarray, where: str, file: str, channels: int) -> np.ndarray:
    """(N, C, H, W) uint8 from uint8 images stored (N,H,W), (N,H,W,C) or (N,C,H,W)."""
    if x.dtype != np.uint8:
        hint = (
            "scale [0, 1] floats with (x * 255).round().astype(np.uint8)"
            if x.dtype.kind == "f"
            else "store the pixels as uint8 (0..255)"
        )
        raise DataError(f"{where} must be uint8 images (0..255), not {x.dtype}", file=file, hint=hint)
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4:
        last, second = x.shape[3], x.shape[1]
        # NHWC when the last axis is the channel axis: the net's channel count decides an ambiguous
        # shape such as (N, 4, 4, 3); otherwise a small last axis next to a large second one
        if (last == channels and second != channels) or (
            last in (1, 3, 4) and second not in (1, 3, 4) and second != channels
        ):
            x = x.transpose(0, 3, 1, 2)
    else:
        raise DataError(
            f"{where} must be images (N,H,W,C), (N,C,H,W) or (N,H,W), not a {x.ndim}-D array of shape {x.shape}",
            file=file,
            hint="reshape flat rows to (N,H,W,C)" if x.ndim == 2 else None,
        )
    if 0 in x.shape[1:]:
        raise DataError(f"{where} holds zero-size images (C,H,W = {x.shape[1:]})", file=file)
    return np.ascontiguousarray(x)


# ----------------------------------------------------------------------------- layouts


def _shape(s: tuple[int, ...]) -> str:
    return "x".join(map(str, s))


def _check(ds: Dataset) -> None:
    """Checks every layout shares: images in both sets, one image size, labels within the class names."""
    for name, y in (("training", ds.train_y), ("test", ds.test_y)):
        if len(y) == 0:
            raise DataError(f"'{ds.source}' has no {name} images", file=ds.source, hint=USAGE)
    if ds.train_x.shape[1:] != ds.test_x.shape[1:]:
        raise DataError(
            f"the training images are {_shape(ds.train_x.shape[1:])} but the test images are "
            f"{_shape(ds.test_x.shape[1:])} (channels x height x width); both need one size",
            file=ds.source,
        )
    top = int(max(ds.train_y.max(), ds.test_y.max()))
    if ds.classes and top >= len(ds.classes):
        raise DataError(
            f"the labels go up to {top} but the data names only {len(ds.classes)} classes "
            f"({', '.join(ds.classes[:10])}{', ...' if len(ds.classes) > 10 else ''}), "
            f"so labels must be 0..{len(ds.classes) - 1}",
            file=ds.source,
            hint="labels are 0-based indices into the class names",
        )
