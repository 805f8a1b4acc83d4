"""One trial's training, wherever it runs (this process or a Ray worker): the pruner's reporter, the
heartbeat that says the trial is alive, and the row of a trial stopped early."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from typing_extensions import override

from dsl.search import grid
from dsl.search.runner import SearchWorker
from dsl.search.study import HEARTBEAT_S
from dsl.train.report import Reporter


class Pruned(Exception):
    """The pruner stopped a trial after an epoch (its row is the one given)."""

    def __init__(self, row: dict[str, Any]):
        super().__init__("pruned")
        self.row = row


def pruned_row(spec: grid.RunSpec, epoch_row: dict[str, Any], number: int, worker: SearchWorker) -> dict[str, Any]:
    """The results.csv row of a trial stopped after `epoch_row`'s epoch."""
    import datetime as _dt

    g = spec.network.graph
    return dict(
        variant=spec.network.name,
        file=spec.network.file,
        net_hash=spec.network.net_hash,
        config_hash=spec.config_hash,
        epochs=epoch_row["epoch"],
        seed=spec.seed,
        test_acc=epoch_row["test_acc"],
        test_loss=epoch_row["test_loss"],
        train_acc=epoch_row["train_acc"],
        train_loss=epoch_row["train_loss"],
        seconds=epoch_row["total_s"],
        warmup_s=0.0,
        target=spec.settings.target,
        params=int(g.params),
        macs=int(g.macs),
        device=worker.device_name,
        precision=worker.trainer.precision,
        worker=worker.name,
        finished_at=_dt.datetime.now().isoformat(timespec="seconds"),
        trial=number,
        state="pruned",
    )


class PruningReporter(Reporter):
    """Hears each epoch of a trial: reports its test accuracy to the study, raises `Pruned` when the
    pruner says so (and keeps the trial's heartbeat)."""

    def __init__(self, trial: Any, study: Any, row_of: Callable[[dict[str, Any]], dict[str, Any]], report: bool):
        self.trial, self.study, self.row_of = trial, study, row_of
        self.report = report  # Optuna takes intermediate values of single-objective studies only

    @override
    def epoch_end(self, row: dict[str, Any]) -> None:
        heartbeat(self.study, self.trial)
        acc = row.get("test_acc")
        if acc is None or not self.report:
            return  # eval_every_epoch = false: nothing to judge by until the end
        self.trial.report(float(acc), int(row["epoch"]))
        if self.trial.should_prune():
            raise Pruned(self.row_of(row))


class Heartbeat:
    """While a trial trains, its heartbeat every `HEARTBEAT_S` seconds (an epoch may outlast the grace
    period after which other machines sharing the study would take the trial for dead)."""

    def __init__(self, study: Any, trial: Any):
        self.study, self.trial = study, trial
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{trial.number}", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                heartbeat(self.study, self.trial)
            except Exception:  # noqa: BLE001 (a database hiccup must not kill training; the next beat retries)
                continue

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def heartbeat(study: Any, trial: Any) -> None:
    """Record that `trial` is alive (in a storage that keeps heartbeats)."""
    storage = study._storage  # Optuna keeps the storage private; its heartbeat API is public on it
    if hasattr(storage, "record_heartbeat"):
        storage.record_heartbeat(trial._trial_id)
