"""Per-image augmentation for the streamed path, drawn from a generator of the image's own.

Each image's random draws come from `sample_rng(seed, epoch, index)`, so a batch is the same
whichever worker process makes it and however many there are, and a resumed run redraws them.
Images arrive as uint8 numpy arrays (H, W, C) or PIL images and leave as uint8 (C, H, W) arrays;
normalisation and the cutout square (zeroed after normalisation, as on the device path) happen on
the device, so the worker returns where the square goes.

* `article` (pad-crop, flip, cutout; images of the network's size): reflect padding by `pad`, a crop
  at offsets 0..2*pad, a flip, a cutout square fully inside the image; the draws per image in
  that order: crop row, crop column, flip, cutout row, cutout column.
* `imagenet`: torchvision's RandomResizedCrop(size, scale, ratio) (10 tries, then the centre crop
  of the largest allowed aspect ratio), resized with bilinear filtering (PIL, antialiased), then a flip.
* `evaluate` (imagenet): resize the shorter side to round(max(size) / eval_crop) (bilinear), then the
  centre crop of `size`, as torchvision's Resize + CenterCrop do on PIL images.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

_STREAM = 0x73747265616D  # "stream": keeps these draws apart from every other use of the seed


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of training image `index` in epoch `epoch` of the run with `seed`."""
    return np.random.default_rng([seed % (1 << 63), epoch, index, _STREAM])


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order of the `n` training images in epoch `epoch`: a permutation, a function of (seed, epoch)."""
    return np.random.default_rng([seed % (1 << 63), epoch, _STREAM, 1]).permutation(n)


def to_hwc(image: Any) -> np.ndarray:
    """A PIL image or an (H, W[, C]) array as an (H, W, C) uint8 array."""
    a = np.asarray(image)
    return a[:, :, None] if a.ndim == 2 else a


def article(
    image: np.ndarray, pad: int, flip: bool | None, cutout: int, rng: np.random.Generator
) -> tuple[np.ndarray, tuple[int, int]]:
    """The article's augmentation of one (H, W, C) image: (the (C, H, W) crop, the cutout square's
    top-left corner, (-1, -1) without cutout). `flip`: None draws a flip (p = 0.5), a bool says."""
    h, w = image.shape[:2]
    oy, ox = (int(rng.integers(0, 2 * pad + 1)), int(rng.integers(0, 2 * pad + 1))) if pad else (0, 0)
    if flip is None:
        flip = bool(rng.random() < 0.5)
    box = (int(rng.integers(0, h - cutout + 1)), int(rng.integers(0, w - cutout + 1))) if cutout else (-1, -1)
    if pad:
        image = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")[oy : oy + h, ox : ox + w]
    if flip:
        image = image[:, ::-1]
    return np.ascontiguousarray(image.transpose(2, 0, 1)), box


def resized_crop_box(
    width: int,
    height: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    rng: np.random.Generator,
) -> tuple[int, int, int, int]:
    """RandomResizedCrop's crop (top, left, height, width) of a width x height image, as torchvision
    draws it (area share in `scale`, log-uniform aspect ratio in `ratio`, 10 tries, then a centre crop)."""
    area = width * height
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        target = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(log_lo, log_hi))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def imagenet(
    image: Any,
    size: tuple[int, int],
    scale: tuple[float, float],
    ratio: tuple[float, float],
    flip: bool | None,
    rng: np.random.Generator,
) -> np.ndarray:
    """RandomResizedCrop to `size` (height, width) and a horizontal flip of one PIL image: (C, H, W) uint8.
    `flip`: None draws it (p = 0.5), a bool says."""
    from PIL import Image

    top, left, h, w = resized_crop_box(image.width, image.height, scale, ratio, rng)
    out = image.crop((left, top, left + w, top + h)).resize((size[1], size[0]), Image.Resampling.BILINEAR)
    if flip is None:
        flip = bool(rng.random() < 0.5)
    if flip:
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return np.ascontiguousarray(to_hwc(out).transpose(2, 0, 1))


def evaluate(image: Any, size: tuple[int, int], eval_crop: float) -> np.ndarray:
    """Resize (shorter side to round(max(size) / eval_crop), bilinear) and centre crop to `size` of one
    PIL image: (C, H, W) uint8, as torchvision's Resize + CenterCrop make it."""
    from PIL import Image

    side = int(round(max(size) / eval_crop))
    w, h = image.width, image.height
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = side, int(side * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    if (new_w, new_h) != (w, h):
        image = image.resize((new_w, new_h), Image.Resampling.BILINEAR)
    th, tw = size
    top, left = int(round((new_h - th) / 2.0)), int(round((new_w - tw) / 2.0))
    out = image.crop((left, top, left + tw, top + th))
    return np.ascontiguousarray(to_hwc(out).transpose(2, 0, 1))
