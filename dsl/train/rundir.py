"""The run folder: config.json, metrics.csv, result.json, checkpoint.pt (+ .prev.pt), .lock.

    runs/<net>-<YYYYmmdd-HHMMSS>/
      config.json    what the run is: the network (fingerprint, canonical text, every source file),
                     the settings, flags, seeds, the data's identity, device, versions
      metrics.csv    one row per epoch per run (run, seed, epoch, lr, train/test loss/acc, epoch_s, total_s,
                     images_s: training images per second of the epoch's wall time)
      result.json    per run: test accuracy, seconds; mean, std, fraction >= settings.target
      checkpoint.pt  the last completed epoch (weights, optimizer, RNG, finished runs), for --resume;
                     checkpoint.prev.pt the one before it
      weights-runN.pt the final weights of run N (0, 1, ...): a state dict of tensors only, read with
                     torch.load(..., weights_only=True) (dsl.load_run, netc eval/predict/export)
      weights-runN.pt.sha256  its checksum (sha256sum's format), verified before the weights are read
      .lock          held by the process training into the folder

Every file is written atomically (`dsl.fileio`); `RunConfig.from_json` refuses a damaged or
foreign config.json with a clean message instead of guessing.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dsl.errors import NetError
from dsl.fileio import FileReadError, FolderLock, read_bytes_limited, write_text
from dsl.records import from_json, record_field, to_json
from dsl.settings import TrainSettings

FORMAT = 2
COLUMNS = [
    "run",
    "seed",
    "epoch",
    "lr",
    "train_loss",
    "train_acc",
    "test_loss",
    "test_acc",
    "epoch_s",
    "total_s",
    "images_s",
]
MAX_JSON = 64 << 20


def safe_name(name: str) -> str:
    """A name usable in a folder name (`Residual:L1+L3` -> `Residual_L1+L3`)."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", name).strip("_")[:120] or "net"


def _at_least_1(v: int) -> str | None:
    return None if v >= 1 else "at least 1"


def _data_path(v: str) -> str | None:
    return None if v in ("device", "stream") else "'device' or 'stream'"


def _shape(v: list[int] | None) -> str | None:
    ok = v is None or (1 <= len(v) <= 3 and all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in v))
    return None if ok else "a list of 1 to 3 whole numbers of at least 1"


@dataclass
class DataRecord:
    """Which data a run trained on: where it came from and a digest of its contents."""

    arg: str | None
    source: str
    layout: str
    limit: int | None
    limit_test: int | None
    n_train: int
    n_test: int
    image_shape: list[int]
    digest: str
    classes: list[str] = record_field([])  # the class names, when the data names them (absent in older folders)
    path: str = record_field("device", check=_data_path)  # the data path the run took (older runs: device)


@dataclass
class NetRecord:
    """Which network a run trained: its identity and the text of every file it was read from."""

    name: str
    file: str | None  # absolute path of the .net file when it came from one
    main_source: str  # the main file's key in `sources`
    variant: str | None
    fingerprint: str
    canonical: str
    sources: dict[str, str]  # every .net file read, as the user names it -> its text
    input: list[int] | None = record_field(None, check=_shape)  # `--input` given to netc train
    classes: int | None = record_field(None, check=lambda v: None if v is None or v >= 1 else "at least 1")  # --classes
    # a variant a search drew from a space too large to list: its decisions, by choice number (Program.decision_list)
    decisions: list[list[int]] | None = record_field(None)


@dataclass
class RunConfig:
    """What a run is (config.json); enough to check that a resumed run is the same run."""

    net: NetRecord
    overrides: dict[str, Any]  # flags that changed the file's settings (epochs, batch_size)
    settings: TrainSettings
    seed: int
    runs: int = record_field(check=_at_least_1)
    data: DataRecord = record_field()
    device: dict[str, Any] = record_field()
    checkpoint: bool = record_field()
    versions: dict[str, Any] = record_field({})

    # what the rest of netc reads most
    @property
    def fingerprint(self) -> str:
        """The network's fingerprint."""
        return self.net.fingerprint

    @property
    def sources(self) -> dict[str, str]:
        """Every .net file the network was read from -> its text."""
        return self.net.sources

    @property
    def input_shape(self) -> tuple[int, ...] | None:
        """The input size `--input` set, or None (the file's)."""
        return tuple(self.net.input) if self.net.input else None

    def to_json(self) -> dict[str, Any]:
        """The config.json object (its format version first)."""
        return {"format": FORMAT, **to_json(self)}

    @classmethod
    def from_json(cls, obj: Any, where: str) -> RunConfig:
        """Read config.json's object; a NetError naming `where` for anything missing or malformed."""
        fmt = obj.get("format") if isinstance(obj, dict) else None
        if isinstance(obj, dict) and "format" not in obj:
            raise NetError(f"'{where}' lacks 'format'", file=where, hint="the run folder is damaged or not netc's")
        if isinstance(obj, dict) and fmt != FORMAT:
            newer = isinstance(fmt, int) and not isinstance(fmt, bool) and fmt > FORMAT
            raise NetError(
                f"'{where}' was written by {'a newer' if newer else 'an older'} netc "
                f"(format {fmt!r}, this netc reads {FORMAT})",
                file=where,
                hint="train it again with this netc; its results stay readable by netc report",
            )
        config = from_json(cls, obj, where)
        if config.net.main_source not in config.net.sources:
            raise NetError(
                f"'{where}': net.main_source '{config.net.main_source}' is not among net.sources", file=where
            )
        return config


