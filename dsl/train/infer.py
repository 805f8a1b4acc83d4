"""A trained network applied to data: what `netc eval` and `netc predict` run.

    from dsl import load_run
    from dsl.train.infer import evaluate, predict, read_image

    trained = load_run("runs/tiny-20250101-120000")
    ev = evaluate(trained.model, ds.test_x, ds.test_y, trained.settings, trained.classes)
    ev.loss, ev.accuracy, ev.per_class(), ev.confusion       # confusion[true, predicted]
    x = read_image("cat.jpg", trained.graph.input_shape)     # (C, H, W) uint8
    probs = predict(trained.model, x[None], trained.settings)  # (1, classes) softmax

Preprocessing is the trainer's, without augmentation: uint8 pixels p become
(p - 255*mean) / (255*std) in float32 (`dsl.train.augment.prepare_images`, per channel), so
evaluating a run on its own test set gives the figures of the run's last epoch (exactly for a
run trained in fp32 on the CPU, with the same batch size).

`read_image` decodes one file with Pillow (any format it reads; EXIF orientation applied),
converts it to the network's channels (RGB for 3, L for 1; alpha dropped; 16-bit grey scaled to
8 bits), scales it, keeping the aspect ratio, so that it just covers the input (for a square
input: the shorter side becomes the input size; bilinear, antialiased), and cuts the centre
H x W out of it. Pillow's decompression-bomb limit (Image.MAX_IMAGE_PIXELS) is enforced.

Test-time augmentation (`tta`, 0, 1 or 2): the logits are averaged over views of each image exactly
as the trainer's test evaluation does (dsl.train.tta: 1 the image and its mirror, 2 also one-pixel
translations), so `netc eval` at the run's own level reproduces its test loss and accuracy.

Batches stream through the net: nothing larger than a batch of logits and the classes x classes
confusion matrix is kept. Problems the user can fix raise `NetError` subclasses naming the file.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from dsl.errors import DataError, NetError
from dsl.fileio import check_plot_path
from dsl.settings import TrainSettings
from dsl.train.tta import tta_logits

MAX_CONFUSION = 1000  # classes: beyond this no confusion matrix is kept (it would be 8 MB and more)
PRINT_CONFUSION = 20  # classes: beyond this the matrix is left to --json / --plot
_MODES = {1: "L", 3: "RGB"}


def printable(text: str) -> str:
    """`text` with control characters escaped: names from data files must not drive the terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


# ----------------------------------------------------------------------------- preprocessing


def normalise(x_uint8: torch.Tensor, settings: TrainSettings) -> torch.Tensor:
    """(N,C,H,W) uint8 -> float32 normalised with the run's mean/std, exactly as the trainer does."""
    from dsl.train.augment import prepare_images

    c = int(x_uint8.shape[1])
    mean = tuple(settings.mean) * (c if len(settings.mean) == 1 else 1)
    std = tuple(settings.std) * (c if len(settings.std) == 1 else 1)
    return prepare_images(x_uint8, mean, std, 0, torch.float32)


def image_input(input_shape: Sequence[int], name: str, file: str | None = None) -> tuple[int, int, int]:
    """(C, H, W) of a network that takes 1- or 3-channel images; NetError otherwise."""
    if len(input_shape) != 3 or int(input_shape[0]) not in _MODES:
        shape = "x".join(map(str, input_shape))
        raise NetError(
            f"'{name}' takes input {shape}; netc predict reads images for networks taking 1 or 3 channels (CxHxW)",
            file=file,
        )
    c, h, w = (int(v) for v in input_shape)
    return c, h, w


def cover_size(width: int, height: int, out_w: int, out_h: int) -> tuple[int, int]:
    """The size (w, h) an image is scaled to, keeping its aspect ratio, so that it just covers
    out_w x out_h: for a square output, the shorter side becomes the output size."""
    scale = max(out_w / width, out_h / height)
    return max(out_w, round(width * scale)), max(out_h, round(height * scale))


