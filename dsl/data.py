"""Training data for `netc train`: one function, `load_dataset`, three on-disk layouts.

    ds = load_dataset(None)                  # CIFAR-10, downloaded once into $NETC_DATA or ~/.cache/netc
    ds = load_dataset("path/to/DIR_or.npz")  # torchvision pickles, image folders, or an .npz

`Dataset` holds uint8 NCHW numpy arrays and int64 labels; nothing here imports torch
(only the download path uses torchvision's downloader). Layouts accepted by `--data`:

* torchvision's CIFAR layout: `cifar-10-batches-py/` (or a folder holding it) with
  `data_batch_1..5`, `test_batch` and optionally `batches.meta`. The pickles are read with
  `SafeUnpickler`, which builds only plain containers, numbers, strings, bytes and numeric
  numpy arrays: a data file can never run code.
* an image folder: `train/<class>/*.png|jpg|...` and `test/<class>/...` (ImageFolder's layout;
  classes are the sorted folder names of `train/`).
* an `.npz` (or a folder holding exactly one) with `train_x`, `train_y`, `test_x`, `test_y`;
  images uint8, NHWC or NCHW; or with encoded images `{split}_jpeg` + `{split}_offsets` +
  `{split}_y` (the layout of `shared/data/cifar10_jpeg.npz`, the JPEG copy), decoded on load.

Anything but the official CIFAR-10 pickles is accepted with a one-line notice (`Dataset.notice`).
Every problem with the data raises `DataError` naming the file.
"""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DataError

CIFAR_DIR = "cifar-10-batches-py"
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR_TGZ_MD5 = "c58f30108f718f92721af3b95e74349a"
# md5 of the official files (the same table torchvision checks)
CIFAR_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".gif", ".webp", ".tif", ".tiff"}
USAGE = ("pass --data pointing at a CIFAR-10 copy: a cifar-10-batches-py/ folder, an image folder "
         "(train/<class>/*.png, test/<class>/...) or an .npz with train_x, train_y, test_x, test_y")


@dataclass
class Dataset:
    train_x: np.ndarray          # (N, C, H, W) uint8
    train_y: np.ndarray          # (N,) int64
    test_x: np.ndarray           # (M, C, H, W) uint8
    test_y: np.ndarray           # (M,) int64
    classes: list[str] = field(default_factory=list)
    source: str = ""             # where it came from (a path)
    layout: str = ""             # "cifar-pickle", "imagefolder" or "npz"
    official: bool = False       # the official CIFAR-10 files, checksums verified
    notice: str | None = None    # one line for the user when not official

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(v) for v in self.train_x.shape[1:])

    def describe(self) -> str:
        c, h, w = self.image_shape
        return (f"{len(self.train_y)} train / {len(self.test_y)} test images, {c}x{h}x{w}, "
                f"{self.num_classes} classes ({self.layout}: {self.source})")

    @property
    def num_classes(self) -> int:
        top = int(max(self.train_y.max(initial=-1), self.test_y.max(initial=-1))) + 1
        return max(len(self.classes), top)

    def check_fits(self, graph) -> None:
        """Refuse data a network cannot take: other image shape, more classes than outputs."""
        fmt = "x".join
        if tuple(self.image_shape) != tuple(graph.input_shape):
            raise DataError(f"the images are {fmt(map(str, self.image_shape))} but '{graph.name}' takes input "
                            f"{fmt(map(str, graph.input_shape))}", file=self.source,
                            hint="change the file's 'input' line or pass other --data")
        if self.num_classes > graph.num_classes:
            raise DataError(f"the data has {self.num_classes} classes but '{graph.name}' has "
                            f"{graph.num_classes} outputs", file=self.source,
                            hint=f"end the net with a linear({self.num_classes})")


def default_root() -> Path:
    return Path(os.environ.get("NETC_DATA") or Path.home() / ".cache" / "netc")


def load_dataset(data: str | os.PathLike | None = None, *, limit: int | None = None,
                 limit_test: int | None = None, channels: int = 3, download: bool = True) -> Dataset:
    """Load a dataset (see the module docstring); `limit`/`limit_test` keep N images, a fixed
    random subset in the original order (some copies are sorted by class, so the first N would not do)."""
    ds = _download_cifar(download) if data is None else _load_path(Path(data), channels)
    _check(ds)
    if limit is not None:
        ds.train_x, ds.train_y = _subset(ds.train_x, ds.train_y, limit)
    if limit_test is not None:
        ds.test_x, ds.test_y = _subset(ds.test_x, ds.test_y, limit_test)
    if len(ds.train_y) == 0 or len(ds.test_y) == 0:
        raise DataError(f"no {'training' if len(ds.train_y) == 0 else 'test'} images left "
                        f"(--limit/--limit-test must be at least 1)", file=ds.source)
    return ds


