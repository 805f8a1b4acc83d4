"""`netc report DIR...`: the recap table (and --plot, the article's time-vs-accuracy plot).

DIR is a `netc search --out` folder (results.csv) or `netc train` run folders (result.json),
or a folder holding such folders (e.g. `netc report runs/`). See docs/search.md. Lines and
runs that cannot be read are skipped with a warning on stderr (file and line); the plot file
is written atomically (dsl.fileio).
"""

from __future__ import annotations

import click

from dsl.errors import NetError


def _target(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is None:
        return None
    v = value / 100 if value > 1 else value
    if not 0 <= v <= 1:
        raise click.BadParameter("give a fraction (0.94) or a percentage (94)")
    return v


@click.command("report")
@click.argument("dirs", nargs=-1, required=True, type=click.Path())
@click.option(
    "--plot",
    "plot_out",
    default=None,
    metavar="OUT.png|svg",
    help="also draw the article's time-vs-accuracy plot into this file",
)
@click.option("--markdown", is_flag=True, help="print the table as GitHub markdown")
@click.option(
    "--target",
    type=float,
    default=None,
    callback=_target,
    help="accuracy target for the '≥ target' column, e.g. 0.94 or 94 (default: the nets' own)",
)
@click.option("--epochs", "only_epochs", default=None, help="only these training lengths, e.g. 20 or 20,22")
@click.option("--title", default=None, help="title of the plot")
def command(
    dirs: tuple[str, ...],
    plot_out: str | None,
    markdown: bool,
    target: float | None,
    only_epochs: str | None,
    title: str | None,
) -> None:
    """Recap table of search or train results: mean ± std accuracy and time per network, sorted by time."""
    from dsl.fileio import check_plot_path
    from dsl.search.grid import parse_epochs
    from dsl.search.pareto import summary
    from dsl.search.report import collect_rows, group_rows, plain_table, plot, rich_table
    from dsl.search.report import markdown as md

    if plot_out:
        check_plot_path(plot_out)  # before reading anything
    warnings: list[str] = []
    try:
        rows = collect_rows(dirs, warnings)
    finally:
        # lines, runs and folders skipped: said on stderr, so the table on stdout stays clean
        for w in warnings:
            click.echo(w, err=True)
    keep = parse_epochs(only_epochs)
    if keep:
        rows = [r for r in rows if int(r["epochs"]) in keep]
    groups = group_rows(rows, target)
    if not groups:
        raise NetError(f"no finished runs{f' at {only_epochs} epochs' if keep else ''} in {', '.join(dirs)}")
    if markdown:
        click.echo(md(groups))
    else:
        from rich.console import Console

        console = Console(highlight=False)
        if console.is_terminal:
            console.print(rich_table(groups, title=f"netc report: {', '.join(dirs)}"))
        else:
            click.echo(plain_table(groups))
    text = summary(rows, _objectives(dirs)) if not markdown else ""  # the markdown is the table alone
    if text:
        click.echo(text)
    if plot_out:
        out = plot(groups, plot_out, title)
        click.echo(f"plot written to {out}")


def _objectives(dirs: tuple[str, ...]) -> list[str]:
    """The objectives of the searches by trials among `dirs` (their search.json), else the article's
    question: accuracy against time."""
    import json
    from pathlib import Path

    from dsl.fileio import read_text_limited
    from dsl.search.study import OBJECTIVES

    for d in dirs:
        try:
            manifest = json.loads(read_text_limited(Path(d) / "search.json", 1 << 20, "search.json"))
        except (OSError, ValueError, NetError):
            continue
        got = manifest.get("objectives") if isinstance(manifest, dict) else None
        if isinstance(got, list) and got and all(o in OBJECTIVES for o in got):
            return list(got)
    return ["acc", "time"]
