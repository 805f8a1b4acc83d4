"""`netc search FILE...`: train every (network, epochs, seed) of search spaces into OUT/results.csv.

Resumable: rerunning the same command skips the runs already in results.csv. This module only
reads flags and shows progress; the work is `dsl.search.driver.Search` (see docs/search.md).
"""

from __future__ import annotations

import time
from typing import Any

import click
from typing_extensions import override

from dsl.commands.common import engine_options, max_params_option, positive
from dsl.errors import NetError
from dsl.search.driver import SearchEvents

DEFAULT_KEEP = 3  # runs that keep their weights when --keep is not given


def _fmt_time(s: float) -> str:
    s = int(round(s))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


class ConsoleEvents(SearchEvents):
    """Runs done / total with an ETA (from this session's pace) and a rich bar on a terminal;
    warnings on stderr."""

    def __init__(self, console: Any, header: str = "", where: str = ""):
        self.console, self.header, self.where = console, header, where
        self.progress: Any = None
        self.total = self.done = self.todo = self.finished_now = 0
        self.start = time.perf_counter()

    @override
    def log(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    @override
    def warning(self, text: str) -> None:
        click.echo(text, err=True)

    @override
    def started(self, total: int, done_before: int) -> None:
        if self.header:
            to_go = f", {total - done_before} to go" if total else ""  # a --budget without --trials has no total
            self.log(f"{self.header}; {done_before} already done{to_go} -> {self.where}")
        self.total, self.done, self.todo = total, done_before, total - done_before
        self.start = time.perf_counter()
        if self.todo and self.console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(
                TextColumn("search"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("ETA {task.fields[eta]}"),
                console=self.console,
            )
            self.task = self.progress.add_task("search", total=total, completed=done_before, eta="?")
            self.progress.start()

    def _eta(self) -> str:
        left = self.todo - self.finished_now
        if not self.finished_now:
            return "?"
        return _fmt_time((time.perf_counter() - self.start) / self.finished_now * left) if left else "0s"

    def _advance(self, line: str) -> None:
        self.done += 1
        self.finished_now += 1
        eta = self._eta()
        self.log(f"[{self.done:>{len(str(self.total))}}/{self.total}] {line}  ETA {eta}")
        if self.progress is not None:
            self.progress.update(self.task, completed=self.done, eta=eta)

    @override
    def finished(self, spec: Any, row: dict[str, Any]) -> None:
        self._advance(
            f"{spec.name} {spec.epochs} epochs seed {spec.seed}: test acc {row['test_acc']:.2%} "
            f"in {row['seconds']:.1f}s ({row['device']})"
        )

    @override
    def failed(self, spec: Any, message: str) -> None:
        self._advance(f"{spec.label()}: FAILED: {message.splitlines()[0]}")

    @override
    def stopped(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    @override
    def trial(self, number: int, name: str, state: str, row: dict[str, Any]) -> None:
        acc, secs = row["test_acc"], row["seconds"]
        if state == "pruned":
            what = f"pruned after epoch {row['epochs']:g} (test acc {acc:.2%}, {secs:.1f}s)"
        elif state == "repeat":
            what = f"drawn before: test acc {acc:.2%} (not trained again)"
        else:
            what = f"test acc {acc:.2%} in {secs:.1f}s ({row['device']})"
        self.log(f"trial {number}: {name}: {what}")

    @override
    def failed_trial(self, number: int, name: str, message: str) -> None:
        self.log(f"trial {number}: {name}: FAILED: {message.splitlines()[0]}")


@click.command("search")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--epochs",
    default=None,
    metavar="N[,N...]",
    help="training lengths to try, e.g. 20,22 (default: each file's own; lr knots are stretched)",
)
@click.option(
    "--runs", type=click.IntRange(1, 10_000), default=1, show_default=True, help="seeds per (network, epochs)"
)
@click.option(
    "--seed",
    type=click.IntRange(0, 2**31 - 1),
    default=0,
    show_default=True,
    help="first seed (runs use seed .. seed+runs-1)",
)
@click.option(
    "--data",
    default=None,
    metavar="NAME|PATH",
    help="a dataset by name (cifar10, cifar100, svhn, fashion-mnist, mnist, stl10) or a path (a torchvision "
    "layout, an image folder or .npz); default: CIFAR-10, downloaded once",
)
@click.option(
    "--out",
    default=None,
    metavar="DIR",
    help="results folder (default runs/search-<file stems>); rerun with the same DIR to resume",
)
@click.option(
    "--workers",
    type=int,
    default=1,
    show_default=True,
    callback=positive,
    help="local worker processes, one per device (cuda:0..N-1; on CPU the cores are split)",
)
@click.option(
    "--ray",
    "ray_address",
    default=None,
    metavar="ADDRESS",
    help="train each run (or trial) as a Ray task: 'local' starts Ray here, else a cluster address (needs "
    "netc[ray]; trials on a cluster need --storage)",
)
@click.option(
    "--variant",
    "variants",
    multiple=True,
    metavar="NAME",
    help="only this network (repeatable), e.g. --variant Backbone --variant Residual:L1+L3",
)
@click.option(
    "--strategy",
    type=click.Choice(["grid", "random", "tpe", "nsga2"]),
    default="grid",
    show_default=True,
    help="grid: every variant x --epochs x --runs (the article's study); random, tpe, nsga2: Optuna trials "
    "(needs netc[search]), for spaces of any size",
)
@click.option("--trials", type=click.IntRange(1, 10_000_000), default=None, help="trials in the study (not grid)")
@click.option(
    "--budget", default=None, metavar="TIME", help="start no trial after this long, e.g. 90s, 30m, 2h (not grid)"
)
@click.option(
    "--prune",
    type=click.Choice(["none", "median", "asha", "hyperband"]),
    default="none",
    show_default=True,
    help="stop unpromising trials early on their per-epoch test accuracy (not grid)",
)
@click.option(
    "--objective",
    "objective",
    default="acc",
    show_default=True,
    metavar="acc[,time|params|macs]",
    help="what trials are ranked by; several give the Pareto front (e.g. acc,time)",
)
@click.option(
    "--storage",
    default=None,
    metavar="URL",
    help="the study's database (default sqlite:///OUT/study.db); one URL shared by several machines (not grid)",
)
@click.option("--study", "study_name", default=None, metavar="NAME", help="the study's name (default netc-<file stem>)")
@click.option(
    "--keep",
    type=click.IntRange(0, 1000),
    default=None,
    help="the K best runs by the first --objective keep their weights as run folders in OUT/best (netc eval / "
    "export / predict); default 3 (0 for a grid with --workers or --ray, whose weights stay in the workers)",
)
@click.option("--dry-run", is_flag=True, help="list the grid (and what is already done) without training")
@engine_options
@max_params_option
def command(
    files: tuple[str, ...],
    epochs: str | None,
    runs: int,
    seed: int,
    data: str | None,
    out: str | None,
    workers: int,
    ray_address: str | None,
    variants: tuple[str, ...],
    device: str,
    precision: str,
    compile_: bool,
    batch_size: int | None,
    limit: int | None,
    limit_test: int | None,
    strategy: str,
    trials: int | None,
    budget: str | None,
    prune: str,
    objective: str,
    storage: str | None,
    study_name: str | None,
    keep: int | None,
    dry_run: bool,
    max_params: int,
) -> None:
    """Search the networks of the search-space FILEs.

    --strategy grid (the default, the article's study) trains every variant for each --epochs,
    --runs seeds each; random, tpe and nsga2 draw --trials variants from a space of any size as an
    Optuna study (OUT/study.db), --prune stops poor ones early, --objective ranks them.

    Each finished run appends a row to OUT/results.csv; rerunning the same command resumes a
    stopped search. Then: netc report OUT --plot OUT/plot.png"""
    from rich.console import Console

    from dsl.search.driver import Search
    from dsl.search.grid import parse_epochs
    from dsl.search.report import group_rows, plain_table
    from dsl.search.runner import EngineConfig
    from dsl.search.study import parse_budget, parse_objectives

    engine = EngineConfig(data, limit, limit_test, device, precision, compile_)
    objectives = parse_objectives(objective)
    if strategy != "grid":
        given = {"--runs": runs != 1, "--variant": bool(variants), "--workers": workers != 1, "--dry-run": dry_run}
        for flag, on in given.items():
            if on:
                hint = "a search by trials trains one run per trial" + (
                    ", --ray trains several at once" * (flag == "--workers")
                )
                raise NetError(f"{flag} applies to --strategy grid", hint=hint)
        if ray_address is not None:
            from dsl.search.ray_trials import check_ray_trials

            check_ray_trials(ray_address, storage, keep or 0)
        keep = (DEFAULT_KEEP if ray_address is None else 0) if keep is None else keep
        _trials(files, strategy, trials, parse_budget(budget), prune, objectives, storage, study_name, keep, epochs,
                seed, batch_size, max_params, out, engine, ray_address)  # fmt: skip
        return
    for flag, on in {"--trials": trials is not None, "--budget": budget is not None, "--prune": prune != "none",
                     "--storage": storage is not None, "--study": study_name is not None}.items():  # fmt: skip
        if on:
            raise NetError(f"{flag} applies to --strategy random, tpe or nsga2", hint="grid trains every variant")
    search = Search(
        files,
        epochs=parse_epochs(epochs),
        runs=runs,
        seed=seed,
        variants=variants,
        out=out,
        engine=engine,
        batch_size=batch_size,
        max_params=max_params,
    )
    shape = (
        f"netc search: {len(search.nets)} networks x {search.lengths()} training lengths x {runs} runs = "
        f"{len(search.specs)} runs"
    )
    events = ConsoleEvents(Console(highlight=False, soft_wrap=True), shape, str(search.results_path))
    if dry_run:
        specs, done, warnings = search.status()
        for w in warnings:
            events.warning(w)
        todo = [s for s in specs if s.key not in done]
        events.log(f"{shape}; {len(specs) - len(todo)} done, {len(todo)} to go ({search.results_path})")
        for s in specs:
            events.log(
                f"  {'done' if s.key in done else 'todo'}  {s.label():<40} net {s.network.net_hash}  "
                f"config {s.config_hash}"
            )
        return
    if keep is None:
        keep = DEFAULT_KEEP if workers == 1 and ray_address is None else 0
    outcome = search.run(events, workers=workers, ray_address=ray_address, keep=keep, objectives=objectives)
    groups = group_rows(outcome.rows)
    if groups:
        events.log(plain_table(groups))
    events.log(
        f"results in {search.results_path}; table and plot: netc report {search.out} --plot {search.out / 'plot.png'}"
    )
    if outcome.failures:
        tried = outcome.total - outcome.done_before
        raise NetError(
            f"{len(outcome.failures)} of {tried} runs failed (rerun the command to retry them):\n  "
            + "\n  ".join(outcome.failures)
        )


def _trials(
    files: tuple[str, ...],
    strategy: str,
    trials: int | None,
    budget_s: float | None,
    prune: str,
    objectives: list[str],
    storage: str | None,
    study_name: str | None,
    keep: int,
    epochs: str | None,
    seed: int,
    batch_size: int | None,
    max_params: int,
    out: str | None,
    engine: Any,
    ray_address: str | None,
) -> None:
    """A search by trials (dsl.search.trials), shown as it goes; then the front and the best."""
    from pathlib import Path

    from rich.console import Console

    from dsl.search.driver import default_out
    from dsl.search.grid import parse_epochs
    from dsl.search.pareto import summary
    from dsl.search.trials import TrialPlan, TrialSearch

    if len(files) != 1:
        raise NetError(f"--strategy {strategy} searches one file, got {len(files)}", hint="search each file on its own")
    lengths = parse_epochs(epochs)
    if lengths is not None and len(lengths) > 1:
        raise NetError(f"--strategy {strategy} trains at one length, got --epochs {epochs}")
    plan = TrialPlan(files[0], strategy, trials, budget_s, prune, tuple(objectives), storage, study_name, keep,
                     lengths[0] if lengths else None, seed, batch_size, max_params, ray_address)  # fmt: skip
    where = Path(out) if out else default_out(files)
    search = TrialSearch(plan, where, engine)
    size = search.program.count()
    goal = " and ".join(
        x for x in (f"{trials} trials" if trials else "", f"a budget of {budget_s:.0f}s" if budget_s else "") if x
    )
    header = (f"netc search: {strategy} over {size:,} variants, {goal}, objective {','.join(objectives)}, "
              f"prune {prune}")  # fmt: skip
    events = ConsoleEvents(Console(highlight=False, soft_wrap=True), header, str(search.results_path))
    outcome, counts = search.run(events)
    events.log(
        f"{counts.complete} trained, {counts.pruned} pruned, {len(counts.skipped)} skipped (do not build), "
        f"{counts.repeated} drawn again; study in {search.out} (optuna-dashboard {storage or 'sqlite:///' + str((search.out / 'study.db').resolve())})"
    )
    text = summary(outcome.rows, objectives)
    if text:
        events.log(text)
    if keep:
        events.log(
            f"the {keep} best keep their weights: {search.out / 'best'} (netc eval / export / predict take them)"
        )
