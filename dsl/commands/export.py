"""`netc export FILE --format py|onnx|pt2 -o OUT`: the network for use without netc."""

from __future__ import annotations

import click

from .common import max_params_option

FORMATS = ("py", "onnx", "pt2")


@click.command("export")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    required=True,
    help="py: standalone PyTorch source; onnx: an ONNX model (needs netc[onnx]); pt2: a torch.export program",
)
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False), help="the file to write")
@click.option("--variant", default=None, help="for a search space: the variant to export")
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="onnx / pt2: seed of the (untrained) initial weights they carry",
)
@click.option("--no-format", is_flag=True, help="py: leave the source as written (no ruff format)")
@max_params_option
def command(file: str, fmt: str, out: str, variant: str | None, seed: int, no_format: bool, max_params: int) -> None:
    """Export a network: readable PyTorch source (state_dict keys as dsl.build's), ONNX or torch.export."""
    from ..loader import load

    graph = load(file, variant=variant, max_params=max_params)
    import torch

    from ..compile_torch import build
    from ..fileio import write_text

    torch.manual_seed(seed)
    model = build(graph)
    if fmt == "py":
        from ..export import to_python
        from ..export.formats import ruff_format

        source = to_python(graph, model, origin=file)
        write_text(out, source if no_format else ruff_format(source))
    elif fmt == "onnx":
        from ..export.formats import save_onnx

        save_onnx(model, graph.input_shape, out)
    else:
        from ..export.formats import save_pt2

        save_pt2(model, graph.input_shape, out)
    click.echo(f"wrote {out} ({fmt}: {graph.name}, {graph.params:,} parameters)")
