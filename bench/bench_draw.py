"""Wall time of `netc draw nets/residual_l1_l3.net` to SVG, as a user runs it (a fresh
process each time: Python start-up, parsing, the drawing and Graphviz `dot` included).

    .venv/bin/python bench/bench_draw.py [--runs 10] [--net nets/residual_l1_l3.net]

Prints one line per view: median and min over the runs, and checks that torch was not imported.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--net", default="nets/residual_l1_l3.net")
    args = ap.parse_args()
    netc = shutil.which("netc", path=str(Path(sys.executable).parent)) or "netc"
    dot = subprocess.run(["dot", "-V"], capture_output=True, text=True).stderr.strip()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {dot}")
    with tempfile.TemporaryDirectory() as tmp:
        for level in ("blocks", "ops"):
            out = Path(tmp) / f"{level}.svg"
            cmd = [netc, "draw", args.net, "--level", level, "-o", str(out)]
            subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)   # warm the file cache
            times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
                times.append(time.perf_counter() - t0)
            print(f"netc draw {args.net} --level {level} -> svg: median {statistics.median(times):.3f} s, "
                  f"min {min(times):.3f} s over {args.runs} runs ({out.stat().st_size:,} bytes)")
    code = ("import sys; from dsl.cli import main; import tempfile, os; "
            f"d = tempfile.mkdtemp(); main(['draw', {args.net!r}, '-o', os.path.join(d, 'a.svg')]); "
            "print('torch imported' if 'torch' in sys.modules else 'torch not imported')")
    print(subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
