"""`netc eval RUN_DIR`: a trained run's test loss, accuracy, per-class accuracy and confusion matrix.

The data is `--data`, else the data the run trained on (config.json's `data.arg`; none means the
CIFAR-10 download), with the run's --limit-test subset when it had one, so the figures on the run's
own data are those of its last epoch in metrics.csv. Preprocessing and TTA: see `dsl.train.infer`.
"""

from __future__ import annotations

import click

from dsl.commands.common import max_params_option, positive


@click.command("eval")
@click.argument("run_dir", type=click.Path())
@click.option("--run", "run", type=click.IntRange(min=0), default=0, show_default=True, help="which run of RUN_DIR")
@click.option(
    "--data",
    default=None,
    metavar="PATH",
    help="evaluate on the test set of this data (layouts as for netc train) instead of the run's own",
)
@click.option(
    "--limit-test",
    type=int,
    default=None,
    callback=positive,
    help="a fixed random subset of N test images (default: the run's own --limit-test on its own data, else all)",
)
@click.option(
    "--tta",
    type=click.IntRange(0, 2),
    default=None,
    help="test-time augmentation level: 0 none, 1 image and mirror, 2 also one-pixel shifts, logits averaged "
    "(default: the run's own `tta` setting, so the figures are the run's)",
)
@click.option(
    "--plot", "plot_out", default=None, metavar="OUT.png", help="also draw the confusion matrix (.png, .svg or .pdf)"
)
@click.option("--json", "as_json", is_flag=True, help="print the results as JSON")
@click.option(
    "--batch-size", type=int, default=None, callback=positive, help="images per batch (default: eval_batch_size)"
)
@click.option("--device", default="auto", show_default=True, help="auto, cuda, cuda:N or cpu")
@click.option(
    "--precision",
    type=click.Choice(["fp32", "bf16", "fp16", "auto"]),
    default="fp32",
    show_default=True,
    help="autocast precision (auto = bf16 on CUDA, fp32 on CPU)",
)
@max_params_option
def command(
    run_dir: str,
    run: int,
    data: str | None,
    limit_test: int | None,
    tta: int | None,
    plot_out: str | None,
    as_json: bool,
    batch_size: int | None,
    device: str,
    precision: str,
    max_params: int,
) -> None:
    """Evaluate a trained run (a netc train folder) on a test set: loss, accuracy, per-class
    accuracy and the confusion matrix (rows: true class, columns: predicted)."""
    import json
    import os

    from dsl.data import load_dataset
    from dsl.data.named import dataset_name
    from dsl.errors import DataError
    from dsl.fileio import check_plot_path
    from dsl.train.device import resolve_device
    from dsl.train.infer import evaluate, evaluation_text, plot_confusion, printable
    from dsl.train.trained import load_run

    if plot_out is not None:
        check_plot_path(plot_out)
    trained = load_run(run_dir, run, max_params=max_params)
    graph, cfg = trained.graph, trained.config
    dev = resolve_device(device)  # a missing GPU is said before the data is loaded
    own = data is None
    arg = cfg.data.arg if own else data
    if own and arg is not None and dataset_name(arg) is None and not os.path.exists(arg):
        raise DataError(
            f"the data run {run} of '{run_dir}' trained on, '{arg}', is no longer there",
            file=arg,
            hint="pass --data PATH",
        )
    if own and limit_test is None:
        limit_test = cfg.data.limit_test
    same_subset = own and limit_test == cfg.data.limit_test
    ds = load_dataset(
        arg,
        limit=cfg.data.limit if same_subset else None,
        limit_test=limit_test,
        channels=graph.input_shape[0],
    )
    if ds.notice:
        click.echo(ds.notice, err=True)
    ds.check_fits(graph)
    trained.settings.check_data(ds.image_shape, ds.source)
    if same_subset:
        from dsl.train.identity import dataset_digest

        if dataset_digest(ds) != cfg.data.digest:
            click.echo(
                f"note: the data at '{ds.source}' differs from what the run trained on; "
                "the figures will not match its metrics.csv",
                err=True,
            )
    classes = trained.classes
    if not cfg.data.classes and len(ds.classes) == len(classes):
        classes = list(ds.classes)  # the run's data named none: the evaluation data's names are better than numbers
    elif ds.classes and cfg.data.classes and list(ds.classes) != list(cfg.data.classes)[: len(ds.classes)]:
        click.echo(
            f"note: '{ds.source}' names its classes differently from the run's data; showing the run's names",
            err=True,
        )
    x, y = ds.test_x, ds.test_y
    del ds  # the training images are not needed
    ev = evaluate(
        trained.model,
        x,
        y,
        trained.settings,
        classes,
        batch_size=batch_size,
        device=dev,
        precision=precision,
        tta=trained.settings.tta if tta is None else tta,
    )
    source = arg if arg is not None else "CIFAR-10"
    if as_json:
        out = {"run_dir": str(run_dir), "run": run, "net": graph.name, "data": source, **ev.to_json()}
        click.echo(json.dumps(out, indent=2, allow_nan=False))
    else:
        c, h, w = (int(v) for v in graph.input_shape)
        click.echo(
            f"netc eval {printable(graph.name)}, run {run} of {printable(str(run_dir))}: {ev.n} test images "
            f"({c}x{h}x{w}) from {printable(str(source))}, device {dev.type}"
        )
        click.echo(evaluation_text(ev))
    if plot_out is not None:
        path = plot_confusion(ev, plot_out, title=f"{graph.name}, run {run}")
        click.echo(f"confusion matrix plot written to {path}", err=as_json)
