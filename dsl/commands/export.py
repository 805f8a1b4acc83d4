"""`netc export FILE|RUN_DIR --format py|onnx|pt2 -o OUT`: the network for use without netc."""

from __future__ import annotations

import click

from dsl.commands.common import max_params_option

FORMATS = ("py", "onnx", "pt2")  # dsl.export.run.FORMATS (not imported here: it imports torch)


@click.command("export")
@click.argument("source", metavar="FILE|RUN_DIR", type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    required=True,
    help="py: standalone PyTorch source; onnx: an ONNX model (needs netc[onnx]); pt2: a torch.export program",
)
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False), help="the file to write")
@click.option("--variant", default=None, help="for a search-space file: the variant to export")
@click.option("--run", "run", type=click.IntRange(min=0), default=0, show_default=True, help="RUN_DIR: which run")
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="FILE with onnx / pt2: seed of the (untrained) weights they carry",
)
@click.option("--no-format", is_flag=True, help="py: leave the source as written (no ruff format)")
@max_params_option
def command(
    source: str, fmt: str, out: str, variant: str | None, run: int, seed: int, no_format: bool, max_params: int
) -> None:
    """Export a network (from a .net file, or trained, from a run folder): readable PyTorch source whose
    state_dict keys are dsl.build's, an ONNX model, or a torch.export program. Each carries how its
    inputs are prepared (input size, mean/std, class names)."""
    from dsl.export.run import ExportRequest, export

    request = ExportRequest(source, fmt, out, variant, run, seed, not no_format, max_params)
    click.echo(export(request))
