"""`netc search --strategy random|tpe|nsga2 --ray ADDRESS`: the trials of one study trained as Ray tasks.

The driver (this process) asks the study for trials and keeps as many in training as the cluster has
GPUs (or CPUs); each task trains one trial in a Ray worker process, which opens the same study by its
storage URL to report every epoch's test accuracy and to ask the pruner, exactly as a local trial
does. The row comes back to the driver, which appends it to results.csv and then tells the study, so
resuming, repeats and `netc report` are as for a search in one process. A variant drawn while the
same network is still training waits for that run's result instead of training twice.

Workers must reach the study: `--ray local` shares OUT/study.db on this machine; a cluster needs a
database every node reaches (`--storage postgresql://...`). The weights of a trial stay in the worker
that trained it, so `--keep` is refused here (as for the grid with --ray)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dsl.errors import NetError
from dsl.search.ray_backend import connect, import_ray, placement, worker_for
from dsl.search.runner import EngineConfig, load_data
from dsl.search.study import StudySpec, import_optuna, make_pruner
from dsl.search.trialrun import Heartbeat, Pruned, PruningReporter, pruned_row

if TYPE_CHECKING:
    from dsl.search.grid import RunSpec
    from dsl.search.trials import Drawn, Tally, TrialSearch


def check_ray_trials(address: str, storage: str | None, keep: int) -> None:
    """Refuse what cannot work with Ray before any work: a cluster without a shared study, --keep."""
    if address != "local" and storage is None:
        raise NetError(
            f"--ray {address} needs the study in a database every node reaches",
            hint="pass --storage postgresql://... (or mysql://...); OUT/study.db is on this machine only "
            "(--ray local shares it)",
        )
    if keep:
        raise NetError(
            f"--keep {keep} needs the trials trained in this process (the weights stay in the Ray worker that "
            "trained them)",
            hint="pass --keep 0 with --ray, then train the best variants again with netc train --variant",
        )


@dataclass(frozen=True)
class StudyRef:
    """How a Ray worker reaches the study: its storage, name and kind, and whether epochs are reported."""

    url: str
    name: str
    spec: StudySpec
    report: bool  # Optuna takes intermediate values of single-objective studies only


def _trial_task(
    cfg: EngineConfig, data_box: list[Any], spec: RunSpec, ref: StudyRef, trial_id: int, number: int
) -> tuple[str, Any]:
    """Runs in a Ray worker: train one trial, reporting each epoch to the study and asking its pruner."""
    worker = worker_for(cfg, data_box)
    optuna = import_optuna()
    study = optuna.load_study(
        study_name=ref.name, storage=optuna.storages.RDBStorage(ref.url), pruner=make_pruner(optuna, ref.spec)
    )
    trial = optuna.trial.Trial(study, trial_id)
    reporter = PruningReporter(trial, study, lambda row: pruned_row(spec, row, number, worker), ref.report)
    try:
        with Heartbeat(study, trial):
            return ("complete", worker.run(spec, reporter))
    except Pruned as p:
        return ("pruned", p.row)
    except NetError as err:
        return ("failed", str(err))


def run_trials_on_ray(search: TrialSearch, at: Tally, finished: int) -> None:
    """Ask, train on Ray and tell until --trials are in the study or --budget is spent."""
    assert search.plan.ray is not None
    ray = import_ray()
    started = connect(ray, search.plan.ray, at.events.log)
    try:
        task_cfg, opts, slots = placement(ray, search.engine)
        remote = ray.remote(max_calls=0, max_retries=0, **opts)(_trial_task)
        box = [ray.put(load_data(search.engine))]
        at.events.log(f"up to {slots} trials at a time on Ray")
        study_ref = StudyRef(at.url, search.name, search.spec, len(search.spec.objectives) == 1)
        inflight: dict[Any, Drawn] = {}
        busy: dict[Any, list[Any]] = {}  # a run's key -> trials drawn for it while it trains
        error = ""
        start = time.perf_counter()
        while True:
            while not error and len(inflight) < slots and search.more(at, finished + len(inflight), start):
                d = search.draw(at, busy)
                if d is None:
                    finished += 1
                    continue
                busy[d.spec.key] = []
                inflight[remote.remote(task_cfg, box, d.spec, study_ref, d.trial._trial_id, d.trial.number)] = d
            if not inflight:
                break
            done, _ = ray.wait(list(inflight), num_returns=1)
            for ref in done:
                d = inflight.pop(ref)
                finished += 1
                failure = _finish(search, at, d, ray, ref)
                error = error or failure
                _tell_waiting(search, at, d, busy.pop(d.spec.key, []), failure)
        if error:
            raise NetError(error)
    finally:
        if started:
            ray.shutdown()


def _finish(search: TrialSearch, at: Tally, d: Drawn, ray: Any, ref: Any) -> str:
    """Record a finished task's trial; its error message if it failed."""
    try:
        kind, payload = ray.get(ref)
    except ray.exceptions.RayError as err:
        text = str(err).strip()
        kind, payload = "failed", f"Ray task failed: {text.splitlines()[-1] if text else type(err).__name__}"
    if kind == "complete":
        search.record(at, d, "complete", *payload)
    elif kind == "pruned":
        search.record(at, d, "pruned", payload, [])
    else:
        search.record(at, d, "failed", {}, [], payload)
        return f"trial {d.trial.number} ({d.variant.name}) failed: {payload}"
    return ""


def _tell_waiting(search: TrialSearch, at: Tally, d: Drawn, waiting: list[Any], failure: str) -> None:
    """The trials drawn for `d`'s network while it trained: told its result (the same network, recipe
    and seed train the same, so a pruned run's twin is pruned too; a failed one's fails)."""
    states = at.optuna.trial.TrialState
    for trial, name in waiting:
        earlier = at.results.done_row(d.spec.key)
        if earlier is not None:
            search.tell_repeat(at, trial, name, earlier)
            continue
        trial.set_user_attr("repeat_of", d.trial.number)
        at.study.tell(trial, state=states.FAIL if failure else states.PRUNED)
        at.counts.repeated += 1
