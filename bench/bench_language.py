#!/usr/bin/env python3
"""Front-end speed: `netc check` wall time (a fresh process, never imports torch) and
parse + resolution + shape inference of a generated 1,000-block network.

    .venv/bin/python bench/bench_language.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def netc_check_seconds(repeat: int) -> list[float]:
    netc = Path(sys.executable).with_name("netc")
    cmd = [str(netc), "check", "nets/residual_l1_l3.net"]
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return times


def thousand_blocks() -> str:
    """1,000 distinct blocks: each its own definition, half of them residual, in one chain."""
    lines = ["input 3x32x32"]
    for i in range(1000):
        body = "add(identity, conv_bn -> conv_bn)" if i % 2 else "conv_bn(64, k=3) -> bn"
        lines.append(f"blk{i} = {body}")
    lines.append("net = prep -> " + " -> ".join(f"blk{i}" for i in range(1000)) + " -> gmp -> fc*0.125")
    return "\n".join(lines)


def front_end_seconds(repeat: int) -> tuple[list[float], int]:
    import dsl
    from dsl.front.parser import _lark

    _lark()  # grammar construction is a one-off per process, not per file
    text = thousand_blocks()
    times, n = [], 0
    for _ in range(repeat):
        t = time.perf_counter()
        g = dsl.loads(text, max_params=10**10)
        times.append(time.perf_counter() - t)
        n = len(g.nodes)
    return times, n


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    a = ap.parse_args()
    c = netc_check_seconds(a.repeat)
    f, n = front_end_seconds(max(3, a.repeat // 3))
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(
        f"netc check nets/residual_l1_l3.net: median {statistics.median(c):.3f} s, "
        f"min {min(c):.3f} s, max {max(c):.3f} s over {len(c)} runs"
    )
    print(
        f"1,000-block network ({n:,} ops): parse + shape inference median {statistics.median(f):.3f} s, "
        f"min {min(f):.3f} s over {len(f)} runs"
    )


if __name__ == "__main__":
    main()
