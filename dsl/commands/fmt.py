"""`netc fmt PATH... [--check] [--diff]`: rewrite .net files (and Markdown's ```net blocks) in the canonical layout."""

from __future__ import annotations

import difflib
import sys

import click

from dsl.errors import NetError


def _plural(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


@click.command("fmt")
@click.argument("paths", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option("--check", is_flag=True, help="write nothing; list the files that would change and exit 1 if any would")
@click.option("--diff", is_flag=True, help="write nothing; print a unified diff of what would change (exit 1 if any)")
def command(paths: tuple[str, ...], check: bool, diff: bool) -> None:
    """Format .net files in the canonical layout, keeping every comment (see docs/language.md, "Formatting").

    PATH is a .net file, a Markdown file (its ```net blocks are formatted), a folder (every .net and .md
    file below it) or - (standard input to standard output). Files are rewritten atomically and only
    when they change. Exit 0 if all went well, 1 if --check or --diff found files to reformat, 2 on errors
    (a syntax error is reported as netc check reports it; the other files are still processed)."""
    from dsl.fmt.files import collect, format_file, format_source, rewrite

    dry = check or diff
    files, errors = collect(list(paths))
    for err in errors:
        click.echo(str(err), err=True)
    # stdout carries the formatted text or the diff when asked for; the report then goes to stderr
    to_err = diff or "-" in files
    changed = unchanged = failed = 0
    for path in files:
        try:
            if path == "-":
                data = sys.stdin.buffer.read(1 << 21)
                new = format_source(data, "<stdin>", markdown=False)
                old, shown = data, "-"
            else:
                result = format_file(path)
                new, old, shown = result.new, result.old, path
        except NetError as err:
            failed += 1
            click.echo(str(err), err=True)
            continue
        is_changed = new.encode("utf-8") != old
        changed += is_changed
        unchanged += not is_changed
        if diff and is_changed:
            before = old.decode("utf-8", "replace").splitlines(keepends=True)
            after = new.splitlines(keepends=True)
            click.echo("".join(difflib.unified_diff(before, after, f"{shown}", f"{shown}")), nl=False)
        if path == "-":
            if not dry:
                click.echo(new, nl=False)
        elif is_changed and not dry:
            try:
                rewrite(result)
            except NetError as err:
                failed += 1
                changed -= 1
                click.echo(str(err), err=True)
                continue
        if is_changed:
            click.echo(f"{'would reformat' if dry else 'reformatted'} {shown}", err=to_err)
    summary = [
        _plural(changed, "file") + (" would be reformatted" if dry else " reformatted"),
        _plural(unchanged, "file") + (" already formatted" if dry else " left unchanged"),
    ]
    if failed:
        summary.append(_plural(failed, "file") + " with errors")
    click.echo(", ".join(summary), err=to_err)
    if errors or failed:
        raise click.exceptions.Exit(2)
    if dry and changed:
        raise click.exceptions.Exit(1)
