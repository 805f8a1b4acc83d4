"""`netc check FILE...`: parse, resolve and shape-check; one line per file (and per variant).

A search space small enough to list shows every variant; a larger one its exact size and a few
variants drawn uniformly (`--samples`). Variants that do not build are named with their reason
(a search skips them); a file is in error only when nothing in it builds."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import click

from dsl.commands.common import human, max_params_option
from dsl.core.ops import fmt_shape
from dsl.errors import NetError

if TYPE_CHECKING:
    from dsl.front.program import Program


@click.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@max_params_option
@click.option(
    "--samples",
    type=click.IntRange(0, 1000),
    default=5,
    show_default=True,
    help="variants drawn (uniformly, seed --seed) from a search space too large to list",
)
@click.option("--seed", type=int, default=0, show_default=True, help="seed of the drawn variants")
def command(files: tuple[str, ...], max_params: int, samples: int, seed: int) -> None:
    """Validate .net files; list (or count and sample) the variants of search spaces. Exit 0 if all are fine, else 2."""
    from dsl.front.loader import load_program
    from dsl.front.program import NoNetwork

    failed = 0
    for f in files:
        try:
            try:
                prog = load_program(f, max_params=max_params)
            except NoNetwork:
                failed += not _library(f)
                continue
            if not prog.is_space():
                g = prog.graph()
                shapes = f"{fmt_shape(g.input_shape)} -> {fmt_shape(g.output_shape)}"
                click.echo(f"{f}: ok, {len(g.nodes)} ops, {g.params:,} params, {human(g.macs)} MACs, {shapes}")
            elif prog.listable():
                variants = prog.variants()
                g = prog.graph(variants[0])
                shapes = f"{fmt_shape(g.input_shape)} -> {fmt_shape(g.output_shape)}"
                more = f", {len(prog.skipped)} more that do not build" if prog.skipped else ""
                click.echo(
                    f"{f}: ok, search space with {len(variants)} variant{'s' * (len(variants) != 1)}{more}, {shapes}"
                )
                _rows([(v.name, v.params, v.macs, v.canonical) for v in variants])
                _skipped(f, prog.skipped)
            else:
                _sampled(f, prog, samples, seed)
        except NetError as err:
            failed += 1
            click.echo(str(err), err=True)
    if failed:
        raise click.exceptions.Exit(2)


def _library(f: str) -> bool:
    """A file of definitions only: checked for what needs no input; whether it is fine."""
    from dsl.front.library import check_library, load_library

    lib = load_library(f)
    if not lib.names:
        raise NetError(
            "this file describes no network and defines nothing",
            file=f,
            hint="end it with a network line such as 'prep -> layer1 -> gmp -> fc', or define net = ...",
        )
    problems = check_library(lib)
    for err in problems:
        click.echo(str(err), err=True)
    if not problems:
        shown = ", ".join(lib.names[:12]) + (f", ... ({len(lib.names) - 12} more)" if len(lib.names) > 12 else "")
        click.echo(f"{f}: ok, a library of {len(lib.names)} definition{'s' * (len(lib.names) != 1)}: {shown}")
    return not problems


def _rows(rows: list[tuple[str, int, int, str]]) -> None:
    width = max(22, *(len(name) for name, *_ in rows)) if rows else 22
    for name, params, macs, canonical in rows:
        click.echo(f"  {name:<{width}} {params:>12,} params {human(macs):>9} MACs   {canonical.splitlines()[-1]}")


def _skipped(f: str, skipped: list[tuple[str, NetError]]) -> None:
    for label, err in skipped:
        click.echo(f"{f}: warning: the variant {label} does not build (a search skips it):\n{err}", err=True)


def _sampled(f: str, prog: Program, samples: int, seed: int) -> None:
    """A space too large to list: its size, then `samples` variants drawn uniformly."""
    n = prog.count()
    rng = random.Random(seed)
    rows, skipped = [], []
    shapes = ""
    for _ in range(samples):
        decisions = prog.sample(rng)
        try:
            v = prog.variant_of(decisions)
        except NetError as err:
            skipped.append((prog.value_parts(decisions, prog.space().valued) or "?", err))
            continue
        if not shapes:
            g = prog.graph(v)
            shapes = f", {fmt_shape(g.input_shape)} -> {fmt_shape(g.output_shape)}"
        rows.append((v.name, v.params, v.macs, v.canonical))
    if samples and not rows:
        raise skipped[0][1]  # none of those drawn builds: say why
    click.echo(
        f"{f}: ok, search space of {n:,} variants ({n:.2e}), too many to list; {samples} drawn at random{shapes}"
    )
    _rows(rows)
    _skipped(f, skipped)
