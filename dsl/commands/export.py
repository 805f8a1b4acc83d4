"""`netc export FILE|RUN_DIR --format py|onnx|pt2 -o OUT`: the network for use without netc."""

from __future__ import annotations

import os

import click

from .common import max_params_option

FORMATS = ("py", "onnx", "pt2")


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
    state_dict keys are dsl.build's, an ONNX model, or a torch.export program."""
    from ..errors import NetError

    if os.path.isdir(source):
        if variant is not None:
            raise NetError("--variant applies to a .net file; a run folder holds one trained network", file=source)
        from ..train.trained import load_run

        trained = load_run(source, run, max_params=max_params)
        graph, model, trained_weights = trained.graph, trained.model, True
    else:
        import torch

        from ..compile_torch import build
        from ..loader import load

        graph = load(source, variant=variant, max_params=max_params)
        torch.manual_seed(seed)
        model, trained_weights = build(graph), False
    if fmt == "py":
        from ..export import to_python
        from ..export.formats import ruff_format
        from ..fileio import write_text

        weights = os.path.splitext(out)[0] + ".pt"
        origin = f"run {run} of {source}" if trained_weights else source
        text = to_python(graph, model, origin=origin, weights=os.path.basename(weights))
        write_text(out, text if no_format else ruff_format(text))
        if trained_weights:
            from ..train.weights import save_weights

            save_weights(model.state_dict(), weights)
            click.echo(f"wrote {out} and its trained weights {weights}")
            return
    elif fmt == "onnx":
        from ..export.formats import save_onnx

        save_onnx(model, graph.input_shape, out)
    else:
        from ..export.formats import save_pt2

        save_pt2(model, graph.input_shape, out)
    what = "trained weights" if trained_weights else f"untrained weights, seed {seed}" if fmt != "py" else "no weights"
    click.echo(f"wrote {out} ({fmt}: {graph.name}, {graph.params:,} parameters, {what})")
