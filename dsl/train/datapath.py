"""Which data path a run takes, and the data prepared for it.

* `device` (the article's): the whole dataset decoded, normalised and padded once on the training
  device (`devicedata.DeviceData`); an epoch's augmentation is one gather there.
* `stream`: batches decoded and augmented per image by DataLoader workers (`stream.StreamData`).

`data_path = auto` takes the device path when the data has one image size and its device copy (the
training set padded, the test set, in the input dtype) fits in MEMORY_SHARE of the device's free
memory (the GPU's, or the machine's available RAM on a CPU), and `augment = article`; the streamed
path otherwise (an image folder of mixed sizes, data too large, `augment = imagenet`). The choice is
made once, said in one line and recorded in the run folder; a resumed run takes the same path.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import torch

from dsl.data import Dataset, ImageFiles
from dsl.errors import DataError, NetError, Span
from dsl.settings import TrainSettings
from dsl.train.device import AMP_DTYPES, resolve_precision
from dsl.train.devicedata import DeviceData, prepare_data
from dsl.train.stream import StreamData

MEMORY_SHARE = 0.5  # of the device's free memory the device-resident copy may take


@dataclass(frozen=True)
class Choice:
    """The data path of a run and why."""

    path: str  # "device" or "stream"
    why: str

    def line(self) -> str:
        """The line netc train prints."""
        name = "device-resident" if self.path == "device" else "streamed"
        return f"data path: {name} ({self.why})"


def free_memory(device: torch.device) -> int | None:
    """Bytes free on the device (the GPU's, or the machine's available RAM), None if unknown."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def device_bytes(n_train: int, n_test: int, shape: tuple[int, int, int], pad: int, itemsize: int) -> int:
    """Bytes of the device-resident copy: the training set padded, the test set, in the input dtype."""
    c, h, w = shape
    return (n_train * c * (h + 2 * pad) * (w + 2 * pad) + n_test * c * h * w) * itemsize


def choose(
    ds: Dataset | ImageFiles, s: TrainSettings, device: torch.device, precision: str, size: tuple[int, int]
) -> Choice:
    """The path for `ds` under settings `s` on `device` (see the module docstring); `size` is the
    (height, width) the network takes."""
    if s.data_path != "auto":
        return Choice(s.data_path, f"data_path = {s.data_path}")
    if s.augment == "imagenet":
        return Choice("stream", "augment = imagenet crops each image")
    itemsize = torch.empty((), dtype=AMP_DTYPES[resolve_precision(precision, device)] or torch.float32).itemsize
    n_train, n_test = len(ds.train_y), len(ds.test_y)
    free = free_memory(device)
    budget = None if free is None else int(free * MEMORY_SHARE)
    if isinstance(ds, ImageFiles):
        c = ds.channels
        per_image = device_bytes(1, 1, (c, *size), s.pad, itemsize) // 2
        limit = None if budget is None else budget // max(per_image, 1)
        sizes = ds.sizes(limit)  # headers only, and only when that many images could fit
        if sizes is None:
            where = "GPU" if device.type == "cuda" else "RAM"
            return Choice(
                "stream", f"its device copy of {n_train + n_test:,} images would exceed half the free {where}"
            )
        if len(sizes) > 1:
            if s.augment == "article":
                # the article's crops need one size: decoding says which image differs, before the run starts
                return Choice("device", "augment = article needs images of one size")
            return Choice("stream", f"the images have {len(sizes)} different sizes")
        ((w, h),) = sizes
        shape = (c, h, w)
    else:
        shape = ds.image_shape
    need = device_bytes(n_train, n_test, shape, s.pad, itemsize)
    where = "GPU" if device.type == "cuda" else "RAM"
    if budget is not None and need > budget:
        return Choice("stream", f"its device copy, {need / 2**30:.1f} GiB, exceeds half the free {where}")
    return Choice("device", f"{need / 2**20:.0f} MiB on the {device.type}, one size of images")


def check_fit(ds: Dataset | ImageFiles, graph: Any, s: TrainSettings) -> tuple[int, int]:
    """Refuse data, settings and a network that do not fit together, before anything is allocated;
    the (height, width) the network is fed. `resolution` must be the network's input size (the error
    points at its `input` line); `augment = article` needs images of that size (arrays are checked
    here, files as they are read); the channels and class counts must fit the network."""
    c, h, w = (int(v) for v in graph.input_shape)
    if s.resolution and (s.resolution, s.resolution) != (h, w):
        raise NetError(
            f"setting resolution = {s.resolution} but '{graph.name}' takes {h}x{w} images (its input is {c}x{h}x{w})",
            _input_span(graph),
            file=graph.file,
            hint=f"change the input line to input {c}x{s.resolution}x{s.resolution}, or leave resolution out",
        )
    if isinstance(ds, ImageFiles):
        ds.check_fits(graph)  # the classes; the channels are what the files are decoded to
    elif s.augment == "article":
        ds.check_fits(graph)  # the image shape and the classes
    else:
        if ds.image_shape[0] != c:
            raise DataError(
                f"the images have {ds.image_shape[0]} channel(s) but '{graph.name}' takes {c}",
                file=ds.source,
                hint="change the file's 'input' line or pass other --data",
            )
        from dsl.data.dataset import check_classes

        check_classes(ds.num_classes, ds.source, graph)
    shape = ds.image_shape if isinstance(ds, Dataset) and s.augment == "article" else (c, h, w)
    s.check_data(shape, ds.source, len(ds.train_y))
    return h, w