def read_image(path: str | os.PathLike[str], input_shape: Sequence[int]) -> np.ndarray:
    """One image file as the network's (C, H, W) uint8 input (see the module docstring);
    DataError naming the file for anything that is not a readable image."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    from dsl.data.paths import open_file

    c, h, w = image_input(input_shape, "the network")
    p = Path(path)
    what = f"'{p}'"
    try:
        with warnings.catch_warnings():
            # Pillow warns between its pixel limit and twice that, and raises beyond: both refused
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with open_file(p, "an image file") as f, Image.open(f) as im:
                # a palette image with a transparent colour converts cleanly through RGBA
                src = im.convert("RGBA") if im.mode == "P" and "transparency" in im.info else im
                img = ImageOps.exif_transpose(src) or src
                if img.mode == "I" or img.mode.startswith("I;16"):  # 16-bit grey: scaled, not clipped, to 8 bits
                    wide = np.asarray(img).astype(np.int64)
                    img = Image.fromarray(np.clip((wide + 128) // 257, 0, 255).astype(np.uint8), "L")
                img = img.convert(_MODES[c])
                if img.size != (w, h):
                    nw, nh = cover_size(img.width, img.height, w, h)
                    img = img.resize((nw, nh), Image.Resampling.BILINEAR)
                    left, top = (nw - w) // 2, (nh - h) // 2
                    img = img.crop((left, top, left + w, top + h))
                arr = np.asarray(img, dtype=np.uint8)
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise DataError(
            f"{what} was refused as a possible decompression bomb ({err})",
            file=str(p),
            hint="shrink the image first; netc reads images of up to Pillow's pixel limit "
            f"({Image.MAX_IMAGE_PIXELS:,} pixels)",
        ) from None
    except UnidentifiedImageError:
        raise DataError(f"{what} is not an image (not in any format Pillow reads)", file=str(p)) from None
    except MemoryError:
        raise DataError(f"{what} is too large to decode into memory", file=str(p)) from None
    except Exception as err:  # noqa: BLE001 - Pillow's decoders fail on damaged files in many ways
        kind = type(err).__name__
        raise DataError(f"{what} does not decode as an image ({kind}: {err})", file=str(p)) from None
    out = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return np.ascontiguousarray(out)


# ----------------------------------------------------------------------------- running the net


def _autocast(device: torch.device, precision: str) -> torch.autocast:
    from dsl.train.device import AMP_DTYPES

    dtype = AMP_DTYPES[precision]
    return torch.autocast(device_type=device.type, dtype=dtype or torch.float32, enabled=dtype is not None)


def _setup(model: torch.nn.Module, device: str | torch.device, precision: str) -> tuple[torch.device, str, bool]:
    from dsl.train.device import resolve_device, resolve_precision

    dev = resolve_device(device)
    prec = resolve_precision(precision, dev)
    channels_last = dev.type == "cuda"
    model.to(dev)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    model.eval()
    return dev, prec, channels_last


def _batch(x: np.ndarray, dev: torch.device, settings: TrainSettings, channels_last: bool) -> torch.Tensor:
    xb = normalise(torch.tensor(np.ascontiguousarray(x)).to(dev), settings)
    return xb.contiguous(memory_format=torch.channels_last) if channels_last else xb


@dataclass
class Evaluation:
    """A network's figures on a labelled test set."""

    classes: list[str]
    n: int  # images
    loss: float  # mean cross-entropy (with TTA: -log of the averaged probability of the true class)
    correct: int
    counts: np.ndarray  # (classes,) test images per true class
    hits: np.ndarray  # (classes,) of those, predicted right
    predicted: np.ndarray  # (classes,) images predicted as each class
    confusion: np.ndarray | None  # (classes, classes) int64, [true, predicted]; None beyond MAX_CONFUSION
    tta: int  # the test-time augmentation level (0: none)

    @property
    def accuracy(self) -> float:
        """Fraction of images predicted right."""
        return self.correct / self.n

    def per_class(self) -> list[dict[str, Any]]:
        """Per true class: index, name, images, right, accuracy (None for a class with no images), predicted."""
        return [
            {
                "index": i,
                "class": name,
                "count": int(self.counts[i]),
                "correct": int(self.hits[i]),
                "accuracy": float(self.hits[i] / self.counts[i]) if self.counts[i] else None,
                "predicted": int(self.predicted[i]),
            }
            for i, name in enumerate(self.classes)
        ]

    def to_json(self) -> dict[str, Any]:
        """The figures as a JSON object (what `netc eval --json` prints, less the run's identity)."""
        return {
            "n": self.n,
            "loss": self.loss if math.isfinite(self.loss) else None,
            "accuracy": self.accuracy,
            "correct": self.correct,
            "tta": self.tta,
            "classes": list(self.classes),
            "per_class": self.per_class(),
            "confusion": None if self.confusion is None else self.confusion.tolist(),
        }


@dataclass(frozen=True)
class EvalOptions:
    """How an evaluation runs: batches of `batch_size` (None: the run's eval_batch_size), on `device`,
    in `precision`, with test-time augmentation level `tta`."""

    batch_size: int | None = None
    device: str | torch.device = "cpu"
    precision: str = "fp32"
    tta: int = 0


