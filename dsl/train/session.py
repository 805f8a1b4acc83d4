"""A training session: `runs` seeds of one net into one resumable run directory.

    session = Session.start(graph, dataset, settings, runs=3, seed=0, trainer=Trainer(...), out=None)
    session = Session.resume(run_dir, graph, dataset, trainer)   # graph/dataset as config.json says
    results = session.train(reporter)

After each epoch the metrics row is appended to metrics.csv and the checkpoint (current run's
weights, optimizer, RNG, plus the finished runs) replaced atomically; result.json is rewritten
after each finished run. A killed session resumes at its last completed epoch.
"""
from __future__ import annotations

import platform
import sys
from dataclasses import dataclass, field

import torch

from .. import __version__
from .checkpoint import AsyncWriter, load as load_checkpoint
from .engine import Snapshot, Trainer, device_name, prepare_data
from .report import Reporter
from .rundir import RunDir

FORMAT = 1


def settings_to_json(settings: dict) -> dict:
    return {k: ([list(p) for p in v] if k == "lr" else (list(v) if isinstance(v, tuple) else v))
            for k, v in settings.items()}


def settings_from_json(settings: dict) -> dict:
    return {k: ([tuple(p) for p in v] if k == "lr" else v) for k, v in settings.items()}


@dataclass
class Session:
    rundir: RunDir
    graph: object
    dataset: object
    settings: dict
    runs: int
    seed: int
    trainer: Trainer
    checkpoint: bool = True
    done: list[dict] = field(default_factory=list)      # finished runs (with their rows)
    snapshot: Snapshot | None = None                     # the unfinished run's last epoch

    @property
    def name(self) -> str:
        return self.graph.name

    @classmethod
    def start(cls, graph, dataset, settings, *, runs, seed, trainer, out=None, net_file=None, variant=None,
              data_arg=None, limits=(None, None), checkpoint=True) -> "Session":
        rd = RunDir.create(out, graph.name)
        dev = trainer.device
        config = {
            "format": FORMAT,
            "net": {"name": graph.name, "file": str(net_file) if net_file else None, "variant": variant,
                    "source": getattr(graph, "source", None), "canonical": getattr(graph, "canonical", None)},
            "settings": settings_to_json(settings),
            "seed": seed, "runs": runs,
            "data": {"arg": data_arg, "source": dataset.source, "layout": dataset.layout,
                     "official": dataset.official, "limit": limits[0], "limit_test": limits[1],
                     "n_train": len(dataset.train_y), "n_test": len(dataset.test_y),
                     "image_shape": list(dataset.image_shape)},
            "device": {"type": dev.type, "name": device_name(dev), "precision": trainer.precision,
                       "compile": trainer.compile, "channels_last": trainer.channels_last},
            "versions": {"netc": __version__, "torch": torch.__version__, "cuda": torch.version.cuda,
                         "cudnn": torch.backends.cudnn.version() if dev.type == "cuda" else None,
                         "python": sys.version.split()[0], "platform": platform.platform()},
            "checkpoint": checkpoint,
        }
        rd.write_json(rd.config, config)
        return cls(rd, graph, dataset, settings, runs, seed, trainer, checkpoint)

    @classmethod
    def resume(cls, rd: RunDir, config: dict, graph, dataset, trainer) -> "Session":
        s = cls(rd, graph, dataset, settings_from_json(config["settings"]), int(config["runs"]), int(config["seed"]),
                trainer, bool(config.get("checkpoint", True)))
        if rd.checkpoint.exists():
            ck = load_checkpoint(rd.checkpoint)
            s.done = list(ck["done"])
            s.snapshot = Snapshot.from_dict(ck["snapshot"]) if ck.get("snapshot") else None
            if s.snapshot is not None and s.snapshot.epoch >= int(s.settings["epochs"]):
                s.done.append(s._finished(len(s.done), s.snapshot.rows, 0.0))
                s.snapshot = None
        rows = [r for d in s.done for r in d["rows"]] + (s.snapshot.rows if s.snapshot else [])
        rd.write_metrics(rows)
        return s

    def _finished(self, run: int, rows: list[dict], warmup_s: float) -> dict:
        last = rows[-1]
        return {"run": run, "seed": last["seed"], "epochs": last["epoch"], "test_acc": last["test_acc"],
                "test_loss": last["test_loss"], "seconds": last["total_s"], "warmup_s": warmup_s,
                "rows": [dict(r, run=run) for r in rows]}

    def train(self, reporter: Reporter | None = None) -> list[dict]:
        reporter = reporter or Reporter()
        data = prepare_data(self.dataset, self.settings, self.trainer.device, self.trainer.precision)
        writer = AsyncWriter()
        target = float(self.settings["target"])
        try:
            for run in range(len(self.done), self.runs):
                seed = self.seed + run
                if self.runs > 1:
                    reporter.note(f"--- run {run + 1} of {self.runs} (seed {seed})")

                def on_epoch(snap: Snapshot, run=run):
                    for row in snap.rows:
                        row["run"] = run
                    self.rundir.append_metrics(snap.rows[-1])
                    if self.checkpoint:
                        writer.submit({"format": FORMAT, "run": run, "snapshot": snap.to_dict(),
                                       "done": list(self.done)}, self.rundir.checkpoint)

                resume, self.snapshot = self.snapshot, None
                result = self.trainer.run(self.graph, data, self.settings, seed, reporter=reporter,
                                          on_epoch=on_epoch, resume=resume, keep_model=False)
                self.done.append(self._finished(run, result.rows, result.warmup_s))
                self.rundir.write_result(self.name, self.done, self.runs, target)
        finally:
            writer.close()
        return self.done
