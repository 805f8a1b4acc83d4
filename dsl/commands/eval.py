"""`netc eval RUN_DIR`: a trained run's test loss, accuracy, per-class accuracy and confusion matrix
(the work: `dsl.train.evaluation`; preprocessing and TTA: `dsl.train.infer`)."""

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

    from dsl.fileio import check_plot_path
    from dsl.train.evaluation import EvalRequest, evaluate_run
    from dsl.train.infer import evaluation_text, plot_confusion, printable

    if plot_out is not None:
        check_plot_path(plot_out)
    request = EvalRequest(run_dir, run, data, limit_test, tta, batch_size, device, precision, max_params)
    done = evaluate_run(request, say=lambda text: click.echo(text, err=True))
    ev, graph = done.evaluation, done.trained.graph
    if as_json:
        out = {"run_dir": str(run_dir), "run": run, "net": graph.name, "data": done.source, **ev.to_json()}
        click.echo(json.dumps(out, indent=2, allow_nan=False))
    else:
        c, h, w = (int(v) for v in graph.input_shape)
        click.echo(
            f"netc eval {printable(graph.name)}, run {run} of {printable(str(run_dir))}: {ev.n} test images "
            f"({c}x{h}x{w}) from {printable(str(done.source))}, device {done.device.type}"
        )
        click.echo(evaluation_text(ev))
    if plot_out is not None:
        path = plot_confusion(ev, plot_out, title=f"{graph.name}, run {run}")
        click.echo(f"confusion matrix plot written to {path}", err=as_json)
