#!/usr/bin/env python3
"""The search's results store at scale: 100,000 rows appended to results.csv without slowing down.

Appends --rows rows, one at a time, through the writer a search uses (`ResultsFile.append`: one
fsynced write per row), with the resume lookup (`done_row`) and the K-best bookkeeping (`Keeper`) a
trial does beside it, and times each block of rows: the last block's cost per row against the
first's is the figure (1.0: no slow-down). Then reads the file back as a resumed search and
`netc report` do, and ranks it (the Pareto front of 100,000 networks). Optionally (--study N) the
same for N trials told to an Optuna study in SQLite (the default storage of `netc search`).

    .venv/bin/python bench/bench_results.py [--rows 100000] [--block 10000] [--study 0]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dsl.search import pareto  # noqa: E402
from dsl.search.keep import Keeper  # noqa: E402
from dsl.search.results import ResultsFile, read_results  # noqa: E402


def row(i: int, rng: random.Random) -> dict:
    """A results.csv row as a trial search writes it (every column filled)."""
    return dict(
        variant=f"Net[c={rng.choice((16, 32, 64, 128))},k={rng.choice((3, 5, 7))},depth={rng.randint(1, 9)}]#{i}",
        file="nets/space.net",
        net_hash=f"{rng.getrandbits(64):016x}",
        config_hash=f"{rng.getrandbits(64):016x}",
        epochs=rng.choice((4, 8, 16)),
        seed=0,
        test_acc=rng.random(),
        test_loss=rng.random() * 2,
        train_acc=rng.random(),
        train_loss=rng.random() * 2,
        seconds=rng.random() * 100,
        warmup_s=rng.random(),
        target=0.94,
        params=rng.randint(10_000, 10_000_000),
        device="cpu",
        precision="fp32",
        worker="0",
        finished_at=dt.datetime(2026, 12, 8).isoformat(),
        macs=rng.randint(10**6, 10**9),
        trial=i,
        state="pruned" if rng.random() < 0.3 else "complete",
    )


def bench_csv(folder: Path, n: int, block: int) -> list[float]:
    """Microseconds per row of each block of `block` appends."""
    rng = random.Random(0)
    results = ResultsFile(folder)
    keeper = Keeper(folder / "best", 3, ["acc"], results.rows)
    per_row = []
    for b in range(0, n, block):
        t = time.perf_counter()
        for i in range(b, min(n, b + block)):
            r = row(i, rng)
            results.done_row((r["config_hash"], r["epochs"], r["seed"]))  # the resume check of a trial
            results.append(r)
            if r["state"] == "complete":
                keeper.offer(r, lambda f: f.mkdir())  # the K best keep a folder (here: an empty one)
        us = (time.perf_counter() - t) / min(block, n - b) * 1e6
        per_row.append(us)
        print(f"  rows {b + 1:>7,}..{min(n, b + block):>7,}: {us:7.1f} µs per row", flush=True)
    return per_row


def bench_study(folder: Path, n: int, block: int) -> list[float]:
    """Microseconds per trial (ask, suggest, tell) of each block of trials in an SQLite study."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        storage=f"sqlite:///{folder / 'study.db'}", sampler=optuna.samplers.RandomSampler(seed=0)
    )
    per = []
    for b in range(0, n, block):
        t = time.perf_counter()
        for _ in range(b, min(n, b + block)):
            trial = study.ask()
            trial.suggest_categorical("c", [16, 32, 64, 128])
            trial.suggest_int("depth", 1, 9)
            study.tell(trial, trial.number % 97 / 97)
        us = (time.perf_counter() - t) / min(block, n - b) * 1e6
        per.append(us)
        print(f"  trials {b + 1:>7,}..{min(n, b + block):>7,}: {us:9.1f} µs per trial", flush=True)
    return per


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--block", type=int, default=10_000)
    ap.add_argument("--study", type=int, default=0, help="also tell this many trials to an SQLite study")
    a = ap.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        print(f"results.csv: {a.rows:,} rows appended (each fsynced), in blocks of {a.block:,}")
        t = time.perf_counter()
        per = bench_csv(folder, a.rows, a.block)
        total = time.perf_counter() - t
        size = (folder / "results.csv").stat().st_size
        t = time.perf_counter()
        res = read_results(folder / "results.csv")
        read_s = time.perf_counter() - t
        assert len(res.rows) == a.rows and not res.warnings, "a row was lost or not read back"
        t = time.perf_counter()
        ResultsFile(folder).done_keys()
        resume_s = time.perf_counter() - t
        t = time.perf_counter()
        text = pareto.summary(res.rows, ["acc", "time"])
        rank_s = time.perf_counter() - t
        print(f"  total {total:.1f} s for {a.rows:,} rows ({size / 1e6:.1f} MB)")
        print(f"  read back: {read_s:.2f} s; opened for resuming: {resume_s:.2f} s; Pareto front: {rank_s:.2f} s")
        print("  " + text.splitlines()[0])
        ratio = per[-1] / per[0]
        print(
            f"results_csv rows={a.rows} first_block_us={per[0]:.1f} last_block_us={per[-1]:.1f} "
            f"slowdown={ratio:.2f} median_us={statistics.median(per):.1f}"
        )
        if a.study:
            print(f"Optuna study (SQLite): {a.study:,} trials, in blocks of {a.block:,}")
            sp = bench_study(folder, a.study, max(1, a.study // 5))
            print(
                f"optuna_sqlite trials={a.study} first_block_us={sp[0]:.1f} last_block_us={sp[-1]:.1f} "
                f"slowdown={sp[-1] / sp[0]:.2f}"
            )


if __name__ == "__main__":
    main()
