"""An image folder read lazily: `ImageFiles` lists the files and decodes an image only when a batch
needs it (the streamed data path, `dsl.train.stream`), so the images may have any sizes and the
folder need not fit in memory."""

from __future__ import annotations

import hashlib
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from dsl.data.dataset import Dataset, _check, check_classes
from dsl.data.images import FolderList, _exc, decode_folder, open_image
from dsl.data.paths import _open_file
from dsl.errors import DataError


@dataclass
class ImageFiles:
    """An image folder listed, not decoded: paths and int64 labels per split, the class names."""

    listing: FolderList
    notice: str | None = None

    layout = "imagefolder"
    official = False

    @property
    def source(self) -> str:
        """Where it came from."""
        return str(self.listing.root)

    @property
    def classes(self) -> list[str]:
        """The class names (the sorted folder names of train/)."""
        return self.listing.classes

    @property
    def mode(self) -> str:
        """The Pillow mode images are decoded to ("RGB" or "L")."""
        return self.listing.mode

    @property
    def channels(self) -> int:
        """Channels of every decoded image."""
        return len(self.listing.mode)

    @property
    def num_classes(self) -> int:
        """The number of classes."""
        return len(self.listing.classes)

    def files(self, split: str) -> list[Path]:
        """The image files of `split` ("train" or "test")."""
        return self.listing.files[split][0]

    @property
    def train_y(self) -> np.ndarray:
        """Training labels."""
        return self.listing.files["train"][1]

    @property
    def test_y(self) -> np.ndarray:
        """Test labels."""
        return self.listing.files["test"][1]

    def subset(self, split: str, keep: np.ndarray) -> None:
        """Keep only the images at indices `keep` (sorted) of `split` (`--limit`)."""
        files, labels = self.listing.files[split]
        self.listing.files[split] = ([files[i] for i in keep], labels[keep])

    def read(self, split: str, i: int) -> Any:
        """Image `i` of `split`, decoded into `mode` (a PIL image); DataError naming the file if it is not
        a decodable image (decompression bombs included)."""
        from PIL import Image

        path = self.files(split)[i]
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return open_image(path, self.mode, f"'{path}'", str(path))

    def sizes(self, limit: int | None = None) -> set[tuple[int, int]] | None:
        """The (width, height) sizes of every image, read from the headers only (in threads); None when
        there are more than `limit` images. An unreadable header raises DataError naming the file."""
        paths = self.files("train") + self.files("test")
        if limit is not None and len(paths) > limit:
            return None
        from PIL import Image

        with warnings.catch_warnings():
            # Pillow only warns between its pixel limit and twice that; such an image is refused too
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            pool = ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1))
            try:
                return set(pool.map(_header_size, paths))
            finally:
                pool.shutdown(wait=True, cancel_futures=True)

    def decode(self) -> Dataset:
        """Every image decoded into memory (the device-resident path; one size for all, else DataError)."""
        ds = decode_folder(self.listing)
        _check(ds)
        return ds

    def describe(self) -> str:
        """One line: counts, channels, classes, layout and source."""
        return (
            f"{len(self.train_y)} train / {len(self.test_y)} test images, {self.channels} channel(s), read "
            f"as needed, {self.num_classes} classes ({self.layout}: {self.source})"
        )

    def digest(self) -> str:
        """A SHA-256 of what identifies the folder without reading every image: per split, each file's
        path relative to the folder, its size in bytes and its label."""
        h = hashlib.sha256()
        root = self.listing.root
        for split in ("train", "test"):
            files, labels = self.listing.files[split]
            h.update(f"{split}:{len(files)}\n".encode())
            for path, label in zip(files, labels.tolist()):
                try:
                    size = path.stat().st_size
                except OSError:
                    size = -1
                h.update(f"{path.relative_to(root).as_posix()}\0{size}\0{label}\n".encode("utf-8", "replace"))
        return h.hexdigest()[:32]

    def check_fits(self, graph: Any) -> None:
        """Refuse a class count the network cannot take (image sizes are the transforms' business)."""
        check_classes(self.num_classes, self.source, graph)

    def copy(self) -> ImageFiles:
        """A copy whose subsets can change independently."""
        return ImageFiles(replace(self.listing, files=dict(self.listing.files)), self.notice)


def _header_size(path: Path) -> tuple[int, int]:
    """(width, height) from an image file's header; DataError naming the file for anything else."""
    from PIL import Image, UnidentifiedImageError

    try:
        with _open_file(path, "an image file") as f, Image.open(f) as im:
            return (int(im.size[0]), int(im.size[1]))
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise DataError(f"'{path}' was refused as a possible decompression bomb ({err})", file=str(path)) from None
    except UnidentifiedImageError:
        raise DataError(
            f"'{path}' does not decode as an image (not in any image format Pillow reads)", file=str(path)
        ) from None
    # Pillow's parsers fail on hostile bytes in many ways: all mean "not an image"
    except Exception as err:  # noqa: BLE001
        raise DataError(f"'{path}' does not decode as an image ({_exc(err)})", file=str(path)) from None