def _subset(x: np.ndarray, y: np.ndarray, n: int):
    if n >= len(y):
        return x, y
    keep = np.sort(np.random.default_rng(0).permutation(len(y))[:max(n, 0)])
    return x[keep], y[keep]


# ----------------------------------------------------------------------------- layouts
def _load_path(path: Path, channels: int) -> Dataset:
    if not path.exists():
        raise DataError(f"data path '{path}' does not exist", file=str(path), hint=USAGE)
    if path.is_file():
        if path.suffix == ".npz":
            return _load_npz(path)
        raise DataError(f"'{path}' is not a data folder or an .npz file", file=str(path), hint=USAGE)
    if (path / "data_batch_1").exists() or (path / "test_batch").exists():
        return _load_cifar_pickles(path)
    if (path / CIFAR_DIR).is_dir():
        return _load_cifar_pickles(path / CIFAR_DIR)
    if (path / "train").is_dir() and (path / "test").is_dir():
        return _load_imagefolder(path, channels)
    npz = sorted(path.glob("*.npz"))
    if len(npz) == 1:
        return _load_npz(npz[0])
    if len(npz) > 1:
        raise DataError(f"'{path}' holds several .npz files ({', '.join(p.name for p in npz)}); "
                        "pass the one to use", file=str(path))
    raise DataError(f"'{path}' holds no data in a layout netc reads", file=str(path), hint=USAGE)


class SafeUnpickler(pickle.Unpickler):
    """Builds plain containers, numbers, strings, bytes and numeric numpy arrays; nothing else.

    Any other global a pickle names (a function to call, a class to build) is refused, so a
    data file cannot run code."""

    def find_class(self, module, name):
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name == "_reconstruct":
            return _reconstruct
        if module in ("numpy.core.numeric", "numpy._core.numeric") and name == "_frombuffer":
            return _frombuffer
        if module == "numpy" and name == "ndarray":
            return np.ndarray
        if module == "numpy" and name == "dtype":
            return _plain_dtype
        if module == "_codecs" and name == "encode":  # how protocol 2 spells a bytes object
            return _latin1_bytes
        raise pickle.UnpicklingError(f"refused to load '{module}.{name}': data files may hold only "
                                     "plain values and numeric arrays")


def _reconstruct(cls, shape, dtype):
    if cls is not np.ndarray:
        raise pickle.UnpicklingError("refused an array subclass")
    return np.ndarray.__new__(np.ndarray, shape, _plain_dtype(dtype))


def _frombuffer(buf, dtype, shape, order):
    return np.frombuffer(buf, dtype=_plain_dtype(dtype)).reshape(shape, order=order)


def _latin1_bytes(text, encoding="latin1"):
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("refused an unusual bytes encoding")
    return text.encode("latin1")


def _plain_dtype(spec, align=False, copy=False):
    if isinstance(spec, np.dtype):
        d = spec
    elif isinstance(spec, (str, bytes)):
        d = np.dtype(spec.decode("latin1") if isinstance(spec, bytes) else spec, align, copy)
    else:
        raise pickle.UnpicklingError("refused a non-plain array type")
    if d.hasobject or d.fields is not None:
        raise pickle.UnpicklingError("refused an object array")
    return d


def read_pickle(path: Path):
    """Read one pickle with `SafeUnpickler`; DataError (naming the file) on anything odd."""
    try:
        with open(path, "rb") as f:
            return SafeUnpickler(f, encoding="latin1").load()
    except pickle.UnpicklingError as err:
        msg = str(err)
        if msg.startswith("refused"):
            raise DataError(f"'{path}' is not a plain data pickle: {msg}. netc never runs code from data files",
                            file=str(path)) from None
        raise DataError(f"'{path}' is corrupt or truncated ({msg})", file=str(path)) from None
    except (EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError, MemoryError,
            OverflowError, UnicodeDecodeError) as err:
        raise DataError(f"'{path}' is corrupt or truncated ({type(err).__name__}: {err})",
                        file=str(path)) from None
    except OSError as err:
        raise DataError(f"cannot read '{path}': {err.strerror or err}", file=str(path)) from None


def _get(d, key):
    """Value of `key` in a CIFAR dict whose keys are str (latin1) or bytes."""
    if not isinstance(d, dict):
        return None
    return d.get(key, d.get(key.encode()))