class RunDir:
    """The files of one run folder."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.config = self.path / "config.json"
        self.metrics = self.path / "metrics.csv"
        self.result = self.path / "result.json"
        self.checkpoint = self.path / "checkpoint.pt"

    def weights(self, run: int) -> Path:
        """The file holding run `run`'s final weights."""
        return self.path / f"weights-run{run}.pt"

    @classmethod
    def create(cls, out: str | os.PathLike[str] | None, net_name: str) -> RunDir:
        """A new, empty run folder (`runs/<net>-<time>` unless `out` is given)."""
        if out is None:
            base = Path("runs") / f"{safe_name(net_name)}-{time.strftime('%Y%m%d-%H%M%S')}"
            path, i = base, 1
            while path.exists():
                i += 1
                path = base.with_name(f"{base.name}-{i}")
        else:
            path = Path(out)
            if path.exists() and (not path.is_dir() or any(path.iterdir())):
                raise NetError(
                    f"output folder '{path}' already exists and is not empty",
                    file=str(path),
                    hint=f"choose another --out, or continue that run with --resume {path}",
                )
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise NetError(f"cannot create the run folder '{path}': {err.strerror or err}", file=str(path)) from None
        return cls(path)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> RunDir:
        """An existing run folder."""
        rd = cls(Path(path))
        if not rd.path.is_dir():
            raise NetError(f"'{path}' is not a folder", file=str(path))
        if not rd.config.exists():
            raise NetError(f"'{path}' is not a netc run folder (no config.json)", file=str(path))
        return rd

    def lock(self) -> FolderLock:
        """The folder's lock: one process trains into a run folder at a time."""
        return FolderLock(
            self.path, "another netc train", hint="wait for it to finish; only one process may train into a run folder"
        )

    def write_json(self, path: Path, obj: Any) -> None:
        """Atomically write a JSON file."""
        write_text(path, json.dumps(obj, indent=2) + "\n")

    def read_config(self) -> RunConfig:
        """config.json, checked."""
        try:
            raw = read_bytes_limited(self.config, MAX_JSON, "config.json")
            obj = json.loads(raw.decode("utf-8"))
        except FileReadError as err:
            raise NetError(err.message, file=str(self.config)) from None
        except (ValueError, UnicodeDecodeError) as err:
            raise NetError(f"'{self.config}' is not valid JSON ({err})", file=str(self.config)) from None
        return RunConfig.from_json(obj, str(self.config))

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        """Rewrite metrics.csv (atomically) with these rows."""
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        write_text(self.metrics, buf.getvalue())

    def metrics_rows(self) -> int:
        """How many epoch rows metrics.csv records (0 when absent or unreadable)."""
        try:
            text = read_bytes_limited(self.metrics, MAX_JSON, "metrics.csv").decode("utf-8", "replace")
        except FileReadError:
            return 0
        return max(0, len([line for line in text.splitlines() if line.strip()]) - 1)

    def write_result(self, name: str, runs: list[dict[str, Any]], total_runs: int, target: float) -> dict[str, Any]:
        """Rewrite result.json from the finished runs."""
        out = {
            "net": name,
            "complete": len(runs) == total_runs,
            "runs_done": len(runs),
            "runs_total": total_runs,
            **summarise(runs, target),
            "runs": [
                {k: r[k] for k in ("run", "seed", "epochs", "test_acc", "test_loss", "seconds", "warmup_s")}
                for r in runs
            ],
        }
        self.write_json(self.result, out)
        return out


def summarise(runs: list[dict[str, Any]], target: float) -> dict[str, Any]:
    """Mean and std of accuracy and time, and the fraction of runs at or above `target`."""
    accs = [r["test_acc"] for r in runs]
    secs = [r["seconds"] for r in runs]

    def std(v: list[float]) -> float:
        return statistics.stdev(v) if len(v) > 1 else 0.0

    return {
        "mean_acc": statistics.mean(accs) if accs else None,
        "std_acc": std(accs) if accs else None,
        "mean_seconds": statistics.mean(secs) if secs else None,
        "std_seconds": std(secs) if secs else None,
        "target": target,
        "fraction_ge_target": (sum(a >= target for a in accs) / len(accs)) if accs else None,
    }
