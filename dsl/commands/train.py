"""`netc train FILE`: train a net with its file's recipe; runs/<net>-<time>/ keeps the record.

See docs/training.md. The work is in `dsl.data` (datasets), `dsl.train.engine` (one run),
`dsl.train.session` (N runs into a run folder) and `dsl.train.resume` (continuing one).
"""

from __future__ import annotations

import statistics
from typing import Any

import click
from click.core import ParameterSource

from dsl.commands.common import engine_options, invocation, max_params_option, positive, shape
from dsl.errors import NetError

RESUMABLE = {
    "resume",
    "file",
    "max_params",
    "device",
    "compile_",
    "data",
    "quiet",
    "workers",
    "gpus",
    "save_every",
}  # flags --resume accepts


@click.command("train")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--data",
    default=None,
    metavar="NAME|PATH",
    help="a dataset by name (cifar10, cifar100, svhn, fashion-mnist, mnist, stl10: downloaded once into "
    "$NETC_DATA or ~/.cache/netc), or a path: a torchvision layout, an image folder (train/<class>/..., "
    "test/ or val/) or .npz; default: CIFAR-10",
)
@click.option(
    "--epochs",
    type=int,
    default=None,
    callback=positive,
    help="override the file's epochs (the lr knots are stretched to fit)",
)
@click.option("--runs", type=click.IntRange(1, 10_000), default=1, show_default=True, help="train this many seeds")
@click.option(
    "--seed",
    type=click.IntRange(0, 2**31 - 1),
    default=0,
    show_default=True,
    help="seed of the first run (run i uses seed+i)",
)
@click.option("--out", default=None, metavar="DIR", help="run folder to create (default runs/<net>-<timestamp>)")
@click.option("--resume", default=None, metavar="RUN_DIR", help="continue a stopped run from its last epoch")
@click.option("--variant", default=None, help="for a search-space file: which variant to train")
@click.option(
    "--input",
    "input_shape",
    default=None,
    callback=shape,
    metavar="CxHxW",
    help="train the network at this input size instead of its input line (a zoo net made for 3x224x224 on "
    "CIFAR's 3x32x32, say); recorded in the run folder",
)
@click.option(
    "--classes",
    type=click.IntRange(1, 1_000_000),
    default=None,
    help="train the network for this many classes instead of its `classes = N` (the head the prelude's "
    "fc and the zoo nets build from it); recorded in the run folder",
)
@click.option(
    "--checkpoint/--no-checkpoint",
    default=True,
    show_default=True,
    help="write a checkpoint after every epoch (needed for --resume)",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="override one training setting, written as in a train { } section (repeatable): "
    "--set label_smoothing=0.1 --set lr=[(0,0),(2,0.4),(10,0)]; recorded in the run folder",
)
@click.option(
    "--workers",
    type=click.IntRange(0, 256),
    default=None,
    help="DataLoader worker processes of the streamed data path (default: the CPUs but one, at most 8; "
    "0 decodes in the training process); results do not depend on it",
)
@click.option(
    "--gpus",
    type=click.IntRange(1, 1024),
    default=1,
    show_default=True,
    help="train the run on N GPUs of this machine with DistributedDataParallel (torchrun's launcher), "
    "the global batch and lr schedule unchanged; with --device cpu, N CPU processes (gloo)",
)
@click.option(
    "--save-every",
    type=click.FloatRange(0, 10_000),
    default=5.0,
    show_default=True,
    metavar="MINUTES",
    help="also checkpoint inside an epoch every MINUTES of training (0: at epoch ends only); Ctrl-C always "
    "saves where the run is before stopping, so --resume continues from that step",
)
@click.option("--quiet", is_flag=True, help="no progress bar or per-epoch lines; only the final table")
@engine_options
@max_params_option
def command(
    file: str | None,
    data: str | None,
    epochs: int | None,
    runs: int,
    seed: int,
    device: str,
    precision: str,
    compile_: bool,
    out: str | None,
    resume: str | None,
    variant: str | None,
    input_shape: tuple[int, ...] | None,
    classes: int | None,
    batch_size: int | None,
    limit: int | None,
    limit_test: int | None,
    checkpoint: bool,
    sets: tuple[str, ...],
    workers: int | None,
    gpus: int,
    save_every: float,
    quiet: bool,
    max_params: int,
) -> None:
    """Train a network on CIFAR-10 (or --data) with the recipe in its train { } block.

    Prints one line per epoch and a final table; writes config.json, metrics.csv,
    result.json and a checkpoint into the run folder. --runs N reports mean ± std."""
    ctx = click.get_current_context()
    given = {
        p.name
        for p in ctx.command.params
        if p.name and ctx.get_parameter_source(p.name) not in (ParameterSource.DEFAULT, None)
    }
    from dsl.train import distributed

    world = distributed.World.from_env()
    if gpus > 1 and not world.active:  # start the run's processes; each runs this command again
        distributed.check_gpus(gpus, device)
        raise click.exceptions.Exit(distributed.launch(gpus, invocation(ctx)))
    if world.active and gpus not in (1, world.size):
        raise NetError(f"--gpus {gpus}, but torchrun started {world.size} processes", hint="give one of the two")
    device = distributed.device_for(world, device)
    console, reporter = _console(quiet or not world.main)  # only rank 0 prints progress
    ctx.with_resource(distributed.group(world, device))  # left when the command ends, however it ends
    if resume is not None:
        extra = sorted(given - RESUMABLE)
        if extra:
            raise NetError(
                f"--resume keeps the run's own settings; drop "
                f"{', '.join('--' + (e or '').rstrip('_').replace('_', '-') for e in extra)}",
                file=resume,
            )
        from dsl.train.request import ResumeRequest
        from dsl.train.resume import resume_session

        again = ResumeRequest(
            resume, file, data, device, compile_ if "compile_" in given else None, max_params, workers
        )
        tell = (lambda text: console.print(text, markup=False)) if world.main else (lambda text: None)
        session = resume_session(again, tell, world)
        if len(session.done) >= session.runs and world.main:
            console.print(f"'{session.rundir.path}' is already complete", markup=False)
        session.save_every = save_every * 60
        _run(console, reporter, session, world.main)
        distributed.finish(world)
        return
    if file is None:
        raise click.UsageError("give a .net FILE to train (or --resume RUN_DIR)")
    from dsl.train.launch import start_session
    from dsl.train.request import TrainRequest

    request = TrainRequest(
        file,
        data=data,
        epochs=epochs,
        batch_size=batch_size,
        runs=runs,
        seed=seed,
        variant=variant,
        out=out,
        device=device,
        precision=precision,
        compile=compile_,
        limit=limit,
        limit_test=limit_test,
        checkpoint=checkpoint,
        max_params=max_params,
        sets=sets,
        workers=workers,
        input_shape=input_shape,
        classes=classes,
    )
    say = None if quiet or not world.main else (lambda text: console.print(text, markup=False))
    session = start_session(request, world, say)
    session.save_every = save_every * 60
    _run(console, reporter, session, world.main)
    distributed.finish(world)


