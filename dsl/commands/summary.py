"""`netc summary FILE [--json]`: per-layer shapes, parameters and MACs, with totals."""

from __future__ import annotations

import json

import click

from dsl.commands.common import max_params_option


@click.command("summary")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help='print {"params": N, "macs": N, "layers": [...]}')
@click.option("--variant", default=None, help="for a search space: the variant to summarise")
@click.option(
    "--depth",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="one row per block N levels deep (its definition, output, parameters and MACs summed) instead of "
    "one per op: --depth 1 lists the top-level blocks",
)
@max_params_option
def command(file: str, as_json: bool, variant: str | None, depth: int | None, max_params: int) -> None:
    """Summarise a network: each layer's path, op, output shape, parameters and MACs."""
    from dsl.front.loader import load
    from dsl.inspect.summary import as_dict, as_text

    g = load(file, variant=variant, max_params=max_params)
    click.echo(json.dumps(as_dict(g, depth), indent=1) if as_json else as_text(g, depth))
