"""Images: decoding them (Pillow, in threads, decompression bombs refused), and image folders listed as an
`ImageFiles` (read image by image by `dsl.train.stream`: any sizes, any amount) or decoded into a `Dataset`."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from dsl.data.dataset import IMAGE_EXTS, MODES, USAGE, Dataset, check_classes, check_dataset
from dsl.data.paths import entries, exc_text, is_dir, open_file
from dsl.errors import DataError


@contextlib.contextmanager
def pillow_errors(what: str, file: str) -> Iterator[None]:
    """Turn whatever Pillow raises on a bad image into one DataError naming `file` (`what` in the message)."""
    from PIL import Image, UnidentifiedImageError

    try:
        yield
    except DataError:
        raise
    except Exception as err:  # noqa: BLE001  (Pillow fails on hostile bytes in many ways: all mean "not an image")
        if isinstance(err, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
            why = f"was refused as a possible decompression bomb ({err})"
        elif isinstance(err, UnidentifiedImageError):
            why = "does not decode as an image (not in any image format Pillow reads)"
        elif isinstance(err, MemoryError):
            why = "is too large to decode into memory"
        else:
            why = f"does not decode as an image ({exc_text(err)})"
        raise DataError(f"{what} {why}", file=file) from None


def open_image(blob: bytes | Path, mode: str, what: str, file: str) -> Any:
    """One image (bytes, or a regular file) decoded with Pillow into `mode`, a loaded PIL image."""
    from PIL import Image

    source = open_file(blob, "an image file") if isinstance(blob, Path) else io.BytesIO(blob)
    with pillow_errors(what, file), source as f, Image.open(f) as im:
        out = im.convert(mode)
        out.load()
        return out


@contextlib.contextmanager
def no_bombs() -> Iterator[None]:
    """Refuse decompression bombs: Pillow only warns between its pixel limit and twice that."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def _threads(work: Callable[[int], Any], n: int) -> list[Any]:
    """`work(i)` for i < n in threads, bombs refused; on the first error the rest of a large set is skipped."""
    with no_bombs():
        pool = ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1))
        try:
            return list(pool.map(work, range(n)))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def decode_all(
    items: list[bytes] | list[Path], mode: str, names: list[str], files: list[str], prefix: str = ""
) -> np.ndarray:
    """Decode images in threads into one (N, C, H, W) array, all of one size; messages say `prefix` + `names[i]`."""
    images = _threads(lambda i: np.asarray(open_image(items[i], mode, prefix + names[i], files[i])), len(items))
    for i, im in enumerate(images):
        if im.shape != images[0].shape:
            (h, w), (h0, w0) = im.shape[:2], images[0].shape[:2]
            sizes = f"{prefix}{names[i]} is {w}x{h} but {names[0]} is {w0}x{h0}"
            raise DataError(f"{sizes}; all images must have one size", file=files[i])
    if not images:
        return np.zeros((0, len(mode), 1, 1), np.uint8)  # no images: the caller's checks say so
    x = np.stack(images)
    return np.ascontiguousarray(x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2))


