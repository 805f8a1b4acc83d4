"""`netc search FILE...`: train every (network, epochs, seed) of search spaces into OUT/results.csv.

Resumable: rerunning the same command skips the runs already in results.csv. See docs/search.md;
the work is in `dsl.search` (grid, results, runner, ray_backend, report).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import click

from ..errors import NetError
from .common import engine_options, positive, limits, max_params_option


def _fmt_time(s: float) -> str:
    s = int(round(s))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


class SearchProgress:
    """Runs done / total and an ETA (from this session's pace); a rich bar on a terminal."""

    def __init__(self, console, total: int, done_before: int):
        self.console, self.total, self.done = console, total, done_before
        self.todo = total - done_before
        self.finished = 0
        self.start = time.perf_counter()
        self.progress = None
        if console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
            self.progress = Progress(TextColumn("search"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                     TextColumn("ETA {task.fields[eta]}"), console=console)
            self.task = self.progress.add_task("search", total=total, completed=done_before, eta="?")
            self.progress.start()

    def eta(self) -> str:
        if not self.finished:
            return "?"
        left = self.todo - self.finished
        return _fmt_time((time.perf_counter() - self.start) / self.finished * left) if left else "0s"

    def print(self, text: str):
        self.console.print(text, markup=False, highlight=False)

    def advance(self, line: str):
        self.done += 1
        self.finished += 1
        eta = self.eta()
        w = len(str(self.total))
        self.print(f"[{self.done:>{w}}/{self.total}] {line}  ETA {eta}")
        if self.progress is not None:
            self.progress.update(self.task, completed=self.done, eta=eta)

    def close(self):
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def _default_out(files) -> Path:
    stems = "+".join(Path(f).stem for f in files)
    return Path("runs") / f"search-{stems[:80]}"


@click.command("search")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--epochs", default=None, metavar="N[,N...]",
              help="training lengths to try, e.g. 20,22 (default: each file's own; lr knots are stretched)")
@click.option("--runs", type=int, default=1, show_default=True, callback=positive,
              help="seeds per (network, epochs)")
@click.option("--seed", type=int, default=0, show_default=True, help="first seed (runs use seed .. seed+runs-1)")
@click.option("--data", default=None, metavar="PATH",
              help="cifar-10-batches-py/ folder, image folder or .npz (default: CIFAR-10, downloaded once)")
@click.option("--out", default=None, metavar="DIR",
              help="results folder (default runs/search-<file stems>); rerun with the same DIR to resume")
@click.option("--workers", type=int, default=1, show_default=True, callback=positive,
              help="local worker processes, one per device (cuda:0..N-1; on CPU the cores are split)")
@click.option("--ray", "ray_address", default=None, metavar="ADDRESS",
              help="run each run as a Ray task: 'local' starts Ray here, else a cluster address (needs netc[ray])")
@click.option("--variant", "variants", multiple=True, metavar="NAME",
              help="only this network (repeatable), e.g. --variant Backbone --variant Residual:L1+L3")
@click.option("--dry-run", is_flag=True, help="list the grid (and what is already done) without training")
@engine_options
@max_params_option
def command(files, epochs, runs, seed, data, out, workers, ray_address, variants, device, precision, compile_,
            batch_size, limit, limit_test, dry_run, max_params):
    """Train every network of the search-space FILEs for each --epochs, --runs seeds each.

    Each finished run appends a row to OUT/results.csv; rerunning the same command skips
    finished runs, so a stopped search resumes. Then: netc report OUT --plot OUT/plot.png"""
    from rich.console import Console

    from ..search import grid
    from ..search.report import group_rows, plain_table
    from ..search.results import CliResultsFile as ResultsFile, SearchLock as FolderLock, write_text as atomic_write_text
    from ..search.runner import EngineConfig

    if ray_address is not None and workers > 1:
        raise NetError("--workers and --ray do not mix", hint="with --ray, Ray places one task per GPU (or CPU)")
    if ray_address is not None:
        from ..search.ray_backend import import_ray
        import_ray()                              # the clear message before any work
    epochs_list = grid.parse_epochs(epochs)
    if data is not None and not Path(data).exists():
        from ..errors import DataError
        from ..data import USAGE
        raise DataError(f"data path '{data}' does not exist", file=str(data), hint=USAGE)
    nets = grid.networks(files, list(variants) or None, **limits(max_params))
    cfg = EngineConfig(data, limit, limit_test, device, precision, compile_, nets[0].graph.input_shape[0])
    overrides = {"batch_size": batch_size}
    specs = grid.expand(nets, epochs_list, runs, seed, cfg.data_id(), precision, overrides)
    out = Path(out) if out else _default_out(files)
    if out.exists() and not out.is_dir():
        raise NetError(f"--out '{out}' is a file, not a folder", file=str(out))
    console = Console(highlight=False, soft_wrap=True)
    say = lambda text: console.print(text, markup=False, highlight=False)

    if dry_run:
        done = ResultsFile(out).done_keys() if out.is_dir() else set()
        todo = [s for s in specs if s.key not in done]
        say(f"netc search: {len(nets)} networks x {len(set(s.epochs for s in specs))} training lengths x {runs} "
            f"runs = {len(specs)} runs; {len(specs) - len(todo)} done, {len(todo)} to go ({out / 'results.csv'})")
        for s in specs:
            say(f"  {'done' if s.key in done else 'todo'}  {s.label():<40} net {s.network.net_hash}  "
                f"config {s.config_hash}")
        return

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise NetError(f"cannot create the results folder '{out}': {err.strerror or err}", file=str(out)) from None
    with FolderLock(out):
        results = ResultsFile(out)
        done = results.done_keys()
        todo = [s for s in specs if s.key not in done]
        _write_manifest(out, files, epochs_list, runs, seed, cfg, variants, atomic_write_text)
        say(f"netc search: {len(nets)} networks x {len(set(s.epochs for s in specs))} training lengths x {runs} "
            f"runs = {len(specs)} runs; {len(specs) - len(todo)} already done, {len(todo)} to go -> "
            f"{results.path}")
        failures: list[str] = []
        if todo:
            prog = SearchProgress(console, len(specs), len(specs) - len(todo))
            (out / "runs").mkdir(exist_ok=True)

            def on_result(spec, row, epoch_rows):
                from ..train.rundir import safe_name
                detail = out / "runs" / f"{safe_name(spec.name)}-{spec.epochs}ep-seed{spec.seed}-{spec.config_hash}.json"
                atomic_write_text(detail, json.dumps({"result": row, "settings": _jsonable(spec.settings),
                                                      "canonical": spec.network.canonical, "epochs": epoch_rows},
                                                     indent=1) + "\n")
                results.append(row)
                prog.advance(f"{spec.name} {spec.epochs} epochs seed {spec.seed}: test acc {row['test_acc']:.4f} "
                             f"in {row['seconds']:.1f}s ({row['device']})")

            def on_fail(spec, message):
                failures.append(f"{spec.label()}: {message}")
                prog.advance(f"{spec.label()}: FAILED: {message.splitlines()[0]}")

            try:
                _execute(todo, cfg, workers, ray_address, on_result, on_fail, prog.print)
            finally:
                prog.close()
        groups = group_rows(ResultsFile(out).rows)
        if groups:
            say(plain_table(groups))
        say(f"results in {results.path}; table and plot: netc report {out} --plot {out / 'plot.png'}")
        if failures:
            raise NetError(f"{len(failures)} of {len(todo)} runs failed (rerun the command to retry them):\n  "
                           + "\n  ".join(failures))


def _jsonable(settings: dict) -> dict:
    return {k: ([list(p) for p in v] if k == "lr" else v) for k, v in settings.items()}


def _write_manifest(out, files, epochs, runs, seed, cfg, variants, write):
    import dsl
    manifest = {"files": [str(f) for f in files], "epochs": epochs, "runs": runs, "seed": seed,
                "variants": list(variants), "data": cfg.data, "limit": cfg.limit, "limit_test": cfg.limit_test,
                "device": cfg.device, "precision": cfg.precision, "compile": cfg.compile, "netc": dsl.__version__}
    write(out / "search.json", json.dumps(manifest, indent=1) + "\n")


def _execute(todo, cfg, workers, ray_address, on_result, on_fail, log):
    from ..search import runner

    if ray_address is not None:
        from ..search.ray_backend import run_ray
        run_ray(ray_address, todo, cfg, on_result, on_fail, log=log)
    elif workers > 1:
        runner.run_workers(todo, cfg, workers, on_result, on_fail, log=log)
    else:
        ds = runner.load_data(cfg)
        log(f"data: {ds.describe()}")
        if ds.notice:
            log(ds.notice)
        runner.run_local(todo, cfg, on_result, on_fail, dataset=ds)