def _cifar_batch(path: Path):
    d = read_pickle(path)
    data, labels = _get(d, "data"), _get(d, "labels")
    if labels is None:
        labels = _get(d, "fine_labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] % 3:
        raise DataError(f"'{path}' does not look like a CIFAR batch: expected a dict with 'data' "
                        "(uint8 array of N x 3*H*W) and 'labels'", file=str(path))
    side = int(round((data.shape[1] // 3) ** 0.5))
    if 3 * side * side != data.shape[1]:
        raise DataError(f"'{path}': rows of {data.shape[1]} bytes are not square 3-channel images", file=str(path))
    try:
        y = np.asarray(labels, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError):
        raise DataError(f"'{path}': 'labels' is not a list of integers", file=str(path)) from None
    if len(y) != len(data):
        raise DataError(f"'{path}' has {len(data)} images but {len(y)} labels", file=str(path))
    return data.reshape(-1, 3, side, side), y


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _load_cifar_pickles(folder: Path) -> Dataset:
    train_files = sorted(folder.glob("data_batch_*"), key=lambda p: p.name)
    test_file = folder / "test_batch"
    if not train_files:
        raise DataError(f"'{folder}' has no data_batch_1..5 files", file=str(folder), hint=USAGE)
    if not test_file.exists():
        raise DataError(f"'{folder}' has no test_batch file", file=str(test_file), hint=USAGE)
    parts = [_cifar_batch(p) for p in train_files]
    tx, ty = _cifar_batch(test_file)
    if len({p[0].shape[1:] for p in parts} | {tx.shape[1:]}) != 1:
        raise DataError(f"the batches in '{folder}' hold images of different sizes", file=str(folder))
    classes = []
    meta = folder / "batches.meta"
    if meta.exists():
        names = _get(read_pickle(meta), "label_names")
        if isinstance(names, list):
            classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    files = {p.name: p for p in train_files + [test_file]}
    official = set(files) == set(CIFAR_MD5) and all(_md5(p) == CIFAR_MD5[n] for n, p in files.items())
    return Dataset(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), tx, ty,
                   classes, str(folder), "cifar-pickle", official,
                   None if official else f"note: '{folder}' is not the official CIFAR-10 release (checksums differ); using it as given")


def _load_npz(path: Path) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as z:
            if {"train_jpeg", "train_offsets", "test_jpeg", "test_offsets"} <= set(z.files):
                return _load_encoded_npz(path, z)
            missing = [k for k in ("train_x", "train_y", "test_x", "test_y") if k not in z.files]
            if missing:
                raise DataError(f"'{path}' lacks {', '.join(missing)} (it has {', '.join(z.files) or 'nothing'})",
                                file=str(path), hint="an .npz needs train_x, train_y, test_x, test_y")
            arrays = {k: z[k] for k in ("train_x", "train_y", "test_x", "test_y")}
            classes = [str(c) for c in z["classes"]] if "classes" in z.files else []
    except DataError:
        raise
    except ValueError as err:
        if "pickle" in str(err).lower():
            raise DataError(f"'{path}' stores Python objects; netc reads only plain numeric arrays",
                            file=str(path)) from None
        raise DataError(f"'{path}' is corrupt or truncated ({err})", file=str(path)) from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, zipfile.LargeZipFile) as err:
        raise DataError(f"'{path}' is corrupt or truncated ({type(err).__name__}: {err})", file=str(path)) from None
    xs = {}
    for split in ("train", "test"):
        x = arrays[f"{split}_x"]
        if x.dtype != np.uint8 or x.ndim not in (3, 4):
            raise DataError(f"'{path}': {split}_x must be uint8 images (N,H,W,C) or (N,C,H,W), "
                            f"got {x.dtype} {x.shape}", file=str(path))
        if x.ndim == 3:
            x = x[:, None]
        elif x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
            x = x.transpose(0, 3, 1, 2)
        xs[split] = np.ascontiguousarray(x)
        y = arrays[f"{split}_y"]
        if not np.issubdtype(y.dtype, np.integer) or y.reshape(-1).shape[0] != x.shape[0]:
            raise DataError(f"'{path}': {split}_y must hold one integer label per image "
                            f"({x.shape[0]} images, got {y.dtype} {y.shape})", file=str(path))
        arrays[f"{split}_y"] = y.reshape(-1).astype(np.int64)
    return Dataset(xs["train"], arrays["train_y"], xs["test"], arrays["test_y"], classes, str(path), "npz",
                   False, f"note: '{path}' is not the official CIFAR-10 release; using it as given")


def _load_encoded_npz(path: Path, z) -> Dataset:
    """An .npz of encoded images (`{split}_jpeg` bytes cut at `{split}_offsets`, `{split}_y`), such
    as the JPEG copy of CIFAR-10: decoded with Pillow, in threads."""
    from PIL import Image, UnidentifiedImageError

    def decode(blob: bytes) -> np.ndarray:
        with Image.open(io.BytesIO(blob)) as im:
            return np.asarray(im.convert("RGB"))

    out = {}
    for split in ("train", "test"):
        data, offs = z[f"{split}_jpeg"], z[f"{split}_offsets"]
        if f"{split}_y" not in z.files or data.dtype != np.uint8 or offs.ndim != 1 or len(offs) < 2:
            raise DataError(f"'{path}': {split}_jpeg/{split}_offsets/{split}_y are not an encoded-image set",
                            file=str(path))
        blobs = [data[offs[i]:offs[i + 1]].tobytes() for i in range(len(offs) - 1)]
        try:
            with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
                imgs = list(pool.map(decode, blobs, chunksize=512))
            x = np.stack(imgs).transpose(0, 3, 1, 2)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
            raise DataError(f"'{path}': a {split} image does not decode ({err})", file=str(path)) from None
        y = z[f"{split}_y"].reshape(-1).astype(np.int64)
        if len(y) != len(x):
            raise DataError(f"'{path}': {len(x)} {split} images but {len(y)} labels", file=str(path))
        out[split] = (np.ascontiguousarray(x), y)
    classes = [str(c) for c in z["classes"]] if "classes" in z.files else []
    return Dataset(*out["train"], *out["test"], classes, str(path), "npz-encoded", False,
                   f"note: '{path}' holds encoded (e.g. JPEG) images, not the official CIFAR-10 release; "
                   "decoded as given")


def _read_image(path: Path, mode: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert(mode))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise DataError(f"'{path}' is not a readable image ({err})", file=str(path)) from None


def _load_imagefolder(root: Path, channels: int) -> Dataset:
    mode = {1: "L", 3: "RGB"}.get(channels)
    if mode is None:
        raise DataError(f"image folders can feed 1- or 3-channel nets, not {channels}", file=str(root))
    classes = sorted(d.name for d in (root / "train").iterdir() if d.is_dir())
    if not classes:
        raise DataError(f"'{root / 'train'}' has no class folders", file=str(root / "train"), hint=USAGE)
    index = {c: i for i, c in enumerate(classes)}
    out = {}
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for split in ("train", "test"):
            files, labels = [], []
            for d in sorted(p for p in (root / split).iterdir() if p.is_dir()):
                if d.name not in index:
                    raise DataError(f"test class folder '{d}' has no training counterpart", file=str(d))
                imgs = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_EXTS)
                files += imgs
                labels += [index[d.name]] * len(imgs)
            if not files:
                raise DataError(f"'{root / split}' holds no images", file=str(root / split), hint=USAGE)
            images = list(pool.map(lambda p: _read_image(p, mode), files))
            shape = images[0].shape
            for p, im in zip(files, images):
                if im.shape != shape:
                    raise DataError(f"'{p}' is {im.shape[1]}x{im.shape[0]} but '{files[0]}' is "
                                    f"{shape[1]}x{shape[0]}; all images must have one size", file=str(p))
            x = np.stack(images)
            x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)
            out[split] = (np.ascontiguousarray(x), np.asarray(labels, dtype=np.int64))
    return Dataset(*out["train"], *out["test"], classes, str(root), "imagefolder", False,
                   f"note: '{root}' is an image folder, not the official CIFAR-10 release; using it as given")


