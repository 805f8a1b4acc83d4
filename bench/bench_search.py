#!/usr/bin/env python3
"""Search strategies on a CPU-sized proxy: the grid against ASHA and TPE on one space of 24 variants.

The proxy: a class-balanced subset of the CIFAR-10 **JPEG copy** (`../shared/data/cifar10_jpeg.npz`,
lossy: figures on it are not comparable with published CIFAR-10 ones) shrunk to 16x16 pixels, written
once as a plain .npz into the git-ignored `.data/bench_search/`. The space (`SPACE` below): a small
ResNet whose width (3 values), kernel size (2), residual block (2) and depth of its last stage (2)
are choices: 24 variants. Each strategy is one real `netc search` process on the same data, recipe
and seed:

  grid   every variant, trained for the whole --epochs (the article's study);
  asha   random sampling with asynchronous successive halving (`--prune asha`: rungs at 1, 3, 9
         epochs), as many trials as the grid has variants;
  tpe    TPE (`--strategy tpe`, no pruning), half as many trials.

For each: the wall time, the best test accuracy found, and the time to come within 0.5 points of the
grid's best (from the per-run times in results.csv, in the order the runs finished). A grid knows its
best only when it has trained every variant, so the ratio is taken against the grid's whole time:

    asha_vs_grid time_ratio=R best_gap_pts=G

R = ASHA's time to come within 0.5 points of the grid's best / the grid's time, the median over the
    sampler seeds (None: most seeds never did);
G = the grid's best - ASHA's best, in points (negative: ASHA found a better one).

    .venv/bin/python bench/bench_search.py --quick     # < 5 min on 2 cores
    .venv/bin/python bench/bench_search.py             # more data, 3 sampler seeds for asha and tpe
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "cifar10_jpeg.npz"
CACHE = ROOT / ".data" / "bench_search"
WITHIN = 0.005  # 0.5 points
DEVICE = ["cpu"]  # --device

SPACE = """\
# bench/bench_search.py's proxy space: 3 widths x 2 kernel sizes x residual or not x 1 or 2 convs = 24
input 3x16x16

w = 16 | 24 | 32
k = 3 | 5
body(c) = add(identity, conv_bn(c, k) -> conv_bn(c, k))

conv_bn(w) -> maxpool(2) -> body(w)? -> conv_bn(w*2, k)^(1 | 2) -> maxpool(2) -> gmp -> fc*0.125

train {
  epochs = 9
  batch_size = 64
  lr = [(0, 0), (2, 0.2), (9, 0)]
  pad = 2
  flip = true
  cutout = 0
}
"""


ARTICLE = """\
# bench/bench_search.py's GPU space: the article's blocks, each layer with a residual block, an extra
# conv_bn or neither (27 variants: the Residual and Extra studies of part 4 and their mixtures)
input 3x32x32

prep -> layer1((res | extra)?) -> layer2((res | extra)?) -> layer3((res | extra)?) -> gmp -> fc*0.125

