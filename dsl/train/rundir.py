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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dsl.errors import NetError
from dsl.fileio import FileReadError, FolderLock, read_bytes_limited, write_text
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
    classes: list[str] = field(default_factory=list)  # the class names, when the data names them
    path: str = "device"  # the data path the run took ("device" or "stream"; older runs: device)


@dataclass
class RunConfig:
    """What a run is; enough to check that a resumed run is the same run."""

    net_name: str
    net_file: str | None  # absolute path of the .net file when it came from one
    main_source: str  # the main file's key in `sources`
    sources: dict[str, str]  # every .net file read, as the user names it -> its text
    variant: str | None
    fingerprint: str
    canonical: str
    overrides: dict[str, Any]  # flags that changed the file's settings (epochs, batch_size)
    settings: TrainSettings
    seed: int
    runs: int
    data: DataRecord
    device: dict[str, Any]
    checkpoint: bool
    versions: dict[str, Any] = field(default_factory=dict)
    input_shape: list[int] | None = None  # `--input` given to netc train (None: the file's input line)
    classes: int | None = None  # `--classes` given to netc train (None: the file's classes)

    def to_json(self) -> dict[str, Any]:
        """The config.json object."""
        return {
            "format": FORMAT,
            "net": {
                "name": self.net_name,
                "file": self.net_file,
                "main_source": self.main_source,
                "variant": self.variant,
                "fingerprint": self.fingerprint,
                "canonical": self.canonical,
                "sources": self.sources,
                "input": self.input_shape,
                "classes": self.classes,
            },
            "overrides": self.overrides,
            "settings": self.settings.to_json(),
            "seed": self.seed,
            "runs": self.runs,
            "data": dict(self.data.__dict__),
            "device": self.device,
            "checkpoint": self.checkpoint,
            "versions": self.versions,
        }

    @classmethod
    def from_json(cls, obj: Any, where: str) -> RunConfig:
        """Read config.json's object; a NetError naming `where` for anything missing or malformed."""
        r = _Reader(obj, where)
        fmt = r.get("format", int)
        if fmt != FORMAT:
            raise NetError(
                f"'{where}' was written by {'an older' if fmt < FORMAT else 'a newer'} netc "
                f"(format {fmt}, this netc reads {FORMAT})",
                file=where,
                hint="train it again with this netc; its results stay readable by netc report",
            )
        net = r.sub("net")
        data = r.sub("data")
        sources = net.get("sources", dict)
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in sources.items()):
            raise NetError(f"'{where}': net.sources must map file names to their text", file=where)
        main = net.get("main_source", str)
        if main not in sources:
            raise NetError(f"'{where}': net.main_source '{main}' is not among net.sources", file=where)
        record = DataRecord(
            data.get("arg", str, None),
            data.get("source", str),
            data.get("layout", str),
            data.get("limit", int, None),
            data.get("limit_test", int, None),
            data.get("n_train", int),
            data.get("n_test", int),
            data.get("image_shape", list),
            data.get("digest", str),
            data.get("classes", list, []),  # absent in run folders written before netc kept them
            data.get("path", str, "device"),  # absent before the streamed path existed
        )
        if record.path not in ("device", "stream"):
            raise NetError(f"'{where}': data.path must be 'device' or 'stream', got {record.path!r}", file=where)
        runs, seed = r.get("runs", int), r.get("seed", int)
        if runs < 1:
            raise NetError(f"'{where}': runs must be at least 1, got {runs}", file=where)
        return cls(
            net.get("name", str),
            net.get("file", str, None),
            main,
            sources,
            net.get("variant", str, None),
            net.get("fingerprint", str),
            net.get("canonical", str),
            r.get("overrides", dict),
            TrainSettings.from_json(r.get("settings", dict), where + ": settings"),
            seed,
            runs,
            record,
            r.get("device", dict),
            r.get("checkpoint", bool),
            r.get("versions", dict, {}),
            _shape(net.get("input", list, None), where),
            net.get("classes", int, None),  # both absent in run folders from before --input/--classes
        )


def _shape(value: list[Any] | None, where: str) -> list[int] | None:
    """net.input of config.json: a list of 1 to 3 whole numbers >= 1, or None."""
    if value is None:
        return None
    if not 1 <= len(value) <= 3 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value):
        raise NetError(
            f"'{where}': net.input must be a list of 1 to 3 whole numbers, got {json.dumps(value)[:60]}", file=where
        )
    return [int(v) for v in value]


class _Reader:
    """Typed access to one JSON object, with errors that name the file and the key."""

    def __init__(self, obj: Any, where: str, prefix: str = ""):
        if not isinstance(obj, dict):
            raise NetError(f"'{where}': {prefix or 'the file'} is not a JSON object", file=where)
        self.obj, self.where, self.prefix = obj, where, prefix

    _MISSING = object()

    def get(self, key: str, kind: type, default: Any = _MISSING) -> Any:
        if key not in self.obj or (self.obj[key] is None and default is not _Reader._MISSING):
            if default is _Reader._MISSING:
                raise NetError(
                    f"'{self.where}' lacks '{self.prefix}{key}'",
                    file=self.where,
                    hint="the run folder is damaged or was not written by netc train",
                )
            return default
        value = self.obj[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise NetError(
                f"'{self.where}': '{self.prefix}{key}' should be {kind.__name__}, got {json.dumps(value)[:60]}",
                file=self.where,
            )
        return value

    def sub(self, key: str) -> _Reader:
        return _Reader(self.get(key, dict), self.where, f"{self.prefix}{key}.")


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
