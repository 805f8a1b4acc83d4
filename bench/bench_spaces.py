#!/usr/bin/env python3
"""`netc check` on the largest search spaces within the limits (and just beyond them).

The limits (dsl/front/limits.py, docs/language.md): at most 4,096 combinations of choices and at most
300,000 ops over all variants together. Each case is a fresh `netc check` process (so it includes
start-up, parsing, enumerating, expanding every variant once and printing), timed --runs times.

    .venv/bin/python bench/bench_spaces.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cases() -> dict[str, str]:
    """name -> .net text."""
    layer = "res? -> extra? -> res? -> extra?"
    many_small = f"input 3x32x32\nprep -> layer1({layer}) -> layer2({layer}) -> layer3({layer}) -> gmp -> fc*0.125\n"
    few_big = (
        "input 3x16x16\nblk = (conv(16) -> bn -> relu)^1360\n"
        "net = conv(16) -> (relu | bn)? -> (relu | bn)? -> dropout(0.1)? -> relu? -> relu? -> blk -> gmp "
        "-> linear(10)\n"
    )
    defs = "\n".join(f"b{i}(c=16) = conv_bn(c) -> add(identity, conv_bn(c))" for i in range(380))
    distinct = (
        f"input 3x16x16\n{defs}\nnet = conv(16) -> (relu | bn)? -> relu? -> dropout(0.1)? -> relu? -> "
        "(relu | bn | dropout(0.2))? -> " + " -> ".join(f"b{i}" for i in range(380)) + " -> gmp -> linear(10)\n"
    )
    over_combos = "input 3x8x8\nconv(8)" + " -> relu?" * 13 + " -> gmp -> linear(2)\n"
    over_ops = (
        "input 3x16x16\nblk = (conv(16) -> bn -> relu)^5000\n"
        "net = conv(16) -> (relu | bn)? -> (relu | bn)? -> dropout(0.1)? -> relu? -> blk -> gmp -> linear(10)\n"
    )
    return {
        "4,096 combinations of the article's backbone (12 optional blocks)": many_small,
        "72 combinations x 4,087 ops (294k ops)": few_big,
        "96 combinations x 3,047 ops in 380 distinct parametrised definitions (293k ops)": distinct,
        "refused: 8,192 combinations": over_combos,
        "refused: over 300,000 ops": over_ops,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    netc = Path(sys.executable).with_name("netc")
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as d:
        for name, text in cases().items():
            path = Path(d) / "space.net"
            path.write_text(text)
            times, last = [], None
            for _ in range(a.runs):
                t = time.perf_counter()
                last = subprocess.run([str(netc), "check", str(path)], capture_output=True, text=True)
                times.append(time.perf_counter() - t)
            head = (last.stdout or last.stderr).splitlines()[0] if last else ""
            print(
                f"{name}: median {statistics.median(times):.2f} s, max {max(times):.2f} s "
                f"(exit {last.returncode if last else '?'}; {head.split(': ', 1)[-1][:90]})"
            )


if __name__ == "__main__":
    main()
