"""`netc draw FILE`: the article's diagrams (blocks or ops view) as SVG, PNG, PDF or DOT (no torch)."""

from __future__ import annotations

import click

from dsl.commands.common import max_params_option


@click.command("draw")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    "out",
    default=None,
    metavar="OUT",
    help="where to write (default: FILE's name with the format's extension, in the current folder; '-' prints DOT)",
)
@click.option(
    "--dpi",
    type=click.IntRange(10, 2400),
    default=None,
    help="PNG: pixels per inch (Graphviz's default is 96; 200 makes a sharp image for slides and papers)",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["svg", "png", "pdf", "dot"]),
    default=None,
    help="output format (default: from OUT's extension, else svg)",
)
@click.option(
    "--level",
    type=click.Choice(["blocks", "ops"]),
    default=None,
    help="blocks: one node per top-level block (default); ops: every primitive, nested clusters",
)
@click.option(
    "--depth",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="ops view: collapse blocks nested deeper than N into single nodes (implies --level ops unless "
    "--level blocks is given); blocks view: one node per block N levels deep (default 1: top-level blocks)",
)
@click.option(
    "--variant", default=None, help="for a search space: draw this variant (default: the whole space, choices dashed)"
)
@click.option(
    "--direction",
    type=click.Choice(["LR", "TB"], case_sensitive=False),
    default="LR",
    show_default=True,
    help="LR: left to right, as the article draws; TB: top to bottom, for deep networks",
)
@click.option(
    "--fold/--no-fold",
    default=True,
    show_default=True,
    help="fold runs of identical repeated blocks (x^N) into one marked ×N",
)
@max_params_option
def command(
    file: str,
    out: str | None,
    fmt: str | None,
    level: str | None,
    depth: int | None,
    variant: str | None,
    fold: bool,
    direction: str,
    dpi: int | None,
    max_params: int,
) -> None:
    """Draw a network as the article does: blocks coloured by role, or every op in nested clusters."""
    from dsl.draw import to_dot
    from dsl.draw.render import target, write
    from dsl.errors import NetError
    from dsl.front.loader import load

    if depth == 0 and level == "blocks":
        raise NetError("the blocks view starts at --depth 1 (the top-level blocks)", file=file)
    level = level or ("ops" if depth is not None else "blocks")
    t = target(file, out, fmt)  # check the output before the (slower) load
    if dpi is not None and t.format != "png":
        raise NetError(f"--dpi sets a PNG's resolution; {t.format} has none to set", file=file)
    g = load(file, variant=variant, max_params=max_params)
    source = to_dot(g, level=level, depth=depth, fold=fold, dashed=variant is None, direction=direction.upper())
    written, warning = write(source, t, file, dpi)
    if warning:
        click.echo(f"{file}: warning: {warning}", err=True)
    elif written != "-":
        click.echo(f"wrote {written} ({level} view)")