def precheck(data: str | None, graph: Any, s: TrainSettings) -> None:
    """Refuse, before any data is read or downloaded, a dataset known by name (or the default
    CIFAR-10) whose image size or class count the network cannot take (a zoo net made for
    224x224 ImageNet on CIFAR-10, say); other data is checked once read (`check_fit`)."""
    from dsl.data.named import NAMED, named

    n = named(data) if data is not None else NAMED[0]
    if n is None:
        return
    c, h, w = (int(v) for v in n.shape.split("x"))
    gc, gh, gw = (int(v) for v in graph.input_shape) if len(graph.input_shape) == 3 else (0, 0, 0)
    declared = getattr(graph, "classes", None)
    size_ok = s.augment != "article" or (gh, gw) == (h, w)
    classes_ok = (declared is None or declared == n.classes) and n.classes <= graph.num_classes
    if size_ok and classes_ok and gc == c:
        return
    shape = "x".join(map(str, graph.input_shape))
    problems = []
    if gc != c or not size_ok:
        problems.append(f"its images are {n.shape}, the network takes input {shape}")
    if not classes_ok:
        outputs = declared if declared is not None else graph.num_classes
        problems.append(f"it has {n.classes} classes, the network {outputs}")
    raise DataError(
        f"'{graph.name}' cannot train on {n.title}: " + "; ".join(problems) + " (checked before reading the data)",
        file=graph.file,
        hint=f"train the same network for it with --input {n.shape} --classes {n.classes}, or pass other --data",
    )


def settle(ds: Dataset | ImageFiles, path: str) -> Dataset | ImageFiles:
    """The data as `path` reads it: an image folder taking the device path is decoded whole (one size
    for all, else DataError) and identified by its pixels, as before the streamed path existed."""
    return ds.decode() if path == "device" and isinstance(ds, ImageFiles) else ds


_INPUT_LINE = re.compile(r"[ \t]*(input)\b")


def _input_span(graph: Any) -> Span | None:
    """Where the network's file says `input C x H x W`: its first such line, else the network's span."""
    texts = {graph.file: getattr(graph, "source", None), **(getattr(graph, "sources", None) or {})}
    for file, text in texts.items():
        if not isinstance(text, str):
            continue
        for i, line in enumerate(text.splitlines(), 1):
            m = _INPUT_LINE.match(line)
            if m:
                end = len(line.split("#", 1)[0].rstrip()) + 1
                return Span(file, i, m.start(1) + 1, i, max(end, m.end(1) + 1), text)
    span = getattr(graph, "net_span", None)
    return span if isinstance(span, Span) else None


def prepare(
    ds: Dataset | ImageFiles,
    s: TrainSettings,
    path: str,
    device: torch.device,
    precision: str,
    size: tuple[int, int],
    workers: int | None = None,
) -> DeviceData | StreamData:
    """The data ready for `path` (`settle`d): on the device, or behind a DataLoader of `workers` processes."""
    if path == "device":
        if not isinstance(ds, Dataset):
            raise TypeError("the device-resident path needs decoded data: settle() it first")
        return prepare_data(ds, s, device, precision)
    return StreamData(ds, s, size, device, precision, workers)


class Feed:
    """The data of one process's runs, ready for the trainer: checked against each network, the path
    chosen (or kept), and the prepared copy (on the device, or behind a DataLoader) kept while the
    runs agree on it. `netc train` and `netc search` both feed the trainer through it."""

    def __init__(
        self, ds: Dataset | ImageFiles, device: torch.device, precision: str, workers: int | None = None
    ) -> None:
        self.ds, self.device, self.precision, self.workers = ds, device, precision, workers
        self._ready: tuple[str, tuple[int, int], DeviceData | StreamData] | None = None

    def choice(self, graph: Any, s: TrainSettings) -> tuple[Choice, tuple[int, int]]:
        """Check the data against `graph` and `s`; the path the runs take (settling the data for it)
        and the (height, width) the network is fed."""
        size = check_fit(self.ds, graph, s)
        chosen = choose(self.ds, s, self.device, self.precision, size)
        self.ds = settle(self.ds, chosen.path)
        if isinstance(self.ds, Dataset):
            check_fit(self.ds, graph, s)  # a decoded folder: its image size too
        return chosen, size

    def data(self, s: TrainSettings, path: str, size: tuple[int, int]) -> DeviceData | StreamData:
        """The data prepared for runs of `s` on `path` (the copy made for the last runs, when it fits)."""
        if self._ready is not None:
            kept_path, kept_size, kept = self._ready
            if (kept_path, kept_size) == (path, size) and kept.matches(s):
                return kept
            self.close()  # free the old copy first
        prepared = prepare(self.ds, s, path, self.device, self.precision, size, self.workers)
        self._ready = (path, size, prepared)
        return prepared

    def close(self) -> None:
        """Stop the streamed path's worker processes, drop the prepared copy."""
        if self._ready is not None:
            close = getattr(self._ready[2], "close", None)
            self._ready = None
            if close is not None:
                close()
