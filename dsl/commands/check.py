"""`netc check FILE...`: parse, resolve and shape-check; one line per file (and per variant)."""

from __future__ import annotations

import click

from dsl.commands.common import human, max_params_option
from dsl.core.ops import fmt_shape
from dsl.errors import NetError


@click.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@max_params_option
def command(files: tuple[str, ...], max_params: int) -> None:
    """Validate .net files; list the variants of search spaces. Exit 0 if all are fine, else 2."""
    from dsl.front.loader import load_program

    failed = 0
    for f in files:
        try:
            prog = load_program(f, max_params=max_params)
            g = prog.graph()
            variants = prog.variants()
            if variants:
                click.echo(
                    f"{f}: ok, search space with {len(variants)} variants, "
                    f"{fmt_shape(g.input_shape)} -> {fmt_shape(g.output_shape)}"
                )
                width = max(22, *(len(v.name) for v in variants))
                for v in variants:
                    click.echo(
                        f"  {v.name:<{width}} {v.params:>12,} params {human(v.macs):>9} MACs   "
                        f"{v.canonical.splitlines()[-1]}"
                    )
            else:
                click.echo(
                    f"{f}: ok, {len(g.nodes)} ops, {g.params:,} params, {human(g.macs)} MACs, "
                    f"{fmt_shape(g.input_shape)} -> {fmt_shape(g.output_shape)}"
                )
        except NetError as err:
            failed += 1
            click.echo(str(err), err=True)
    if failed:
        raise click.exceptions.Exit(2)
