#!/usr/bin/env python3
"""Compiled .net module vs the hand-written reference (`../shared/bench/ref_resnet9.py`): time of one
training step (forward, backward, SGD) of Residual:L1+L3 on the CPU, interleaved, same weights.

    .venv/bin/python bench/bench_step_cpu.py [--batch 64] [--steps 10] [--rounds 5]

On the GPU, `bench/gpu.sh` compares whole training runs; this is the CPU-side check that the
compiled module itself adds no cost.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import dsl  # noqa: E402


def load_ref():
    path = ROOT.parent / "shared" / "bench" / "ref_resnet9.py"
    spec = importlib.util.spec_from_file_location("ref_resnet9", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def step_time(model, x, y, steps):
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, nesterov=True, weight_decay=5e-4)
    t = time.perf_counter()
    for _ in range(steps):
        F.cross_entropy(model(x), y, reduction="sum").backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return (time.perf_counter() - t) / steps


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    torch.manual_seed(0)
    ref = load_ref().ResNet9()
    net = dsl.build(dsl.load(ROOT / "nets/residual_l1_l3.net"))
    net.load_state_dict(dict(zip(net.state_dict().keys(), ref.state_dict().values())))
    x, y = torch.randn(a.batch, 3, 32, 32), torch.randint(0, 10, (a.batch,))
    step_time(ref, x, y, 2), step_time(net, x, y, 2)  # warm-up
    r, n = [], []
    for _ in range(a.rounds):  # interleaved, so drift on a shared machine hits both
        r.append(step_time(ref, x, y, a.steps))
        n.append(step_time(net, x, y, a.steps))
    mr, mn = statistics.median(r), statistics.median(n)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {a.batch}, "
        f"{a.rounds} rounds x {a.steps} steps"
    )
    print(f"hand-written ResNet9: median {mr * 1000:.1f} ms/step")
    print(f"netc residual_l1_l3 : median {mn * 1000:.1f} ms/step  (ratio netc/ref {mn / mr:.3f})")


if __name__ == "__main__":
    main()
