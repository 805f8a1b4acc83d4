"""Running a search: the grid of runs, the search folder (lock, manifest, results.csv, per-run
details), resumption, and the backends. The Python API behind `netc search`:

    from dsl.search.driver import Search, SearchEvents
    search = Search(["nets/search_residual.net"], epochs=[20], runs=2, out="runs/s")
    search.status()                    # (every RunSpec, the keys already in results.csv)
    outcome = search.run(SearchEvents())   # trains what is not done yet; outcome.failures

Everything the command line shows comes through `SearchEvents` callbacks; nothing here
prints. A search folder is locked while a search writes to it; every file is written
atomically; a rerun with the same folder skips the finished runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dsl import __version__
from dsl.errors import NetError
from dsl.fileio import write_text
from dsl.search import grid
from dsl.search.keep import Keeper
from dsl.search.results import FILENAME, ResultsFile, SearchLock
from dsl.search.runner import EngineConfig


class SearchEvents:
    """What a running search reports; override what you want to see."""

    def log(self, text: str) -> None:
        """A line of information (data loaded, workers started)."""

    def warning(self, text: str) -> None:
        """A problem that does not stop the search (e.g. a results.csv line kept but not read)."""

    def started(self, total: int, done_before: int) -> None:
        """Training begins: `total` runs in the grid, `done_before` already in results.csv."""

    def finished(self, spec: grid.RunSpec, row: dict[str, Any]) -> None:
        """A run finished and its row is in results.csv."""

    def failed(self, spec: grid.RunSpec, message: str) -> None:
        """A run failed (the search goes on; a rerun retries it)."""

    def stopped(self) -> None:
        """Training ended (normally or not)."""

    def trial(self, number: int, name: str, state: str, row: dict[str, Any]) -> None:
        """A trial ended: `state` is complete, pruned, or repeat (a variant drawn before, told its result)."""

    def failed_trial(self, number: int, name: str, message: str) -> None:
        """A trial's training failed (the search stops: the same error would come again)."""


@dataclass
class SearchOutcome:
    """What a search did."""

    total: int
    done_before: int
    finished: int = 0
    failures: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)  # every valid row of results.csv afterwards


def default_out(files: Sequence[str | os.PathLike[str]]) -> Path:
    """runs/search-<file stems>."""
    stems = "+".join(Path(f).stem for f in files)
    return Path("runs") / f"search-{stems[:80]}"


