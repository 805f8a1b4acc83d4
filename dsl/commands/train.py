"""`netc train FILE`: train a net with its file's recipe; runs/<net>-<time>/ keeps the record.

See docs/training.md. The work is in `dsl.data` (datasets), `dsl.train.engine` (one run) and
`dsl.train.session` (N runs into a resumable run directory).
"""
from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource

from ..errors import DataError, NetError
from .common import engine_options, positive, limits, max_params_option

RESUMABLE_ONLY = ("device", "compile", "data", "quiet")  # flags a resumed run may still take


@click.command("train")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--data", default=None, metavar="PATH",
              help="cifar-10-batches-py/ folder, image folder (train/<class>/..., test/<class>/...) or .npz; "
                   "default: CIFAR-10 downloaded into $NETC_DATA or ~/.cache/netc")
@click.option("--epochs", type=int, default=None, callback=positive,
              help="override the file's epochs (the lr knots are stretched to fit)")
@click.option("--runs", type=int, default=1, show_default=True, callback=positive, help="train this many seeds")
@click.option("--seed", type=int, default=0, show_default=True, help="seed of the first run (run i uses seed+i)")
@click.option("--out", default=None, metavar="DIR", help="run folder to create (default runs/<net>-<timestamp>)")
@click.option("--resume", default=None, metavar="RUN_DIR", help="continue a stopped run from its last epoch")
@click.option("--variant", default=None, help="for a search-space file: which variant to train")
@click.option("--checkpoint/--no-checkpoint", default=True, show_default=True,
              help="write a checkpoint after every epoch (needed for --resume)")
@click.option("--quiet", is_flag=True, help="no progress bar or per-epoch lines; only the final table")
@engine_options
@max_params_option
def command(file, data, epochs, runs, seed, device, precision, compile_, out, resume, variant, batch_size, limit,
            limit_test, checkpoint, quiet, max_params):
    """Train a network on CIFAR-10 (or --data) with the recipe in its train { } block.

    Prints one line per epoch and a final table; writes config.json, metrics.csv,
    result.json and a checkpoint into the run folder. --runs N reports mean ± std."""
    ctx = click.get_current_context()
    given = {p.name for p in ctx.command.params
             if ctx.get_parameter_source(p.name) not in (ParameterSource.DEFAULT, None)}
    if resume is not None:
        extra = sorted(given - {"resume", "file", "max_params", *RESUMABLE_ONLY} - ({"compile_"}))
        if extra:
            raise NetError(f"--resume keeps the run's own settings; drop {', '.join('--' + e.replace('_', '-') for e in extra)}",
                           file=resume)
        _resume(resume, file, data, device, compile_ if "compile_" in given else None, quiet, limits(max_params))
        return
    if file is None:
        raise click.UsageError("give a .net FILE to train (or --resume RUN_DIR)")
    _train(file, data, epochs, runs, seed, device, precision, compile_, out, variant, batch_size, limit, limit_test,
           checkpoint, quiet, limits(max_params))


# ----------------------------------------------------------------------------- helpers
def _load_graph(file, variant, lim):
    from ..loader import load
    g = load(file, variant=variant, **lim)
    if g.variant_names and variant is None:
        raise NetError(f"'{file}' is a search space of {len(g.variant_names)} networks; pick one with --variant",
                       file=str(file), hint="its variants: " + ", ".join(g.variant_names))
    return g


def _settings(graph, epochs, batch_size):
    from ..settings import SettingsError, resolve
    try:
        return resolve(graph.settings, epochs, batch_size=batch_size)
    except SettingsError as err:
        raise NetError(str(err), file=str(graph.file)) from None


def _dataset(data, graph, limit, limit_test):
    from ..data import load_dataset
    ds = load_dataset(data, limit=limit, limit_test=limit_test, channels=graph.input_shape[0])
    ds.check_fits(graph)
    return ds


def _console(quiet):
    from rich.console import Console
    from ..train.report import ConsoleReporter, Reporter
    console = Console(highlight=False, soft_wrap=True)
    return console, (Reporter() if quiet else ConsoleReporter(console))