def _download_cifar(download: bool) -> Dataset:
    root = default_root()
    folder = root / CIFAR_DIR
    if not (folder / "test_batch").exists():
        if not download:
            raise DataError(f"CIFAR-10 is not in '{root}'", file=str(root), hint=USAGE)
        try:
            from torchvision.datasets.utils import download_and_extract_archive
            root.mkdir(parents=True, exist_ok=True)
            download_and_extract_archive(CIFAR_URL, str(root), filename="cifar-10-python.tar.gz",
                                         md5=CIFAR_TGZ_MD5)
        except Exception as err:  # offline, DNS, HTTP, disk: all mean "no data here"
            raise DataError(f"CIFAR-10 is not in '{root}' and downloading it failed "
                            f"({type(err).__name__}: {err})", file=str(root),
                            hint=USAGE + " (or set NETC_DATA to a folder holding cifar-10-batches-py/)") from None
    return _load_cifar_pickles(folder)


def _check(ds: Dataset) -> None:
    if ds.train_x.shape[1:] != ds.test_x.shape[1:]:
        raise DataError(f"training images are {ds.train_x.shape[1:]} but test images are "
                        f"{ds.test_x.shape[1:]} (channels, height, width)", file=ds.source)
    for name, y in (("training", ds.train_y), ("test", ds.test_y)):
        if len(y) and y.min() < 0:
            raise DataError(f"{name} labels must be >= 0 (found {int(y.min())})", file=ds.source)
