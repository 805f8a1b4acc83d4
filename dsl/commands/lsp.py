"""`netc lsp [--tcp HOST:PORT]`: the Language Server Protocol server for .net files (stdio by default)."""

from __future__ import annotations

import logging
import os
import re
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
    handler = logging.StreamHandler()
    handler.setFormatter(OneLine("netc lsp: %(levelname)s: %(message)s"))
    logging.basicConfig(level=log_level.upper(), handlers=[handler])
    from dsl.lsp.server import make_server

    server = make_server()
    if address is not None:
        server.start_tcp(*address)
    else:
        server.start_io()
    if sys.stdout.closed:  # the server closed stdout at `exit`; the CLI flushes it on the way out
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (lives until the process ends)
    if server.exit_requested and not server.shutdown_requested:
        raise click.exceptions.Exit(1)  # the protocol: `exit` without `shutdown` ends with status 1


class OneLine(logging.Formatter):
    """Log records as one line each: a failure is said by its exception's type and message, never
    as a Python traceback (a client that sends malformed JSON-RPC is not netc's bug)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record's line, with its exception (if any) appended as `Type: message`."""
        if record.exc_info and record.exc_info[1] is not None:
            err = record.exc_info[1]
            record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
            record.msg = f"{record.getMessage()}: {type(err).__name__}: {err}"
            record.args = None
        text = super().format(record)
        if "Traceback (most recent call last)" in text:  # a traceback formatted into the message itself
            head, _, trace = text.partition("Traceback (most recent call last)")
            lines = [line.strip(" |+-") for line in trace.splitlines()]
            last = next((line for line in reversed(lines) if re.match(r"[A-Za-z_][\w.]*: ", line)), "")
            first = head.strip().splitlines()[0] if head.strip() else ""
            text = first.rstrip(":") + (f": {last}" if last else "")
        return " ".join(text.split("\n"))