@dataclass
class ImageFiles:
    """An image folder listed, not decoded: per split the image paths and int64 labels, and the classes."""

    source: str  # the folder
    mode: str  # the Pillow mode images are decoded to ("RGB" or "L")
    classes: list[str]  # the sorted folder names of train/
    listed: dict[str, list[Path]]  # "train" / "test" (or val/) -> the image files
    notice: str  # the line saying the data is used as given
    channels: int  # of every decoded image: len(mode)
    num_classes: int  # len(classes)
    train_y: np.ndarray  # int64 labels
    test_y: np.ndarray

    layout = "imagefolder"
    official = False

    def files(self, split: str) -> list[Path]:
        """The image files of `split` ("train" or "test")."""
        return self.listed[split]

    def subset(self, split: str, keep: np.ndarray) -> None:
        """Keep only the images at indices `keep` (sorted) of `split` (`--limit`)."""
        self.listed[split] = [self.listed[split][i] for i in keep]
        if split == "train":
            self.train_y = self.train_y[keep]
        else:
            self.test_y = self.test_y[keep]

    def read(self, split: str, i: int) -> Any:
        """Image `i` of `split`, decoded into `mode` (a PIL image); DataError naming the file for anything else."""
        path = self.files(split)[i]
        with no_bombs():
            return open_image(path, self.mode, f"'{path}'", str(path))

    def sizes(self, limit: int | None = None) -> set[tuple[int, int]] | None:
        """The (width, height) of every image, from the headers only; None when there are over `limit` images."""
        from PIL import Image

        paths = self.files("train") + self.files("test")

        def size(i: int) -> tuple[int, int]:
            shown = str(paths[i])
            with pillow_errors(f"'{shown}'", shown), open_file(paths[i], "an image file") as f, Image.open(f) as im:
                return (int(im.size[0]), int(im.size[1]))

        return None if limit is not None and len(paths) > limit else set(_threads(size, len(paths)))

    def decode(self) -> Dataset:
        """Every image decoded into memory (the device-resident path; one size for all, else DataError)."""
        x = {}
        for split, files in self.listed.items():
            shown = [str(p) for p in files]
            x[split] = decode_all(files, self.mode, [f"'{p}'" for p in shown], shown)
        tr, te = (x["train"], self.train_y), (x["test"], self.test_y)
        ds = Dataset(*tr, *te, self.classes, self.source, "imagefolder", False, self.notice)
        check_dataset(ds)
        return ds

    def describe(self) -> str:
        """One line: counts, channels, classes, layout and source."""
        counts = f"{len(self.train_y)} train / {len(self.test_y)} test images, {self.channels} channel(s)"
        return f"{counts}, read as needed, {self.num_classes} classes ({self.layout}: {self.source})"

    def digest(self) -> str:
        """A SHA-256 of each file's path in the folder, size and label, per split (no image is read)."""
        h = hashlib.sha256()
        for split, labels in (("train", self.train_y), ("test", self.test_y)):
            files = self.listed[split]
            h.update(f"{split}:{len(files)}\n".encode())
            for path, label in zip(files, labels.tolist()):
                try:
                    size = path.stat().st_size
                except OSError:
                    size = -1
                h.update(f"{path.relative_to(self.source).as_posix()}\0{size}\0{label}\n".encode("utf-8", "replace"))
        return h.hexdigest()[:32]

    def check_fits(self, graph: Any) -> None:
        """Refuse a class count the network cannot take (image sizes are the transforms' business)."""
        check_classes(self.num_classes, self.source, graph)

    def copy(self) -> ImageFiles:
        """A copy whose subsets can change independently."""
        return replace(self, listed=dict(self.listed))


def list_imagefolder(root: Path, channels: int) -> ImageFiles:
    """ImageFolder's layout, listed: `train/<class>/*` and `test/<class>/*` (or `val/<class>/*`)."""
    mode = MODES.get(channels)
    if mode is None:
        raise DataError(f"image folders can feed 1- or 3-channel nets, not {channels}", file=str(root))
    classes = [d.name for d in entries(root / "train") if is_dir(d)]
    if not classes:
        raise DataError(f"'{root / 'train'}' has no class folders", file=str(root / "train"), hint=USAGE)
    index = {c: i for i, c in enumerate(classes)}
    out: dict[str, list[Path]] = {}
    ys: dict[str, np.ndarray] = {}
    test = "test" if is_dir(root / "test") else "val"
    for split in ("train", test):
        files, labels = [], []
        for d in (p for p in entries(root / split) if is_dir(p)):
            if d.name not in index:
                has = f"has no training counterpart (train/ has {', '.join(classes)})"
                raise DataError(f"{split} class folder '{d}' {has}", file=str(d))
            files += (imgs := [p for p in entries(d) if p.suffix.lower() in IMAGE_EXTS])
            labels += [index[d.name]] * len(imgs)
            if not imgs:
                exts = ", ".join(sorted(IMAGE_EXTS))
                hint = "add images or remove the empty folder"
                raise DataError(f"class folder '{d}' holds no images ({exts})", file=str(d), hint=hint)
        if not files:
            raise DataError(f"'{root / split}' holds no images", file=str(root / split), hint=USAGE)
        out[split], ys[split] = files, np.asarray(labels, dtype=np.int64)
    val = "" if test == "test" else " (its val/ folder is the test set)"
    note = f"note: '{root}' is an image folder, not the official CIFAR-10 release; using it as given{val}"
    listed = {"train": out["train"], "test": out[test]}
    return ImageFiles(str(root), mode, classes, listed, note, len(mode), len(classes), ys["train"], ys[test])