def evaluate(
    model: torch.nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    settings: TrainSettings,
    classes: Sequence[str],
    options: EvalOptions = EvalOptions(),
) -> Evaluation:
    """Loss, accuracy, per-class counts and the confusion matrix of `model` (moved to `options.device`,
    eval mode) on uint8 (N,C,H,W) `images` with int labels (see `EvalOptions`). Accumulates as the
    trainer does: a float32 sum of per-batch summed losses."""
    batch_size, device, precision, tta = options.batch_size, options.device, options.precision, options.tta
    n_cls, n = len(classes), len(labels)
    if n == 0:
        raise DataError("there are no test images to evaluate on")
    bs = batch_size or settings.eval_batch_size
    dev, prec, cl = _setup(model, device, precision)
    keep_confusion = n_cls <= MAX_CONFUSION
    loss = torch.zeros((), device=dev)
    correct = torch.zeros((), dtype=torch.long, device=dev)
    counts = torch.zeros(n_cls, dtype=torch.long, device=dev)
    hits = torch.zeros(n_cls, dtype=torch.long, device=dev)
    predicted = torch.zeros(n_cls, dtype=torch.long, device=dev)
    confusion = torch.zeros(n_cls * n_cls if keep_confusion else 0, dtype=torch.long, device=dev)
    nonfinite = torch.zeros((), dtype=torch.long, device=dev)  # images whose logits hold NaN or inf
    with torch.no_grad():
        for j in range(0, n, bs):
            xb = _batch(images[j : j + bs], dev, settings, cl)
            yb = torch.tensor(np.ascontiguousarray(labels[j : j + bs], dtype=np.int64)).to(dev)
            out = tta_logits(lambda v: _forward(model, v, dev, prec), xb, tta)
            nonfinite += (~torch.isfinite(out).all(1)).sum()
            loss += F.cross_entropy(out.float(), yb, reduction="sum")
            pred = out.argmax(1)
            right = pred == yb
            correct += right.sum()
            counts += torch.bincount(yb, minlength=n_cls)
            hits += torch.bincount(yb[right], minlength=n_cls)
            predicted += torch.bincount(pred, minlength=n_cls)
            if keep_confusion:
                confusion += torch.bincount(yb * n_cls + pred, minlength=n_cls * n_cls)
    if nonfinite.item():
        raise NonFiniteOutput(
            f"the network's outputs are NaN or infinite for {nonfinite.item():,} of {n:,} test images", prec
        )
    return Evaluation(
        list(classes),
        n,
        loss.item() / n,
        int(correct.item()),
        counts.cpu().numpy(),
        hits.cpu().numpy(),
        predicted.cpu().numpy(),
        confusion.cpu().numpy().reshape(n_cls, n_cls) if keep_confusion else None,
        tta,
    )


class NonFiniteOutput(NetError):
    """The network's outputs hold NaN or infinite values: no probability or accuracy can be given."""

    def __init__(self, message: str, precision: str):
        hint = (
            "fp16 overflows easily: try --precision fp32"
            if precision == "fp16"
            else "the weights or the input drive the network out of range; check the run's metrics.csv for a divergence"
        )
        super().__init__(message, hint=hint)


def _forward(model: torch.nn.Module, x: torch.Tensor, dev: torch.device, prec: str) -> torch.Tensor:
    with _autocast(dev, prec):
        return model(x).float()


def predict(
    model: torch.nn.Module,
    images: np.ndarray,
    settings: TrainSettings,
    *,
    device: str | torch.device = "cpu",
    precision: str = "fp32",
    names: Sequence[str] | None = None,
) -> np.ndarray:
    """Softmax probabilities (N, classes) of `model` (moved to `device`) for uint8 (N,C,H,W) images
    (one batch: the caller chooses its size). NonFiniteOutput when an image's logits hold NaN or inf
    (named from `names` when given)."""
    dev, prec, cl = _setup(model, device, precision)
    with torch.no_grad(), _autocast(dev, prec):
        out = model(_batch(images, dev, settings, cl)).float()
    bad = (~torch.isfinite(out).all(1)).nonzero().flatten().tolist()
    if bad:
        first = printable(str(names[bad[0]])) if names is not None else f"image {bad[0]}"
        raise NonFiniteOutput(
            f"the network's outputs are NaN or infinite for {len(bad)} of {len(out)} images (e.g. {first})", prec
        )
    return F.softmax(out, 1).cpu().numpy()


