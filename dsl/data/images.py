"""Decoding images (Pillow, in threads, decompression bombs refused) and image folders: listing one
(`list_imagefolder`, shared with the lazily read `folder.ImageFiles`) and decoding it whole."""

from __future__ import annotations

import functools
import io
import os
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dsl.data.dataset import _MODES, IMAGE_EXTS, USAGE, Dataset
from dsl.data.paths import _entries, _is_dir, _open_file
from dsl.errors import DataError


def _exc(err: BaseException) -> str:
    """'Type: message' for an exception from a parser, its module named when the type name says little."""
    kind = type(err).__name__
    return f"{type(err).__module__ + '.' if kind.islower() else ''}{kind}: {err}"


def _decode(blob: bytes | Path, mode: str, what: str, file: str) -> np.ndarray:
    """One image (bytes, or a regular file) decoded with Pillow into `mode`; `what` names it in messages."""
    return np.asarray(open_image(blob, mode, what, file))


def open_image(blob: bytes | Path, mode: str, what: str, file: str) -> Any:
    """One image (bytes, or a regular file) decoded with Pillow into `mode` (a loaded PIL image);
    anything that is not a decodable image raises DataError naming `file` (`what` in the message).
    Decompression bombs are refused when the caller turned Pillow's warning into an error."""
    from PIL import Image, UnidentifiedImageError

    try:
        with (
            _open_file(blob, "an image file") if isinstance(blob, Path) else io.BytesIO(blob) as f,
            Image.open(f) as im,
        ):
            out = im.convert(mode)
            out.load()
            return out
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise DataError(f"{what} was refused as a possible decompression bomb ({err})", file=file) from None
    except UnidentifiedImageError:
        raise DataError(
            f"{what} does not decode as an image (not in any image format Pillow reads)", file=file
        ) from None
    except MemoryError:
        raise DataError(f"{what} is too large to decode into memory", file=file) from None
    # Pillow's decoders fail on hostile bytes in many ways: all mean "not an image"
    except Exception as err:  # noqa: BLE001
        raise DataError(f"{what} does not decode as an image ({_exc(err)})", file=file) from None


def _decode_all(
    items: list[bytes] | list[Path], mode: str, name: Callable[[int], str], file: Callable[[int], str], prefix: str = ""
) -> np.ndarray:
    """Decode images in threads into one (N, C, H, W) array; messages say `prefix` + `name(i)` and
    name the file `file(i)`. Images of different sizes are refused."""
    from PIL import Image

    with warnings.catch_warnings():
        # Pillow only warns between its pixel limit and twice that; a data file that large is refused too
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        pool = ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1))
        try:
            images = list(pool.map(lambda i: _decode(items[i], mode, prefix + name(i), file(i)), range(len(items))))
        finally:  # on the first bad image, skip decoding the rest of a large set
            pool.shutdown(wait=True, cancel_futures=True)
    if not images:
        return np.zeros((0, len(mode), 1, 1), np.uint8)  # no images: the caller's checks say so
    first = images[0].shape
    for i, im in enumerate(images):
        if im.shape != first:
            raise DataError(
                f"{prefix}{name(i)} is {im.shape[1]}x{im.shape[0]} but {name(0)} is "
                f"{first[1]}x{first[0]}; all images must have one size",
                file=file(i),
            )
    x = np.stack(images)
    return np.ascontiguousarray(x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2))


def _test_split(root: Path) -> str:
    """The evaluation folder of an image folder: `test/`, else `val/`."""
    return "test" if _is_dir(root / "test") else "val"


@dataclass
class FolderList:
    """An image folder's files: per split (train, and test or val) the image paths and labels."""

    root: Path
    mode: str  # Pillow mode the images are converted to ("RGB" or "L")
    classes: list[str]
    test_split: str  # "test", or "val" when there is no test/
    files: dict[str, tuple[list[Path], np.ndarray]]  # "train" / "test" -> (paths, int64 labels)

    @property
    def notice(self) -> str:
        """The line saying the data is used as given."""
        return f"note: '{self.root}' is an image folder, not the official CIFAR-10 release; using it as given" + (
            "" if self.test_split == "test" else " (its val/ folder is the test set)"
        )


def image_mode(channels: int, root: Path) -> str:
    """Pillow's mode for a net of `channels` input channels (1: L, 3: RGB); others are refused."""
    mode = _MODES.get(channels)
    if mode is None:
        raise DataError(f"image folders can feed 1- or 3-channel nets, not {channels}", file=str(root))
    return mode


def list_imagefolder(root: Path, channels: int) -> FolderList:
    """ImageFolder's layout, listed (nothing decoded): `train/<class>/*` and `test/<class>/*` (or
    `val/<class>/*` when there is no test/); classes are the sorted folder names of train/."""
    mode = image_mode(channels, root)
    classes = [d.name for d in _entries(root / "train") if _is_dir(d)]
    if not classes:
        raise DataError(f"'{root / 'train'}' has no class folders", file=str(root / "train"), hint=USAGE)
    index = {c: i for i, c in enumerate(classes)}
    out: dict[str, tuple[list[Path], np.ndarray]] = {}
    test = _test_split(root)
    for split in ("train", test):
        files: list[Path] = []
        labels: list[int] = []
        for d in (p for p in _entries(root / split) if _is_dir(p)):
            if d.name not in index:
                raise DataError(
                    f"{split} class folder '{d}' has no training counterpart (train/ has {', '.join(classes)})",
                    file=str(d),
                )
            imgs = [p for p in _entries(d) if p.suffix.lower() in IMAGE_EXTS]
            if not imgs:
                raise DataError(
                    f"class folder '{d}' holds no images ({', '.join(sorted(IMAGE_EXTS))})",
                    file=str(d),
                    hint="add images or remove the empty folder",
                )
            files += imgs
            labels += [index[d.name]] * len(imgs)
        if not files:
            raise DataError(f"'{root / split}' holds no images", file=str(root / split), hint=USAGE)
        out["train" if split == "train" else "test"] = (files, np.asarray(labels, dtype=np.int64))
    return FolderList(root, mode, classes, test, out)


def _load_imagefolder(root: Path, channels: int) -> Dataset:
    """An image folder decoded whole: any image size (one for all), any number of classes."""
    return decode_folder(list_imagefolder(root, channels))


def decode_folder(listing: FolderList) -> Dataset:
    """Every image of a listed folder decoded into memory (one size for all, else DataError)."""
    out = {}
    for split, (files, labels) in listing.files.items():
        x = _decode_all(files, listing.mode, functools.partial(_quoted, files), functools.partial(_str_at, files))
        out[split] = (x, labels)
    return Dataset(
        *out["train"], *out["test"], listing.classes, str(listing.root), "imagefolder", False, listing.notice
    )


def _nth(what: str, i: int) -> str:
    return f"{what} {i}"


def _quoted(files: list[Path], i: int) -> str:
    return f"'{files[i]}'"


def _str_at(files: list[Path], i: int) -> str:
    return str(files[i])
