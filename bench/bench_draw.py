"""Wall time of `netc draw` as a user runs it (a fresh process each time: Python start-up,
parsing, the drawing and Graphviz `dot` included), on the article's network and on three
~6,000-op networks that used to make the drawer quadratic:

- `residual_l1_l3`: the article's Residual:L1+L3 (`nets/residual_l1_l3.net`, 36 ops);
- `repeat2000`: `blk = conv(16) -> bn -> relu`, `blk^2000` (6,003 ops; folds into one node);
- `chain1000`: 1,000 distinct top-level blocks, half of them residual (6,007 ops; the
  front-end benchmark's network);
- `nested260`: 260 distinct top-level blocks, each nesting a repeated residual block
  (`r^2`) inside a concat inside a residual add, every 10th extended by `res`, four of them
  downsampling (6,198 ops).

    .venv/bin/python bench/bench_draw.py [--runs 3] [--nets repeat2000,chain1000] [--phases]

Prints one line per (net, view, folding): median and min over the runs. `--phases` adds,
in-process, how the time splits between loading, building the DOT source and `dot` itself.
Finally checks that `netc draw` never imports torch.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 300  # the old quadratic drawer took ~20 s per command; anything slower is a failure


def repeat2000() -> str:
    """The issue's file: one 3-op block repeated 2,000 times (6,003 ops)."""
    return "input 3x32x32\nblk = conv(16) -> bn -> relu\nblk^2000 -> gmp -> linear(10)\n"


def chain1000() -> str:
    """1,000 distinct blocks, each its own definition, half of them residual, in one chain."""
    lines = ["input 3x32x32"]
    for i in range(1000):
        body = "add(identity, conv_bn -> conv_bn)" if i % 2 else "conv_bn(64, k=3) -> bn"
        lines.append(f"blk{i} = {body}")
    lines.append("net = prep -> " + " -> ".join(f"blk{i}" for i in range(1000)) + " -> gmp -> fc*0.125")
    return "\n".join(lines) + "\n"


def nested260() -> str:
    """260 distinct nested blocks: repeated residual blocks inside concats inside residual
    adds, every 10th extended by `res` (its own unit in the blocks view), four downsampling."""
    lines = ["input 3x32x32", "stem = conv(16) -> bn -> relu"]
    calls = []
    for i in range(260):
        lines.append(f"u{i} = conv(16, k=3) -> bn -> relu")
        lines.append(f"r{i} = add(identity, u{i} -> conv(16) -> bn)")
        lines.append(f"m{i} = concat(r{i}^2, conv(8, k=1) -> relu) -> conv(16, k=1) -> bn -> relu")
        pool = " -> maxpool(2)" if i % 65 == 64 else ""
        lines.append(f"b{i} = m{i} -> add(identity, relu){pool}")
        calls.append(f"b{i}(res)" if i % 10 == 5 else f"b{i}")
    lines.append("stem -> " + " -> ".join(calls) + " -> gmp -> linear(10)")
    return "\n".join(lines) + "\n"


GENERATED = {"repeat2000": repeat2000, "chain1000": chain1000, "nested260": nested260}
CONFIGS = [("blocks", True), ("blocks", False), ("ops", True), ("ops", False)]


def _net_files(names: list[str], tmp: Path) -> dict[str, Path]:
    files = {}
    for name in names:
        if name == "residual_l1_l3":
            files[name] = ROOT / "nets" / "residual_l1_l3.net"
        else:
            files[name] = tmp / f"{name}.net"
            files[name].write_text(GENERATED[name](), encoding="utf-8")
    return files


def _time_command(cmd: list[str], runs: int) -> tuple[list[float], str | None]:
    """Wall times of `cmd` in fresh processes; stops at the first failure (and says why)."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        try:
            p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            return times, f"timed out after {TIMEOUT_S} s"
        dt = time.perf_counter() - t0
        if p.returncode != 0:
            last = (p.stderr.strip().splitlines() or ["?"])[-1]
            return times, f"exit {p.returncode} after {dt:.1f} s: {last[:160]}"
        times.append(dt)
    return times, None


def _phases(path: Path, level: str, fold: bool) -> str:
    """In-process split: load, DOT source, `dot -Tsvg` (one run each)."""
    import graphviz

    import dsl
    from dsl.draw import to_dot

    t0 = time.perf_counter()
    g = dsl.load(path, max_params=10**12)
    t1 = time.perf_counter()
    src = to_dot(g, level=level, fold=fold)
    t2 = time.perf_counter()
    graphviz.pipe("dot", "svg", src.encode("utf-8"))
    t3 = time.perf_counter()
    return f"load {t1 - t0:.3f} s, DOT source {t2 - t1:.3f} s ({len(src):,} chars), dot {t3 - t2:.3f} s"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument(
        "--nets",
        default="residual_l1_l3,repeat2000,chain1000,nested260",
        help="comma-separated: residual_l1_l3, " + ", ".join(GENERATED),
    )
    ap.add_argument("--levels", default="blocks,ops")
    ap.add_argument("--phases", action="store_true", help="also split the time in-process (load / DOT / dot)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    # `python -m dsl.cli` run in ROOT: what the `netc` script runs, from the tree this file is in
    netc = [sys.executable, "-m", "dsl.cli"]
    dot = subprocess.run(["dot", "-V"], capture_output=True, text=True, check=True).stderr.strip()
    print(f"# {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {dot}")
    levels = args.levels.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        files = _net_files(args.nets.split(","), Path(tmp))
        for name, path in files.items():
            check, _ = _time_command([*netc, "check", str(path), "--max-params", str(10**12)], 1)
            print(f"{name}: netc check {check[0]:.3f} s" if check else f"{name}: netc check failed")
            for level, fold in CONFIGS:
                if level not in levels:
                    continue
                out = Path(tmp) / f"{name}.{level}.svg"
                cmd = [*netc, "draw", str(path), "--level", level, "-o", str(out), "--max-params", str(10**12)]
                if not fold:
                    cmd.append("--no-fold")
                flag = "" if fold else " --no-fold"
                times, failure = _time_command(cmd, args.runs)
                what = f"  netc draw {name} --level {level}{flag}"
                if failure:
                    print(f"{what}: FAILED ({failure})")
                    continue
                print(
                    f"{what}: median {statistics.median(times):.3f} s, min {min(times):.3f} s "
                    f"over {len(times)} runs ({out.stat().st_size:,} bytes of SVG)"
                )
                if args.phases:
                    print(f"    {_phases(path, level, fold)}")
    first = ROOT / "nets" / "residual_l1_l3.net"
    code = (
        "import sys; from dsl.cli import main; import tempfile, os; "
        f"d = tempfile.mkdtemp(); main(['draw', {str(first)!r}, '-o', os.path.join(d, 'a.svg')]); "
        "print('torch imported' if 'torch' in sys.modules else 'torch not imported')"
    )
    print(
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
        .stdout.strip()
        .splitlines()[-1]
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
