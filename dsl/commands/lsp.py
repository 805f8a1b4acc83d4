"""`netc lsp [--tcp HOST:PORT]`: the Language Server Protocol server for .net files (stdio by default)."""

from __future__ import annotations

import logging
import os
import sys

import click


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"{text!r} is not HOST:PORT, e.g. 127.0.0.1:2087", param_hint="--tcp")
    return host, int(port)


@click.command("lsp")
@click.option("--tcp", "tcp", default=None, metavar="HOST:PORT", help="listen on a TCP port instead of stdio")
@click.option("--log-level", default="warning", type=click.Choice(["debug", "info", "warning", "error"]))
def command(tcp: str | None, log_level: str) -> None:
    """Serve diagnostics, hover, go-to-definition, symbols, completion and inlay hints to an editor.

    Speaks LSP over stdin/stdout (what editors start); logs go to stderr."""
    address = _address(tcp) if tcp is not None else None
    logging.basicConfig(level=log_level.upper(), format="netc lsp: %(levelname)s: %(message)s")
    from ..lsp.server import make_server

    server = make_server()
    if address is not None:
        server.start_tcp(*address)
    else:
        server.start_io()
    if sys.stdout.closed:  # the server closed stdout at `exit`; the CLI flushes it on the way out
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (lives until the process ends)
