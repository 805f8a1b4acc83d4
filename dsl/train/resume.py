"""Resuming a run folder: only ever the same run.

`resume_session` reopens a run folder (taking its lock), rebuilds the network and checks it
against the run's fingerprint, recomputes the settings from the file and the run's own flags
and checks them against the run's, reloads the data and checks its digest, and picks the
latest good checkpoint. Any difference is refused with exit 2 and a message saying what
changed; nothing is silently restarted or replaced.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from dsl.errors import DataError, NetError
from dsl.job import Job
from dsl.settings import SettingsError
from dsl.train import checkpoint
from dsl.train.datapath import check_fit, settle
from dsl.train.distributed import World
from dsl.train.engine import Trainer
from dsl.train.identity import changed_sources, dataset_digest
from dsl.train.request import ResumeRequest
from dsl.train.rundir import RunConfig, RunDir
from dsl.train.session import Session, relative_sources


def resume_session(
    req: ResumeRequest | str | os.PathLike[str], say: Callable[[str], None] = print, world: World | None = None
) -> Session:
    """A session continuing `req.run_dir` exactly where it stopped (see the module docstring), through
    the data path it started on (`req.workers`: the streamed path's worker processes; they change no
    result). A plain run folder path resumes with every flag at its default."""
    from dsl.data import open_dataset

    req = req if isinstance(req, ResumeRequest) else ResumeRequest(str(req))
    file, data, device, compile, max_params = req.file, req.data, req.device, req.compile, req.max_params
    world = world or World()
    rd = RunDir.open(req.run_dir)
    # the extra processes of a multi-process run read the folder; rank 0 holds it
    lock: AbstractContextManager[Any] = rd.lock() if world.main else nullcontext()
    lock.__enter__()
    try:
        cfg = rd.read_config()
        if not cfg.checkpoint:
            raise NetError(
                f"'{rd.path}' was trained with --no-checkpoint, so it has nothing to resume from",
                file=str(rd.path),
                hint="train it again (without --no-checkpoint to be able to resume)",
            )
        job = _same_network(cfg, file, max_params, say)
        _same_settings(cfg, job, rd)
        graph = job.graph
        d = cfg.data
        ds = open_dataset(data or d.arg, limit=d.limit, limit_test=d.limit_test, channels=graph.input_shape[0])
        check_fit(ds, graph, cfg.settings)
        ds = settle(ds, d.path)
        if dataset_digest(ds) != d.digest:
            raise DataError(
                f"the data differs from the data this run trained on ({len(ds.train_y)} train / "
                f"{len(ds.test_y)} test images now, {d.n_train} / {d.n_test} then, and their contents "
                "differ)"
                if (len(ds.train_y), len(ds.test_y)) != (d.n_train, d.n_test)
                else "the data differs from the data this run trained on (same sizes, other contents)",
                file=ds.source,
                hint=f"resume with the same --data ({d.arg or 'CIFAR-10 download'})",
            )
        trainer = Trainer(
            device,
            cfg.device.get("precision", "auto"),
            bool(cfg.device.get("compile", False)) if compile is None else compile,
            world=world,
        )
        session = Session(rd, lock, cfg, graph, ds, trainer, workers=req.workers)
        loaded = checkpoint.load_latest(rd.checkpoint, session.validate_checkpoint)
        if loaded is None:
            epochs = rd.metrics_rows()
            if epochs:
                raise NetError(
                    f"'{rd.path}' has no checkpoint, but metrics.csv records {epochs} finished epoch(s); "
                    "resuming would silently start over",
                    file=str(rd.path),
                    hint="restore checkpoint.pt, or train again into a new folder",
                )
            say(
                f"note: '{rd.path}' stopped before its first checkpoint: nothing to resume, the run starts from its beginning"
            )
        else:
            if loaded.note:
                say(f"note: {loaded.note}")
            session.restore(loaded.data)
        return session
    except BaseException:
        lock.__exit__(None, None, None)
        raise


def _same_network(cfg: RunConfig, file: str | None, max_params: int, say: Callable[[str], None]) -> Job:
    """The run's network (and its file's recipe), from its file if it is there (refused if it
    changed), else from the copy of every source file kept in config.json."""
    from dsl.front.loader import load_program, load_saved

    path = Path(file) if file else (Path(cfg.net.file) if cfg.net.file else None)
    shape = cfg.input_shape  # the run's own --input / --classes
    if path is not None and path.exists():
        job = load_program(path, shape, cfg.net.classes, max_params=max_params).job(cfg.net.variant)
        graph = job.graph
        if graph.fingerprint == cfg.fingerprint:
            return job
        changes = changed_sources(cfg.sources, relative_sources(graph)[1])
        detail = "\n  ".join(changes) if changes else "its files are unchanged, but this netc expands them differently"
        raise NetError(
            f"the network changed since this run started; resuming would train a different network on "
            f"the old weights:\n  {detail}",
            file=str(path),
            hint="undo the change to resume, or train the changed network as a new run",
        )
    job = load_saved(cfg.sources, cfg.net.main_source, shape, cfg.net.classes, max_params=max_params).job(
        cfg.net.variant
    )
    graph = job.graph
    if graph.fingerprint != cfg.fingerprint:
        raise NetError(
            "the copy of the network saved in config.json expands differently with this netc "
            f"(fingerprint {graph.fingerprint}, the run's {cfg.fingerprint})",
            file=cfg.net.file,
            hint="resume with the netc version that started the run",
        )
    say(f"note: {path or 'the net file'} is gone; using the copy of its sources saved in config.json")
    return job


def _same_settings(cfg: RunConfig, job: Job, rd: RunDir) -> None:
    """The file's settings with the run's own flags must still give the run's settings."""
    graph = job.graph
    try:
        now = job.settings.with_overrides(**cfg.overrides)
    except (SettingsError, TypeError) as err:
        raise NetError(f"the run's flags no longer apply to the file's settings ({err})", file=str(rd.config)) from None
    if now != cfg.settings:
        diff = "\n  ".join(cfg.settings.differences(now))
        raise NetError(
            f"the training settings changed since this run started:\n  {diff}",
            file=graph.file,
            hint="undo the change to resume, or train with the new settings as a new run",
        )
