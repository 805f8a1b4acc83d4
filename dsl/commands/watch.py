"""`netc watch FILE -o OUT.svg`: redraw the diagram whenever FILE or a file it uses changes (no torch)."""

from __future__ import annotations

import os

import click

from dsl.commands.draw import command as draw_command

# The view options are netc draw's own (the same choices, defaults and help); -o differs: a file is required.
_DRAW_OPTIONS = {p.name: p for p in draw_command.params}
_VIEW = ("fmt", "level", "depth", "variant", "direction", "fold", "max_params")


def _watch(
    file: str,
    out: str | None,
    fmt: str | None,
    level: str | None,
    depth: int | None,
    variant: str | None,
    fold: bool,
    direction: str,
    max_params: int,
) -> None:
    """Draw FILE now, then again whenever it or a file it uses changes; mistakes are printed
    (as netc check prints them) and the last good drawing stays. Ctrl-C stops."""
    from dsl.draw.render import target
    from dsl.errors import NetError
    from dsl.inspect.watch import DrawSpec, Watcher

    if out == "-":
        raise NetError("netc watch writes a file; give -o OUT.svg (or .png, .pdf, .dot)", file=file)
    if depth == 0 and level == "blocks":
        raise NetError("the blocks view starts at --depth 1 (the top-level blocks)", file=file)
    if not os.path.exists(file):
        raise NetError(f"no such file '{file}'", file=file)
    if os.path.isdir(file):
        raise NetError(f"'{file}' is a folder, not a .net file", file=file)
    spec = DrawSpec(
        file=file,
        target=target(file, out, fmt),
        level=level or ("ops" if depth is not None else "blocks"),
        depth=depth,
        variant=variant,
        fold=fold,
        direction=direction.upper(),
        max_params=max_params,
    )
    Watcher(spec, say=click.echo, complain=lambda line: click.echo(line, err=True)).run()


command = click.Command(
    "watch",
    callback=_watch,
    help=_watch.__doc__,
    short_help="Redraw a network's diagram whenever its files change.",
    params=[
        click.Argument(["file"], type=click.Path(dir_okay=False)),
        click.Option(
            ["-o", "--output", "out"],
            default=None,
            metavar="OUT",
            help="where to write (default: FILE's name with the format's extension in the current folder, e.g. x.svg)",
        ),
        *(_DRAW_OPTIONS[name] for name in _VIEW),
    ],
    context_settings={"help_option_names": ["-h", "--help"]},
)
