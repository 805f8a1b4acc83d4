"""A search by trials (`--strategy random|tpe|nsga2`): ask the study for a variant, train it, tell.

Each trial: the study's sampler picks a decision for each choice the variant reaches
(`study.suggest`); a variant that does not build is told as failed with its located reason
(`skipped`) and the search goes on; one that does is trained, its test accuracy reported to the
pruner after every epoch (a pruned trial stops there and is told pruned); its row is appended to
OUT/results.csv first, then the study is told. So a search killed at any moment (even `kill -9`)
never counts a run twice or half: a trial cut off before its row is redone (its parameters queued
again); one cut off after its row is told from that row, without training again. A variant drawn
a second time (same network, recipe, data and seed) is told its first result. The K best trials
by the first objective keep their weights as run folders (`dsl.search.keep`).

With the default storage (OUT/study.db) the folder's lock guarantees one writer, so trials left
running belong to a killed search and are redone at once; in a shared `--storage`, a trial is
declared dead when its process has not been heard from for `study.GRACE_S` seconds.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dsl.errors import NetError
from dsl.fileio import write_text
from dsl.search import grid
from dsl.search.driver import SearchEvents, SearchOutcome
from dsl.search.keep import Keeper
from dsl.search.results import FILENAME, ResultsFile, SearchLock
from dsl.search.runner import EngineConfig, SearchWorker
from dsl.search.study import (
    OBJECTIVES,
    StudySpec,
    import_optuna,
    open_study,
    storage_url,
    suggest,
    warmup_epochs,
)
from dsl.search.trialrun import Heartbeat, Pruned, PruningReporter, heartbeat, pruned_row

if TYPE_CHECKING:
    from dsl.front.program import Program, Variant


@dataclass
class TrialPlan:
    """What `netc search` asks of a search by trials."""

    file: str
    strategy: str
    trials: int | None = None  # trials in the study (all sessions together); None: until --budget
    budget_s: float | None = None  # seconds this session may start trials for
    prune: str = "none"
    objectives: tuple[str, ...] = ("acc",)
    storage: str | None = None
    study: str | None = None
    keep: int = 3
    epochs: int | None = None
    seed: int = 0
    batch_size: int | None = None
    max_params: int = 1_000_000_000
    ray: str | None = None  # --ray ADDRESS: trials trained as Ray tasks


@dataclass
class TrialCounts:
    """How the trials of this session ended."""

    complete: int = 0
    pruned: int = 0
    skipped: list[str] = field(default_factory=list)  # 'name: reason'
    repeated: int = 0


@dataclass
class Drawn:
    """A trial that needs training: its variant, decisions and run."""

    trial: Any
    variant: Variant
    decisions: dict
    spec: grid.RunSpec


@dataclass
class Tally:
    """What one session of a trial search works with: the study, results.csv, the kept runs, the counts."""

    study: Any
    optuna: Any
    results: ResultsFile
    keeper: Keeper
    counts: TrialCounts
    events: SearchEvents
    url: str  # the study's storage


class TrialSearch:
    """A search by trials over one search-space file, bound to one results folder."""

    def __init__(self, plan: TrialPlan, out: Path, engine: EngineConfig):
        from dsl.front.loader import load_program

        if plan.trials is None and plan.budget_s is None:
            raise NetError(
                f"--strategy {plan.strategy} needs --trials N or --budget TIME (or both)",
                hint="e.g. --trials 50, or --budget 2h",
            )
        import_optuna()  # the clear message before any work
        if engine.data is not None:
            from dsl.data import check_data_path

            check_data_path(engine.data)
        self.plan, self.out = plan, out
        self.program: Program = load_program(plan.file, max_params=plan.max_params)
        if not self.program.is_space():
            raise NetError(
                f"'{plan.file}' holds no choices: there is nothing to search",
                file=plan.file,
                hint="train it with netc train, or write choices in it (conv(16 | 32), relu?)",
            )
        base = self.program.settings if not self.program.settings_space else self.program.settings_for({})
        first = grid.settings_for(base, plan.epochs, {"batch_size": plan.batch_size}, plan.file)
        self.engine = engine.bound(self.program.input_shape[0])
        self.spec = StudySpec(plan.strategy, plan.prune, tuple(plan.objectives), first.epochs, plan.seed,
                              self.engine.data_id(), plan.batch_size, warmup_epochs(first.lr))  # fmt: skip
        self.name = plan.study or f"netc-{Path(plan.file).stem}"

    @property
    def results_path(self) -> Path:
        """OUT/results.csv."""
        return self.out / FILENAME

    def run(self, events: SearchEvents | None = None) -> tuple[SearchOutcome, TrialCounts]:
        """Ask, train and tell until --trials are in the study or --budget is spent."""
        events = events or SearchEvents()
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise NetError(f"cannot create the results folder '{self.out}': {err.strerror or err}") from None
        with SearchLock(self.out):
            return self._run(events)

    def _run(self, events: SearchEvents) -> tuple[SearchOutcome, TrialCounts]:
        optuna = import_optuna()
        results = ResultsFile(self.out)
        for w in results.warnings:
            events.warning(w)
        url = storage_url(self.out, self.plan.storage)
        study = open_study(url, self.name, self.spec, shared=self.plan.storage is not None)
        self._write_manifest(url)
        if self.plan.storage is None:
            _redo_cut_off(study, optuna)  # the lock says no one else runs these
        else:
            optuna.storages.fail_stale_trials(study)
        keeper = Keeper(self.out / "best", self.plan.keep, self.spec.objectives, results.rows)
        at = Tally(study, optuna, results, keeper, TrialCounts(), events, url)
        outcome = SearchOutcome(total=self.plan.trials or 0, done_before=_finished(study, optuna))
        events.started(outcome.total, outcome.done_before)
        try:
            if self.plan.ray is not None:
                from dsl.search.ray_trials import run_trials_on_ray

                run_trials_on_ray(self, at, outcome.done_before)
            else:
                self._run_here(at, outcome.done_before)
        finally:
            events.stopped()
        outcome.finished = at.counts.complete + at.counts.pruned
        outcome.rows = list(results.rows)
        return outcome, at.counts

    def more(self, at: Tally, finished: int, start: float) -> bool:
        """Whether to start another trial: --trials not reached (counting `finished`), --budget not spent."""
        if self.plan.trials is not None and finished >= self.plan.trials:
            return False
        if self.plan.budget_s is not None and time.perf_counter() - start >= self.plan.budget_s:
            at.events.log(f"the budget of {self.plan.budget_s:.0f}s is spent")
            return False
        return True

    def _run_here(self, at: Tally, finished: int) -> None:
        """The trials one after another in this process."""
        worker = SearchWorker(self.engine)
        start = time.perf_counter()
        while True:
            if self.plan.storage is not None:  # other machines add trials too
                finished = _finished(at.study, at.optuna)
            if not self.more(at, finished, start):
                return
            drawn = self.draw(at)
            if drawn is not None:
                self._train_here(at, drawn, worker)
            finished += 1  # every trial is finished here: complete, pruned, repeated or skipped

    def draw(self, at: Tally, busy: dict[Any, list[Any]] | None = None) -> Drawn | None:
        """Ask the study for a trial and its variant; None when it needs no training: a variant that
        does not build is told failed, one trained before is told its result, one in `busy` (being
        trained for another trial) waits there to be told that trial's result."""
        study, optuna = at.study, at.optuna
        trial = study.ask()
        heartbeat(study, trial)
        decisions = suggest(trial, self.program)
        try:
            v = self.program.variant_of(decisions)
            spec = self._run_spec(v)
        except NetError as err:
            label = self.program.value_parts(decisions, self.program.space().valued)
            trial.set_user_attr("skipped", str(err))
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            at.counts.skipped.append(f"{label or 'trial ' + str(trial.number)}: {err.message}")
            at.events.warning(f"trial {trial.number}: the variant {label} does not build, skipped:\n{err}")
            return None
        trial.set_user_attr("variant", v.name)
        trial.set_user_attr("config_hash", spec.config_hash)
        earlier = at.results.done_row(spec.key)
        if earlier is not None:  # drawn before, or trained before a kill cut the telling off
            self.tell_repeat(at, trial, v.name, earlier)
            return None
        if busy is not None and spec.key in busy:
            busy[spec.key].append((trial, v.name))
            return None
        return Drawn(trial, v, decisions, spec)

    def tell_repeat(self, at: Tally, trial: Any, name: str, earlier: dict[str, Any]) -> None:
        """Tell a trial whose variant was trained before that earlier result."""
        at.counts.repeated += 1
        trial.set_user_attr("repeat_of", earlier.get("trial"))
        at.study.tell(trial, self._values(earlier))
        at.events.trial(trial.number, name, "repeat", earlier)

    def _train_here(self, at: Tally, d: Drawn, worker: SearchWorker) -> None:
        reporter = PruningReporter(
            d.trial,
            at.study,
            lambda row: pruned_row(d.spec, row, d.trial.number, worker),
            len(self.spec.objectives) == 1,
        )
        kept: dict[str, Any] = {}

        def keep(choice: Any, result: Any) -> None:
            kept["choice"], kept["result"] = choice, result

        try:
            with Heartbeat(at.study, d.trial):
                row, epoch_rows = worker.run(d.spec, reporter, keep if self.plan.keep else None)
        except Pruned as p:
            self.record(at, d, "pruned", p.row, [])
            return
        except NetError as err:
            self.record(at, d, "failed", {}, [], str(err))
            raise
        self.record(at, d, "complete", row, epoch_rows)
        if kept:
            at.keeper.offer(row, lambda folder: self._save_run(folder, d, worker, kept))
            kept.clear()  # the model goes

    def record(
        self, at: Tally, d: Drawn, state: str, row: dict[str, Any], epoch_rows: list[dict[str, Any]], error: str = ""
    ) -> None:
        """A trained trial's end: its row appended to results.csv first, then the study told."""
        states = at.optuna.trial.TrialState
        if state == "failed":
            d.trial.set_user_attr("failed", error)
            at.study.tell(d.trial, state=states.FAIL)
            at.events.failed_trial(d.trial.number, d.variant.name, error)
            return
        if state == "pruned":
            at.results.append(row)
            at.study.tell(d.trial, state=states.PRUNED)
            at.counts.pruned += 1
            at.events.trial(d.trial.number, d.variant.name, "pruned", row)
            return
        row.update(variant=d.variant.name, trial=d.trial.number, state="complete")
        self._write_detail(d.spec, row, epoch_rows, d.trial.number)
        at.results.append(row)
        at.study.tell(d.trial, self._values(row))
        at.counts.complete += 1
        at.events.trial(d.trial.number, d.variant.name, "complete", row)

    def _run_spec(self, v: Variant) -> grid.RunSpec:
        """The run of one variant: its graph checked for training, its recipe at the search's length."""
        from dsl.train.checks import check_trainable

        graph = self.program.graph(v)
        check_trainable(graph)
        settings = grid.settings_for(
            self.program.settings_for(v.assignment),
            self.plan.epochs,
            {"batch_size": self.plan.batch_size},
            self.plan.file,
        )
        net = grid.Network(v.name, self.plan.file, v.name, graph, graph.fingerprint, settings)
        h = grid.config_hash(net.net_hash, settings, self.engine.data_id(), self.engine.precision)
        return grid.RunSpec(net, settings.epochs, self.plan.seed, settings, h)

    def _values(self, row: dict[str, Any]) -> list[float]:
        return [float(row[OBJECTIVES[o][0]]) for o in self.spec.objectives]

    def _save_run(self, folder: Path, d: Drawn, worker: SearchWorker, kept: dict) -> None:
        from dsl.train.keep import save_trained_run
        from dsl.train.request import TrainRequest

        v, decisions, spec = d.variant, d.decisions, d.spec

        req = TrainRequest(
            file=self.plan.file,
            data=self.engine.data,
            epochs=self.plan.epochs,
            batch_size=self.plan.batch_size,
            seed=spec.seed,
            variant=v.name,
            out=str(folder),
            device=self.engine.device,
            precision=self.engine.precision,
            compile=self.engine.compile,
            limit=self.engine.limit,
            limit_test=self.engine.limit_test,
            checkpoint=False,
            max_params=self.plan.max_params,
            decisions=self.program.decision_list(decisions),
        )
        save_trained_run(
            spec.network.graph, worker.dataset(), spec.settings, worker.trainer, req, kept["choice"], kept["result"]
        )

    def _write_manifest(self, url: str) -> None:
        manifest = {
            "file": self.plan.file,
            "strategy": self.plan.strategy,
            "prune": self.plan.prune,
            "objectives": list(self.plan.objectives),
            "trials": self.plan.trials,
            "budget_s": self.plan.budget_s,
            "epochs": self.spec.epochs,
            "seed": self.plan.seed,
            "storage": url,
            "study": self.name,
            "keep": self.plan.keep,
            "data": self.engine.data,
            "limit": self.engine.limit,
            "limit_test": self.engine.limit_test,
        }
        write_text(self.out / "search.json", json.dumps(manifest, indent=1) + "\n")

    def _write_detail(self, spec: grid.RunSpec, row: dict, epoch_rows: list[dict], number: int) -> None:
        (self.out / "runs").mkdir(exist_ok=True)
        detail = {
            "result": row,
            "settings": spec.settings.to_json(),
            "canonical": spec.network.canonical,
            "epochs": epoch_rows,
        }
        write_text(self.out / "runs" / f"trial-{number}.json", json.dumps(detail, indent=1) + "\n")


def _finished(study: Any, optuna: Any) -> int:
    """Trials that count towards --trials: complete, pruned, and skipped (a variant that does not build)."""
    states = optuna.trial.TrialState
    n = 0
    for t in study.get_trials(deepcopy=False):
        if t.state in (states.COMPLETE, states.PRUNED) or (t.state == states.FAIL and "skipped" in t.user_attrs):
            n += 1
    return n


def _redo_cut_off(study: Any, optuna: Any) -> None:
    """Trials a killed search left running: failed, and their parameters queued to be tried again."""
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study._storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
        if t.params:
            study.enqueue_trial(t.params, user_attrs={"redo_of": t.number}, skip_if_exists=False)