class Search:
    """A grid of runs over search-space files, bound to one search folder."""

    def __init__(
        self,
        files: Sequence[str],
        *,
        epochs: list[int] | None = None,
        runs: int = 1,
        seed: int = 0,
        variants: Sequence[str] = (),
        out: str | os.PathLike[str] | None = None,
        engine: EngineConfig | None = None,
        batch_size: int | None = None,
        max_params: int = 1_000_000_000,
    ):
        engine = engine or EngineConfig()
        if engine.data is not None:
            from dsl.data import check_data_path

            check_data_path(engine.data)  # the clear message before any work
        self.files = [str(f) for f in files]
        self.batch_size, self.max_params = batch_size, max_params
        self.epochs, self.runs, self.seed, self.variants = epochs, runs, seed, list(variants)
        self.skipped: list[str] = []  # variants that do not build: warned of, not trained
        self.nets = grid.networks(self.files, self.variants or None, self.skipped, max_params=max_params)
        self.engine = engine.bound(self.nets[0].graph.input_shape[0])
        self.specs = grid.plan(
            self.nets, epochs, runs, seed, self.engine.data_id(), engine.precision, {"batch_size": batch_size}
        )
        self.out = Path(out) if out else default_out(self.files)
        if self.out.exists() and not self.out.is_dir():
            raise NetError(f"--out '{self.out}' is a file, not a folder", file=str(self.out))

    @property
    def results_path(self) -> Path:
        """OUT/results.csv."""
        return self.out / FILENAME

    def lengths(self) -> int:
        """How many training lengths the grid has."""
        return len({s.epochs for s in self.specs})

    def status(self) -> tuple[list[grid.RunSpec], set[tuple[str, int, int]], list[str]]:
        """(every run of the grid, the keys already done, warnings about results.csv); no lock, no writes."""
        if not self.out.is_dir():
            return self.specs, set(), list(self.skipped)
        results = ResultsFile(self.out)
        return self.specs, results.done_keys(), [*self.skipped, *results.warnings]

    def run(
        self,
        events: SearchEvents | None = None,
        workers: int = 1,
        ray_address: str | None = None,
        keep: int = 0,
        objectives: Sequence[str] = ("acc",),
    ) -> SearchOutcome:
        """Train every run not yet in results.csv; each finished run is appended at once. The `keep`
        best runs by the first of `objectives` keep their weights in OUT/best (runs trained here only)."""
        events = events or SearchEvents()
        if ray_address is not None and workers > 1:
            raise NetError("--workers and --ray do not mix", hint="with --ray, Ray places one task per GPU (or CPU)")
        if keep and (workers > 1 or ray_address is not None):
            raise NetError(
                f"--keep {keep} needs the runs trained in this process (the weights stay in the worker that "
                f"trained them), not with {'--ray' if ray_address is not None else '--workers'}",
                hint="pass --keep 0, then train the best networks again with netc train; or search in one process",
            )
        self.objectives = list(objectives)
        if ray_address is not None:
            from dsl.search.ray_backend import import_ray

            import_ray()  # the clear message before any work
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise NetError(
                f"cannot create the results folder '{self.out}': {err.strerror or err}", file=str(self.out)
            ) from None
        with SearchLock(self.out):
            results = ResultsFile(self.out)
            for w in [*self.skipped, *results.warnings]:
                events.warning(w)
            shown = len(results.warnings)
            done = results.done_keys()
            todo = [s for s in self.specs if s.key not in done]
            outcome = SearchOutcome(len(self.specs), len(self.specs) - len(todo))
            self._write_manifest()
            events.started(outcome.total, outcome.done_before)
            if todo:
                (self.out / "runs").mkdir(exist_ok=True)

                def on_result(spec: grid.RunSpec, row: dict[str, Any], epoch_rows: list[dict[str, Any]]) -> None:
                    nonlocal shown
                    self._write_detail(spec, row, epoch_rows)
                    results.append(row)
                    for w in results.warnings[shown:]:
                        events.warning(w)
                    shown = len(results.warnings)
                    outcome.finished += 1
                    events.finished(spec, row)

                def on_fail(spec: grid.RunSpec, message: str) -> None:
                    outcome.failures.append(f"{spec.label()}: {message}")
                    events.failed(spec, message)

                keeper = Keeper(self.out / "best", keep, self.objectives, results.rows, name=grid.row_name)

                def on_model(spec: grid.RunSpec, row: dict[str, Any], worker: Any, choice: Any, result: Any) -> None:
                    keeper.offer(row, lambda folder: self._save_run(folder, spec, worker, choice, result))

                try:
                    self._execute(todo, workers, ray_address, on_result, on_fail, events, on_model if keep else None)
                finally:
                    events.stopped()
            outcome.rows = list(results.rows)
            return outcome

    def _write_manifest(self) -> None:
        e = self.engine
        manifest = {
            "files": self.files,
            "epochs": self.epochs,
            "runs": self.runs,
            "seed": self.seed,
            "variants": self.variants,
            "data": e.data,
            "limit": e.limit,
            "limit_test": e.limit_test,
            "device": e.device,
            "precision": e.precision,
            "compile": e.compile,
            "objectives": self.objectives,
            "netc": __version__,
        }
        write_text(self.out / "search.json", json.dumps(manifest, indent=1) + "\n")

    def _write_detail(self, spec: grid.RunSpec, row: dict[str, Any], epoch_rows: list[dict[str, Any]]) -> None:
        detail = self.out / "runs" / f"{grid.run_name(spec.name, spec.epochs, spec.seed, spec.config_hash)}.json"
        write_text(
            detail,
            json.dumps(
                {
                    "result": row,
                    "settings": spec.settings.to_json(),
                    "canonical": spec.network.canonical,
                    "epochs": epoch_rows,
                },
                indent=1,
            )
            + "\n",
        )

    def _execute(
        self,
        todo: list[grid.RunSpec],
        workers: int,
        ray_address: str | None,
        on_result: Any,
        on_fail: Any,
        events: SearchEvents,
        on_model: Any = None,
    ) -> None:
        from dsl.search import runner

        if ray_address is not None:
            from dsl.search.ray_backend import run_ray

            run_ray(ray_address, todo, self.engine, on_result, on_fail, log=events.log)
        elif workers > 1:
            runner.run_workers(todo, self.engine, workers, on_result, on_fail, log=events.log)
        else:
            ds = runner.load_data(self.engine)
            events.log(f"data: {ds.describe()}")
            if ds.notice:
                events.log(ds.notice)
            runner.run_local(todo, self.engine, on_result, on_fail, dataset=ds, on_model=on_model)

    def _save_run(self, folder: Path, spec: grid.RunSpec, worker: Any, choice: Any, result: Any) -> None:
        """A kept run written as a `netc train` run folder."""
        from dsl.train.keep import save_trained_run
        from dsl.train.request import TrainRequest

        e = self.engine
        req = TrainRequest(
            file=spec.network.file,
            data=e.data,
            epochs=spec.epochs,  # type: ignore[arg-type]  # a fraction (9.9) cuts the last epoch short, as in the grid
            batch_size=self.batch_size,
            seed=spec.seed,
            variant=spec.network.variant,
            out=str(folder),
            device=e.device,
            precision=e.precision,
            compile=e.compile,
            limit=e.limit,
            limit_test=e.limit_test,
            checkpoint=False,
            max_params=self.max_params,
        )
        save_trained_run(spec.network.graph, worker.dataset(), spec.settings, worker.trainer, req, choice, result)