def _console(quiet: bool) -> tuple[Any, Any]:
    from rich.console import Console

    from dsl.train.report import ConsoleReporter, Reporter

    console = Console(highlight=False, soft_wrap=True)
    return console, (Reporter() if quiet else ConsoleReporter(console))


def _header(console: Any, session: Any) -> None:
    from dsl.train.engine import device_name

    s, ds, trainer = session.settings, session.dataset, session.trainer
    console.print(f"netc train {session.name}: {ds.describe()}", markup=False)
    if ds.notice:
        console.print(ds.notice, markup=False)
    console.print(session.data_line(), markup=False)
    console.print(
        f"device {device_name(trainer.device)} ({trainer.device.type}), precision {trainer.precision}, "
        f"compile {'on' if trainer.compile else 'off'}; {s.epochs} epochs, batch {s.batch_size}, "
        f"{session.runs} run(s) from seed {session.seed}; run folder {session.rundir.path}",
        markup=False,
    )
    if trainer.device.type == "cpu":
        why = "no GPU found: training on the CPU" if trainer.requested_device == "auto" else "training on the CPU"
        console.print(f"note: {why}; netc estimates the run's time after its first steps", markup=False)


def _run(console: Any, reporter: Any, session: Any, main: bool = True) -> None:
    from dsl.train import distributed
    from dsl.train.report import ConsoleReporter, results_table

    world = session.trainer.world
    if not main:  # an extra process of a multi-process run: rank 0 prints and writes
        try:
            session.train(reporter)
        except Exception as err:
            if world.active and distributed.peer_lost(err):
                raise click.exceptions.Exit(1) from None  # rank 0 (or the launcher) says what happened
            raise
        return
    _header(console, session)
    if isinstance(reporter, ConsoleReporter):
        reporter.estimate = session.trainer.device.type == "cpu"
    try:
        done = session.train(reporter)
    except KeyboardInterrupt:
        if getattr(reporter, "close", None):
            reporter.close()
        console.print(f"interrupted; continue with: netc train --resume {session.rundir.path}", markup=False)
        raise
    except Exception as err:
        if world.active and distributed.peer_lost(err):
            if getattr(reporter, "close", None):
                reporter.close()
            raise distributed.lost_error(world, str(session.rundir.path)) from None
        raise
    console.print(results_table(done, session.settings.target))
    if len(done) > 1:
        accs = [d["test_acc"] for d in done]
        secs = [d["seconds"] for d in done]
        console.print(
            f"test accuracy {statistics.mean(accs):.2%} ± {statistics.stdev(accs):.2%} over {len(done)} runs, "
            f"{statistics.mean(secs):.2f} s per run",
            markup=False,
        )
    console.print(f"results in {session.rundir.path}", markup=False)