def _header(console, session, ds, trainer):
    from ..train.engine import device_name
    s = session.settings
    console.print(f"netc train {session.name}: {ds.describe()}", markup=False)
    if ds.notice:
        console.print(ds.notice, markup=False)
    console.print(f"device {device_name(trainer.device)} ({trainer.device.type}), precision {trainer.precision}, "
                  f"compile {'on' if trainer.compile else 'off'}; {s['epochs']} epochs, batch {s['batch_size']}, "
                  f"{session.runs} run(s) from seed {session.seed}; run folder {session.rundir.path}", markup=False)


def _run(console, reporter, session, ds, trainer):
    from ..train.report import results_table
    _header(console, session, ds, trainer)
    try:
        done = session.train(reporter)
    except KeyboardInterrupt:
        if getattr(reporter, "close", None):
            reporter.close()
        console.print(f"interrupted; continue with: netc train --resume {session.rundir.path}", markup=False)
        raise
    console.print(results_table(done, float(session.settings["target"])))
    if len(done) > 1:
        import statistics
        accs = [d["test_acc"] for d in done]
        secs = [d["seconds"] for d in done]
        console.print(f"test accuracy {statistics.mean(accs):.4f} ± {statistics.stdev(accs):.4f} over {len(done)} runs, "
                      f"{statistics.mean(secs):.2f} s per run", markup=False)
    console.print(f"results in {session.rundir.path}", markup=False)


def _train(file, data, epochs, runs, seed, device, precision, compile_, out, variant, batch_size, limit, limit_test,
           checkpoint, quiet, lim):
    graph = _load_graph(file, variant, lim)
    settings = _settings(graph, epochs, batch_size)
    ds = _dataset(data, graph, limit, limit_test)
    from ..train.engine import Trainer
    from ..train.session import Session
    trainer = Trainer(device, precision, compile_)
    data_arg = str(Path(data).resolve()) if data else None
    session = Session.start(graph, ds, settings, runs=runs, seed=seed, trainer=trainer, out=out,
                            net_file=Path(file).resolve(), variant=variant, data_arg=data_arg,
                            limits=(limit, limit_test), checkpoint=checkpoint)
    console, reporter = _console(quiet)
    _run(console, reporter, session, ds, trainer)


def _resume(run_dir, file, data, device, compile_, quiet, lim):
    from ..loader import load, loads
    from ..train.engine import Trainer
    from ..train.rundir import RunDir
    from ..train.session import Session
    rd = RunDir.open(run_dir)
    cfg = rd.read_config()
    net = cfg["net"]
    console, reporter = _console(quiet)
    path = Path(file) if file else (Path(net["file"]) if net.get("file") else None)
    if path is not None and path.exists() and path.read_text(errors="replace") == net["source"]:
        graph = load(path, variant=net["variant"], **lim)
    else:
        console.print(f"note: the net file changed or is gone; using the text saved in {rd.config}", markup=False)
        graph = loads(net["source"], variant=net["variant"], filename=str(path or "<config.json>"), **lim)
    if net.get("canonical") and graph.canonical != net["canonical"]:
        raise NetError(f"the net in '{rd.config}' no longer compiles to the same network", file=str(rd.config))
    d = cfg["data"]
    ds = _dataset(data or d["arg"], graph, d["limit"], d["limit_test"])
    if (len(ds.train_y), len(ds.test_y)) != (d["n_train"], d["n_test"]):
        raise DataError(f"the data has {len(ds.train_y)} train / {len(ds.test_y)} test images but the run used "
                        f"{d['n_train']} / {d['n_test']}", file=ds.source, hint="resume with the same --data")
    dev = cfg["device"]
    trainer = Trainer(device if device != "auto" else "auto", dev["precision"],
                      dev["compile"] if compile_ is None else compile_)
    session = Session.resume(rd, cfg, graph, ds, trainer)
    if len(session.done) >= session.runs:
        console.print(f"'{rd.path}' is already complete", markup=False)
    _run(console, reporter, session, ds, trainer)