train {
  epochs = 9
  lr = [(0, 0), (2, 0.4), (9, 0)]
}
"""


@dataclass
class Config:
    """One benchmark size."""

    train: int
    test: int
    epochs: int
    seeds: tuple[int, ...]  # sampler seeds of asha and tpe (the grid is deterministic: one run)


QUICK = Config(train=1500, test=1000, epochs=9, seeds=(0,))
FULL = Config(train=5000, test=2000, epochs=9, seeds=(0, 1, 2))


def proxy_data(n_train: int, n_test: int) -> Path:
    """The proxy dataset (.npz), made once from the JPEG copy: class-balanced, 16x16 (box filter)."""
    out = CACHE / f"cifar10_jpeg_16px_{n_train}_{n_test}.npz"
    if out.exists():
        return out
    from PIL import Image

    if not SOURCE.exists():
        sys.exit(f"bench_search: {SOURCE} is missing (the CIFAR-10 JPEG copy of ../shared/data)")
    z = np.load(SOURCE)
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        data, offs, labels = z[f"{split}_jpeg"], z[f"{split}_offsets"], z[f"{split}_y"]
        per_class = n // 10
        picked = np.sort(np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in range(10)]))
        images = []
        for i in picked:
            img = Image.open(io.BytesIO(data[offs[i] : offs[i + 1]].tobytes())).convert("RGB")
            images.append(np.asarray(img.resize((16, 16), Image.Resampling.BOX)))
        arrays[f"{split}_x"] = np.stack(images)  # N, 16, 16, 3 uint8
        arrays[f"{split}_y"] = labels[picked].astype(np.int64)
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    classes = np.asarray([str(c) for c in z["classes"]])
    np.savez(tmp, classes=classes, train_x=arrays["train_x"], train_y=arrays["train_y"],
             test_x=arrays["test_x"], test_y=arrays["test_y"])  # fmt: skip
    os.replace(tmp, out)
    return out


@dataclass
class Outcome:
    """One `netc search` process: its wall time and its results.csv rows (in finishing order)."""

    name: str
    wall_s: float
    rows: list[dict]

    def finished(self) -> list[dict]:
        """Rows of runs trained to the end (not pruned)."""
        return [r for r in self.rows if r.get("state") != "pruned"]

    def best(self) -> float:
        """The best test accuracy of a finished run."""
        return max(float(r["test_acc"]) for r in self.finished())

    def time_to(self, acc: float) -> float | None:
        """Seconds of training (runs in finishing order, pruned ones included) until a finished run
        reached `acc`; None if none did."""
        t = 0.0
        for r in self.rows:
            t += float(r["seconds"]) + float(r.get("warmup_s") or 0)
            if r.get("state") != "pruned" and float(r["test_acc"]) >= acc:
                return t
        return None

    def trained_s(self) -> float:
        """Seconds of training of every run (pruned ones included)."""
        return sum(float(r["seconds"]) + float(r.get("warmup_s") or 0) for r in self.rows)


def search(name: str, space: Path, data: Path, out: Path, cfg: Config, flags: list[str]) -> Outcome:
    """One `netc search` process into a fresh folder."""
    cmd = [sys.executable, "-m", "dsl.cli", "search", str(space), "--data", str(data), "--out", str(out),
           "--device", DEVICE[0], "--epochs", str(cfg.epochs), "--keep", "0", *flags]  # fmt: skip
    if (out / "results.csv").exists():
        raise SystemExit(f"bench_search: {out} is not empty")
    t = time.perf_counter()
    env = {**os.environ, "COLUMNS": "120", "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"bench_search: {' '.join(cmd)} failed ({p.returncode}):\n{p.stdout[-2000:]}{p.stderr[-2000:]}")
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return Outcome(name, wall, rows)


def line(o: Outcome, target: float, grid_s: float) -> str:
    """One strategy's figures."""
    reach = o.time_to(target)
    reached = f"{reach:6.1f} s ({reach / grid_s:.2f} of the grid)" if reach is not None else "never"
    pruned = len(o.rows) - len(o.finished())
    return (f"{o.name:<10} wall {o.wall_s:6.1f} s, training {o.trained_s():6.1f} s, {len(o.rows):2d} runs "
            f"({pruned} pruned), best {o.best():.2%}, within 0.5 pts of the grid's best after {reached}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller data, one sampler seed (< 5 min on 2 cores)")
    ap.add_argument("--out", type=Path, default=ROOT / ".data" / "bench_search" / "runs")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--article", type=Path, metavar="NPZ",
                    help="the GPU form: the article's 27-variant space on this dataset (the decoded JPEG copy), "
                    "full size, --device cuda")  # fmt: skip
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--epochs", type=int, help="training length (default 9: ASHA's rungs at 1, 3, 9 epochs)")
    ap.add_argument("--seeds", type=int, help="sampler seeds of asha and tpe (default 1 quick, 3 else)")
    a = ap.parse_args()
    cfg = QUICK if a.quick else FULL
    cfg = Config(cfg.train, cfg.test, a.epochs or cfg.epochs, tuple(range(a.seeds)) if a.seeds else cfg.seeds)
    DEVICE[0] = a.device
    start = time.perf_counter()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    root = a.out / f"{'article' if a.article else 'quick' if a.quick else 'full'}-{stamp}"
    root.mkdir(parents=True)
    space = root / "space.net"
    if a.article:
        data = a.article
        space.write_text(ARTICLE)
        what = f"the article's space on {data} (CIFAR-10 JPEG copy), full size"
    else:
        data = proxy_data(cfg.train, cfg.test)
        space.write_text(SPACE)
        what = f"proxy: {cfg.train} train / {cfg.test} test images of the CIFAR-10 JPEG copy at 16x16"
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, device {a.device}; {what}, "
          f"{cfg.epochs} epochs", flush=True)  # fmt: skip
    check = subprocess.run([sys.executable, "-m", "dsl.cli", "check", str(space)], capture_output=True, text=True,
                           cwd=ROOT)  # fmt: skip
    print(check.stdout.strip().splitlines()[0] if check.stdout.strip() else check.stderr.strip(), flush=True)

    grid = search("grid", space, data, root / "grid", cfg, ["--strategy", "grid"])
    n = len(grid.rows)
    target = grid.best() - WITHIN
    print(line(grid, target, grid.trained_s()), flush=True)
    figures: dict = {"config": cfg.__dict__, "grid": {"wall_s": grid.wall_s, "trained_s": grid.trained_s(),
                     "best": grid.best(), "runs": n}, "asha": [], "tpe": []}  # fmt: skip
    ashas, tpes = [], []
    for seed in cfg.seeds:
        o = search(f"asha s{seed}", space, data, root / f"asha-{seed}", cfg,
                   ["--strategy", "random", "--prune", "asha", "--trials", str(n), "--seed", str(seed)])  # fmt: skip
        print(line(o, target, grid.trained_s()), flush=True)
        ashas.append(o)
        o = search(f"tpe s{seed}", space, data, root / f"tpe-{seed}", cfg,
                   ["--strategy", "tpe", "--trials", str(n // 2), "--seed", str(seed)])  # fmt: skip
        print(line(o, target, grid.trained_s()), flush=True)
        tpes.append(o)
    for key, outs in (("asha", ashas), ("tpe", tpes)):
        for o in outs:
            reach = o.time_to(target)
            figures[key].append({"wall_s": o.wall_s, "trained_s": o.trained_s(), "best": o.best(),
                                 "runs": len(o.rows), "pruned": len(o.rows) - len(o.finished()),
                                 "time_to_within_s": reach})  # fmt: skip
    # the median over sampler seeds, a seed that never came within 0.5 points counting as infinitely slow
    times = [o.time_to(target) for o in ashas]
    ratios = sorted(t / grid.trained_s() if t is not None else math.inf for t in times)
    median = statistics.median(ratios)
    ratio = f"{median:.2f}" if math.isfinite(median) else "None"
    reached = sum(t is not None for t in times)
    print(f"asha came within 0.5 points of the grid's best with {reached} of {len(times)} sampler seeds")
    gap = (grid.best() - sum(o.best() for o in ashas) / len(ashas)) * 100
    print(f"total {time.perf_counter() - start:.0f} s; results under {root}")
    if a.json:
        a.json.write_text(json.dumps(figures, indent=1))
    print(f"asha_vs_grid time_ratio={ratio} best_gap_pts={gap:.2f}")


if __name__ == "__main__":
    main()
