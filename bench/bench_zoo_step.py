#!/usr/bin/env python3
"""The zoo on the CPU: one training step (forward, backward, SGD) of nets/zoo/resnet50.net against
torchvision's resnet50 with the same weights and batch, interleaved; and `netc check` of the zoo files
(part A) in fresh processes.

    .venv/bin/python bench/bench_zoo_step.py [--batch 8] [--size 64] [--steps 5] [--rounds 7] [--check-runs 9]

Reports the median ms per step of each, the ratio netc/torchvision (target <= 1.05; also the median of
the ratios of each round's pair, which drift on a shared machine affects less), and the median,
min and max wall time of `netc check nets/zoo/X.net` per file (target < 0.3 s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import dsl  # noqa: E402

ZOO_A = ["resnet18", "resnet50", "vgg11_bn", "densenet121", "squeezenet1_0", "unet", "se_block"]


def step_time(model, opt, x, y, steps: int) -> float:
    t = time.perf_counter()
    for _ in range(steps):
        F.cross_entropy(model(x), y).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return (time.perf_counter() - t) / steps


def training_step(batch: int, size: int, steps: int, rounds: int) -> None:
    torch.manual_seed(0)
    ref = torchvision.models.resnet50().train()
    net = dsl.build(dsl.load(ROOT / "nets/zoo/resnet50.net", input_shape=(3, size, size))).train()
    net.load_state_dict(ref.state_dict(), strict=True)  # the same weights, by torchvision's keys
    x, y = torch.randn(batch, 3, size, size), torch.randint(0, 1000, (batch,))
    opts = [torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-4) for m in (ref, net)]
    step_time(ref, opts[0], x, y, 2), step_time(net, opts[1], x, y, 2)  # warm-up
    r, n = [], []
    for _ in range(rounds):  # interleaved, so drift on a shared machine hits both
        r.append(step_time(ref, opts[0], x, y, steps))
        n.append(step_time(net, opts[1], x, y, steps))
    mr, mn = statistics.median(r), statistics.median(n)
    print(
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, {torch.get_num_threads()} threads, "
        f"batch {batch}x3x{size}x{size}, fp32, {rounds} rounds x {steps} steps"
    )
    print(f"torchvision resnet50   : median {mr * 1000:.1f} ms/step (min {min(r) * 1000:.1f}, max {max(r) * 1000:.1f})")
    print(f"netc zoo/resnet50.net  : median {mn * 1000:.1f} ms/step (min {min(n) * 1000:.1f}, max {max(n) * 1000:.1f})")
    per_round = statistics.median(b / a for a, b in zip(r, n))
    print(f"ratio netc/torchvision : {mn / mr:.3f} (of the medians; median of the per-round ratios {per_round:.3f})")


def check_times(runs: int) -> None:
    netc = Path(sys.executable).with_name("netc")
    print(f"netc check, a fresh process per run, {runs} runs each:")
    for name in ZOO_A:
        cmd = [str(netc), "check", f"nets/zoo/{name}.net"]
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
            times.append(time.perf_counter() - t)
        print(
            f"  {name + '.net':22s} median {statistics.median(times):.3f} s, "
            f"min {min(times):.3f} s, max {max(times):.3f} s"
        )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--check-runs", type=int, default=9)
    a = ap.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    check_times(a.check_runs)
    training_step(a.batch, a.size, a.steps, a.rounds)


if __name__ == "__main__":
    main()
