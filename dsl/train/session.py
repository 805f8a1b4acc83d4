"""A training session: `runs` seeds of one net into one run folder, resumable.

    session = Session.start(graph, dataset, settings, Trainer(...), TrainRequest("net.net", runs=3))
    session = Session.resume(run_dir, config, graph, dataset, trainer)   # see dsl.train.resume
    results = session.train(reporter)

After each epoch metrics.csv is rewritten and the checkpoint (current run's weights, optimizer,
RNG, plus the finished runs) replaced, both atomically; result.json is rewritten after each
finished run. A killed session resumes at its last completed epoch. The session holds the run
folder's lock from start to end, so two processes never train into one folder.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from dsl import __version__
from dsl.core.graph import Graph
from dsl.data.named import data_arg
from dsl.errors import NetError
from dsl.settings import TrainSettings
from dsl.train import checkpoint
from dsl.train.datapath import Choice, Feed
from dsl.train.device import device_name
from dsl.train.engine import RunHooks, Snapshot, Trainer
from dsl.train.identity import dataset_digest
from dsl.train.interrupt import StopRequest
from dsl.train.report import Reporter
from dsl.train.request import TrainRequest
from dsl.train.rundir import DataRecord, NetRecord, RunConfig, RunDir
from dsl.train.state import MidEpochSaves
from dsl.train.weights import checksum_file, save_weights

CHECKPOINT_FORMAT = 2


def relative_sources(graph: Graph) -> tuple[str, dict[str, str]]:
    """The graph's source files keyed relative to its main file's folder: (main key, sources).
    Keys stay valid wherever the run is resumed from."""
    base = os.path.dirname(graph.file)
    rel = {os.path.normpath(os.path.relpath(k, base or ".")): v for k, v in graph.sources.items()}
    return os.path.normpath(os.path.relpath(graph.file, base or ".")), rel


@dataclass
class Session:
    """N runs of one network into one run folder."""

    rundir: RunDir
    lock: contextlib.AbstractContextManager[Any]  # the folder's FolderLock (a null lock in extra processes)
    config: RunConfig
    graph: Graph
    dataset: Any
    trainer: Trainer
    done: list[dict[str, Any]] = field(default_factory=list)  # finished runs (with their rows)
    snapshot: Snapshot | None = None  # the unfinished run's last epoch
    choice: Choice | None = None  # the data path and why (None: the one config.json records)
    workers: int | None = None  # DataLoader worker processes on the streamed path (None: the default)
    save_every: float = 300.0  # seconds between checkpoints inside an epoch (0: at epoch ends and on Ctrl-C only)

    @property
    def data_path(self) -> str:
        """The data path the session trains through ("device" or "stream")."""
        return self.config.data.path

    def data_line(self) -> str:
        """One line saying which data path the session takes and why."""
        return (self.choice or Choice(self.data_path, "as the run started")).line()

    @property
    def writes(self) -> bool:
        """Whether this process writes the run folder: rank 0 of a multi-process run, or the only process."""
        return self.trainer.world.main

    @property
    def name(self) -> str:
        """The network's name."""
        return self.graph.name

    @property
    def settings(self) -> TrainSettings:
        """The run's training settings."""
        return self.config.settings

    @property
    def runs(self) -> int:
        """How many seeds the session trains."""
        return self.config.runs

    @property
    def seed(self) -> int:
        """The first run's seed."""
        return self.config.seed

    @classmethod
    def start(
        cls,
        graph: Graph,
        dataset: Any,
        settings: TrainSettings,
        trainer: Trainer,
        request: TrainRequest,
        *,
        overrides: dict[str, Any] | None = None,
        choice: Choice | None = None,
    ) -> Session:
        """A new run folder for `graph` as `request` asks (its settings, with the flags' `overrides`
        applied, are `settings`); writes config.json and takes the folder's lock (in the extra
        processes of a multi-process run: the same session, writing nothing)."""
        req = request
        out, runs, seed, checkpoint = req.out, req.runs, req.seed, req.checkpoint
        follower = not trainer.world.main
        rd = RunDir(Path(out or "runs")) if follower else RunDir.create(out, graph.name)
        lock: contextlib.AbstractContextManager[Any] = contextlib.nullcontext() if follower else rd.lock()
        lock.__enter__()
        dev = trainer.device
        main, sources = relative_sources(graph)
        choice = choice or Choice("device", "the default")
        # a folder read lazily has no one image size: record the size the network is fed
        shape = getattr(dataset, "image_shape", None) or (dataset.channels, *graph.input_shape[1:])
        config = RunConfig(
            net=NetRecord(
                graph.name,
                str(Path(req.file).resolve()),
                main,
                req.variant,
                graph.fingerprint,
                graph.canonical,
                sources,
                list(req.input_shape) if req.input_shape else None,
                req.classes,
                req.decisions,
            ),
            overrides={k: v for k, v in (overrides or {}).items() if v is not None},
            settings=settings,
            seed=seed,
            runs=runs,
            data=DataRecord(
                data_arg(req.data),  # a dataset's name stays a name; a path is made absolute
                dataset.source,
                dataset.layout,
                req.limit,
                req.limit_test,
                len(dataset.train_y),
                len(dataset.test_y),
                [int(v) for v in shape],
                dataset_digest(dataset),
                list(getattr(dataset, "classes", []) or []),
                choice.path,
            ),
            device={
                "type": dev.type,
                "name": device_name(dev),
                "precision": trainer.precision,
                "compile": trainer.compile,
                "channels_last": trainer.channels_last,
                "processes": trainer.world.size,  # DDP processes the run started with (resume may use others)
            },
            checkpoint=checkpoint,
            versions={
                "netc": __version__,
                "torch": torch.__version__,
                "cuda": torch.version.cuda,
                "cudnn": torch.backends.cudnn.version() if dev.type == "cuda" else None,
                "python": sys.version.split()[0],
                "platform": platform.platform(),
            },
        )
        try:
            if not follower:
                rd.write_json(rd.config, config.to_json())
        except BaseException:
            lock.__exit__(None, None, None)
            raise
        return cls(rd, lock, config, graph, dataset, trainer, choice=choice, workers=req.workers)

    def restore(self, ck: dict[str, Any]) -> None:
        """Continue from a verified checkpoint's contents."""
        self.done = list(ck["done"])
        self.snapshot = Snapshot.from_dict(ck["snapshot"]) if ck.get("snapshot") else None
        if self.snapshot is not None and self.snapshot.epoch >= self.settings.epoch_count:
            # the run had finished when the session stopped: its last checkpoint holds its final weights
            final = self.rundir.weights(len(self.done))
            if self.writes and not (final.exists() and checksum_file(final).exists()):
                save_weights(self.snapshot.model, self.rundir.weights(len(self.done)))
            self.done.append(self._finished(len(self.done), self.snapshot.rows, 0.0))
            self.snapshot = None
        rows = [r for d in self.done for r in d["rows"]] + (self.snapshot.rows if self.snapshot else [])
        if self.writes:
            self.rundir.write_metrics(rows)

    def validate_checkpoint(self, ck: dict[str, Any], path: Path) -> None:
        """Refuse a checkpoint that does not belong to this run (CheckpointError)."""
        problem = None
        if ck.get("format") != CHECKPOINT_FORMAT:
            problem = f"has format {ck.get('format')!r}, not {CHECKPOINT_FORMAT}"
        elif ck.get("fingerprint") != self.config.fingerprint:
            problem = "belongs to another network"
        elif not isinstance(ck.get("done"), list) or len(ck["done"]) > self.runs:
            problem = "has a malformed list of finished runs"
        else:
            snap = ck.get("snapshot")
            try:
                if snap is not None:
                    s = Snapshot.from_dict(snap)
                    inside = s.step > 0  # saved inside epoch s.epoch + 1 (Ctrl-C, or a periodic save)
                    if (
                        not (0 if inside else 1) <= s.epoch <= self.settings.epoch_count - (1 if inside else 0)
                        or s.step < 0
                        or (inside and (s.rng_epoch_cpu is None or s.partial_losses is None))
                        or s.seed != self.seed + len(ck["done"])
                    ):
                        problem = f"holds epoch {s.epoch} of seed {s.seed}, which this run never trains"
            except (KeyError, TypeError):
                problem = "has a malformed snapshot"
        if problem:
            raise checkpoint.CheckpointError(f"'{path}' {problem}", file=str(path))

    def _finished(self, run: int, rows: list[dict[str, Any]], warmup_s: float) -> dict[str, Any]:
        return finished_run(run, rows, warmup_s)

    def train(self, reporter: Reporter | None = None) -> list[dict[str, Any]]:
        """Train the remaining runs; returns every finished run. Releases the folder's lock."""
        try:
            return self._train(reporter or Reporter())
        finally:
            self.lock.__exit__(None, None, None)

    def close(self) -> None:
        """Release the run folder without training (e.g. after a refusal)."""
        self.lock.__exit__(None, None, None)

    def _train(self, reporter: Reporter) -> list[dict[str, Any]]:
        t = self.trainer
        size = (int(self.graph.input_shape[1]), int(self.graph.input_shape[2]))
        feed = Feed(self.dataset, t.device, t.precision, self.workers)
        try:
            return self._train_on(feed.data(self.settings, self.data_path, size), reporter)
        finally:
            feed.close()  # the streamed path's worker processes

    def _train_on(self, data: Any, reporter: Reporter) -> list[dict[str, Any]]:
        writer = checkpoint.AsyncWriter()
        target = self.settings.target
        finished = False
        try:
            for run in range(len(self.done), self.runs):
                seed = self.seed + run
                if self.runs > 1:
                    reporter.note(f"--- run {run + 1} of {self.runs} (seed {seed})")
                earlier = [r for d in self.done for r in d["rows"]]

                def on_epoch(snap: Snapshot, run: int = run, earlier: list[dict[str, Any]] = earlier) -> None:
                    for row in snap.rows:
                        row["run"] = run
                    self.rundir.write_metrics(earlier + snap.rows)
                    if self.config.checkpoint:
                        on_save(snap, run)

                def on_save(snap: Snapshot, run: int = run) -> None:
                    writer.submit(
                        {
                            "format": CHECKPOINT_FORMAT,
                            "fingerprint": self.config.fingerprint,
                            "run": run,
                            "snapshot": snap.to_dict(),
                            "done": list(self.done),
                        },
                        self.rundir.checkpoint,
                    )

                resume, self.snapshot = self.snapshot, None
                saving = self.writes and self.config.checkpoint
                with StopRequest() as stop:
                    hooks = RunHooks(
                        reporter,
                        on_epoch if self.writes else None,
                        MidEpochSaves(on_save, stop, self.save_every) if saving else None,
                    )
                    result = self.trainer.run(self.graph, data, self.settings, seed, resume=resume, hooks=hooks)
                assert result.model is not None
                if self.writes:
                    save_weights(result.model.state_dict(), self.rundir.weights(run))
                result.model = None
                writer.wait()  # the finished run's last checkpoint is on disk before result.json says so
                self.done.append(self._finished(run, result.rows, result.warmup_s))
                if self.writes:
                    self.rundir.write_result(self.name, self.done, self.runs, target)
            finished = True
        finally:
            if finished:
                writer.close()
            else:  # already failing: finish the pending save, but report the first failure
                with contextlib.suppress(NetError):
                    writer.close()
        if self.writes and len(self.done) >= self.runs:
            # complete: the last checkpoint stays (it says so to --resume); the one before is not needed
            with contextlib.suppress(OSError):
                checkpoint.previous(self.rundir.checkpoint).unlink()
        return self.done


def finished_run(run: int, rows: list[dict[str, Any]], warmup_s: float) -> dict[str, Any]:
    """What result.json says of a finished run, from its epoch rows."""
    last = rows[-1]
    return {
        "run": run,
        "seed": last["seed"],
        "epochs": last["epoch"],
        "test_acc": last["test_acc"],
        "test_loss": last["test_loss"],
        "seconds": last["total_s"],
        "warmup_s": warmup_s,
        "rows": [dict(r, run=run) for r in rows],
    }
