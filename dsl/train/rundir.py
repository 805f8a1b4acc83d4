"""The run directory: config.json, metrics.csv, result.json, checkpoint.pt.

    runs/<net>-<YYYYmmdd-HHMMSS>/
      config.json    net source + canonical text, settings, seed, runs, data, versions, device
      metrics.csv    one row per epoch per run (run, seed, epoch, lr, train/test loss/acc, epoch_s, total_s)
      result.json    per run: test accuracy, seconds; mean, std, fraction >= settings["target"]
      checkpoint.pt  the last completed epoch (weights, optimizer, RNG, finished runs), for --resume
"""
from __future__ import annotations

import csv
import json
import os
import re
import statistics
import time
from pathlib import Path

from ..errors import NetError

COLUMNS = ["run", "seed", "epoch", "lr", "train_loss", "train_acc", "test_loss", "test_acc", "epoch_s", "total_s"]


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", name).strip("_") or "net"


class RunDir:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.config = self.path / "config.json"
        self.metrics = self.path / "metrics.csv"
        self.result = self.path / "result.json"
        self.checkpoint = self.path / "checkpoint.pt"

    @classmethod
    def create(cls, out: str | os.PathLike | None, net_name: str) -> "RunDir":
        if out is None:
            base = Path("runs") / f"{safe_name(net_name)}-{time.strftime('%Y%m%d-%H%M%S')}"
            path, i = base, 1
            while path.exists():
                i += 1
                path = base.with_name(f"{base.name}-{i}")
        else:
            path = Path(out)
            if path.exists() and (not path.is_dir() or any(path.iterdir())):
                raise NetError(f"output folder '{path}' already exists and is not empty", file=str(path),
                               hint=f"choose another --out, or continue that run with --resume {path}")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise NetError(f"cannot create the run folder '{path}': {err.strerror or err}", file=str(path)) from None
        return cls(path)

    @classmethod
    def open(cls, path) -> "RunDir":
        rd = cls(Path(path))
        if not rd.config.exists():
            raise NetError(f"'{path}' is not a netc run folder (no config.json)", file=str(path))
        return rd

    def write_json(self, path: Path, obj) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(obj, indent=2) + "\n")
        os.replace(tmp, path)

    def read_config(self) -> dict:
        try:
            return json.loads(self.config.read_text())
        except (OSError, ValueError) as err:
            raise NetError(f"'{self.config}' is unreadable ({err})", file=str(self.config)) from None

    def write_metrics(self, rows: list[dict]) -> None:
        tmp = self.metrics.with_name("metrics.csv.tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
        os.replace(tmp, self.metrics)

    def append_metrics(self, row: dict) -> None:
        new = not self.metrics.exists()
        with open(self.metrics, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow(row)

    def write_result(self, name: str, runs: list[dict], total_runs: int, target: float) -> dict:
        out = summarise(runs, target)
        out = {"net": name, "complete": len(runs) == total_runs, "runs_done": len(runs), "runs_total": total_runs,
               **out, "runs": [{k: r[k] for k in ("run", "seed", "epochs", "test_acc", "test_loss", "seconds",
                                                  "warmup_s")} for r in runs]}
        self.write_json(self.result, out)
        return out


def summarise(runs: list[dict], target: float) -> dict:
    accs = [r["test_acc"] for r in runs]
    secs = [r["seconds"] for r in runs]
    std = (lambda v: statistics.stdev(v) if len(v) > 1 else 0.0)
    return {"mean_acc": statistics.mean(accs) if accs else None, "std_acc": std(accs) if accs else None,
            "mean_seconds": statistics.mean(secs) if secs else None, "std_seconds": std(secs) if secs else None,
            "target": target, "fraction_ge_target": (sum(a >= target for a in accs) / len(accs)) if accs else None}