def top_k(probs: np.ndarray, classes: Sequence[str], k: int) -> list[list[dict[str, Any]]]:
    """Per row of `probs`: the k most probable classes, most probable first (ties: lower index first)."""
    k = max(1, min(k, probs.shape[1]))
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return [
        [{"class": classes[i], "index": int(i), "probability": float(row[i])} for i in idx]
        for row, idx in zip(probs, order)
    ]


# ----------------------------------------------------------------------------- output


def evaluation_text(ev: Evaluation) -> str:
    """The per-class table and (up to PRINT_CONFUSION classes) the confusion matrix, as plain text."""
    lines = [
        f"test loss {ev.loss:.6f}, accuracy {ev.accuracy:.2%} ({ev.correct}/{ev.n})"
        + (f" with test-time augmentation (TTA level {ev.tta})" if ev.tta else ""),
        "",
    ]
    names = [printable(c) for c in ev.classes]
    nw = max(5, *(len(s) for s in names))
    iw = max(1, len(str(len(names) - 1)))
    cw = max(5, len(str(ev.n)))
    lines.append(f"{'#':>{iw}}  {'class':<{nw}}  {'count':>{cw}}  {'right':>{cw}}  accuracy")
    for row in ev.per_class():
        acc = "-" if row["accuracy"] is None else f"{row['accuracy']:.2%}"
        lines.append(
            f"{row['index']:>{iw}}  {names[row['index']]:<{nw}}  {row['count']:>{cw}}  {row['correct']:>{cw}}  {acc:>8}"
        )
    lines.append("")
    n_cls = len(ev.classes)
    if ev.confusion is None:
        lines.append(f"confusion matrix: not kept for {n_cls} classes (at most {MAX_CONFUSION})")
    elif n_cls > PRINT_CONFUSION:
        lines.append(f"confusion matrix: {n_cls}x{n_cls}, too large to print; see --json (confusion) or --plot OUT.png")
    else:
        lines.append("confusion matrix (rows: true class, columns: predicted class):")
        width = max(len(str(n_cls - 1)), len(str(int(ev.confusion.max(initial=0))))) + 1
        short = [s if len(s) <= 16 else s[:15] + "…" for s in names]
        lw = max(len(s) for s in short)
        lines.append(" " * (iw + 2 + lw) + "".join(f"{j:>{width}}" for j in range(n_cls)))
        for i, row in enumerate(ev.confusion):
            lines.append(f"{i:>{iw}}  {short[i]:<{lw}}" + "".join(f"{int(v):>{width}}" for v in row))
    return "\n".join(lines)


def _label(text: str, limit: int = 24) -> str:
    """`text` for matplotlib: shortened, control characters escaped, '$' literal (not mathtext)."""
    text = printable(text if len(text) <= limit else text[: limit - 1] + "…")
    return text.replace("$", r"\$")


def plot_confusion(ev: Evaluation, out: str | os.PathLike[str], title: str = "") -> Path:
    """The confusion matrix as an image (colour: fraction of the true class; counts written in the
    cells up to PRINT_CONFUSION classes), rendered with matplotlib's Agg and written atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from dsl.fileio import write_bytes

    p = check_plot_path(out)
    if ev.confusion is None:
        raise NetError(f"no confusion matrix to plot for {len(ev.classes)} classes (at most {MAX_CONFUSION})")
    conf = ev.confusion
    n = len(ev.classes)
    rows = conf.sum(axis=1, keepdims=True)
    frac = np.divide(conf, rows, out=np.zeros(conf.shape, dtype=np.float64), where=rows > 0)
    side = min(20.0, max(5.0, 0.45 * n + 2.5))
    fig = Figure(figsize=(side + 1.2, side), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    im = ax.imshow(frac, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    if n <= 60:
        labels = [_label(c) for c in ev.classes]
        ax.set_xticks(range(n), labels, rotation=90, fontsize=8)
        ax.set_yticks(range(n), labels, fontsize=8)
    if n <= PRINT_CONFUSION:
        for i in range(n):
            for j in range(n):
                if conf[i, j]:
                    colour = "white" if frac[i, j] > 0.5 else "black"
                    ax.text(j, i, str(int(conf[i, j])), ha="center", va="center", color=colour, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    head = f"accuracy {ev.accuracy:.2%} on {ev.n} images" + (f" (TTA level {ev.tta})" if ev.tta else "")
    ax.set_title(_label(title, 80) + "\n" + head if title else head, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=p.suffix.lower()[1:])
    write_bytes(p, buf.getvalue())
    return p
