#!/usr/bin/env python3
"""Throughput of the streamed data path (images/s): JPEGs decoded and augmented by DataLoader workers,
delivered as normalised batches, no network. Generates an image folder of JPEGs first (reused).

    .venv/bin/python bench/bench_stream.py [--dir /tmp/netc_stream_jpegs] [--size 224] [--images 1024]
        [--workers 0,1,2] [--batch 64]
    .venv/bin/python bench/bench_stream.py --make DIR --images 6000 --test 1000 --classes 100   # only write the folder

For each worker count it reports the images/s of the training pass (RandomResizedCrop + flip,
`augment = imagenet`) and of the evaluation pass (resize + centre crop), timed from the first
batch on (worker start-up excluded), and the article's recipe (pad-crop, flip, cutout) on images
already of the network's size. bench/gpu_stream.sh uses --make for its GPU run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_folder(root: Path, n_train: int, n_test: int, classes: int, size: int, quality: int = 90) -> Path:
    """train/ and test/ of `classes` class folders of size x size JPEGs (smooth colour fields with
    noise, so they compress like photographs rather than like noise); kept when already there."""
    from PIL import Image

    if (root / "train").is_dir() and (root / "test").is_dir():
        return root
    g = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        for i in range(n):
            c = i % classes
            d = root / split / f"c{c:04d}"
            d.mkdir(parents=True, exist_ok=True)
            coarse = g.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            im = Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC)
            a = np.asarray(im).astype(np.int16) + g.integers(-12, 13, (size, size, 3))
            Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(d / f"{i:06d}.jpg", quality=quality)
    return root


def measure(data, src, plan_batches, batch: int) -> float:
    """Images per second over `plan_batches`, timed from the first batch's arrival."""
    it = iter(plan_batches)
    next(it)  # workers started, first batch in
    t, n = time.perf_counter(), 0
    for x, _ in it:
        n += x.shape[0]
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default="/tmp/netc_stream_jpegs")
    ap.add_argument("--make", metavar="DIR", help="only write the JPEG folder into DIR")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--images", type=int, default=1024, help="training images")
    ap.add_argument("--test", type=int, default=256, help="test images")
    ap.add_argument("--classes", type=int, default=16)
    ap.add_argument("--workers", default="0,1,2")
    ap.add_argument("--batch", type=int, default=64)
    a = ap.parse_args()
    if a.make:
        t = time.perf_counter()
        make_folder(Path(a.make), a.images, a.test, a.classes, a.size)
        print(
            f"wrote {a.images} + {a.test} JPEGs of {a.size}x{a.size} into {a.make} in {time.perf_counter() - t:.1f} s"
        )
        return

    import torch

    from dsl.data import open_dataset
    from dsl.settings import TrainSettings
    from dsl.train.stream import StreamData

    torch.set_num_threads(1)
    root = make_folder(Path(a.dir), a.images, a.test, a.classes, a.size)
    ds = open_dataset(root, channels=3)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    recipes = {
        "imagenet": TrainSettings(augment="imagenet", batch_size=a.batch, eval_batch_size=a.batch, mean=mean, std=std),
        "article": TrainSettings(batch_size=a.batch, eval_batch_size=a.batch, mean=mean, std=std, pad=16, cutout=64),
    }
    print(f"# streamed path, {a.images} training JPEGs of {a.size}x{a.size} ({root}), batch {a.batch}, CPU, "
          f"{os.cpu_count()} CPUs, torch {torch.__version__}")  # fmt: skip
    print("| recipe | workers | train images/s | eval images/s |")
    print("| --- | --- | --- | --- |")
    steps = a.images // a.batch
    for name, s in recipes.items():
        for w in (int(v) for v in a.workers.split(",")):
            data = StreamData(ds, s, (a.size, a.size), "cpu", "fp32", w)
            try:
                src = data.source(s, 0, channels_last=False)
                train = measure(data, src, src.train_epoch(0, steps), a.batch)
                ev = measure(data, src, src.test_batches(), a.batch) if name == "imagenet" else float("nan")
            finally:
                data.close()
            print(f"| {name} | {w} | {train:.0f} | {ev:.0f} |", flush=True)


if __name__ == "__main__":
    main()
