"""`netc ops [NAME]`: every op the language knows (plugins included), or one op in full."""

from __future__ import annotations

import click

from dsl.errors import NetError


@click.command("ops")
@click.argument("name", required=False)
@click.option("--markdown", is_flag=True, help="the table docs/language.md shows")
def command(name: str | None, markdown: bool) -> None:
    """List the ops (primitives and plugins' ops) with their parameters and documentation."""
    from dsl.core.ops import REGISTRY
    from dsl.errors import did_you_mean
    from dsl.inspect.opdoc import ops_markdown, ops_text

    if name is not None and name not in REGISTRY:
        raise NetError(f"no op named '{name}'", hint=did_you_mean(name, REGISTRY) or "netc ops lists them all")
    click.echo(ops_markdown() if markdown and name is None else ops_text(name))
