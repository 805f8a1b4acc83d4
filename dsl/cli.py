"""The `netc` command line: a click group whose commands load lazily.

Each command lives in its own module under `dsl.commands` and exposes `command`;
loading lazily keeps `netc check` free of torch and fast to start.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import importlib.util
import os
import sys

import click

from dsl.errors import NetError

COMMANDS = {
    "check": "dsl.commands.check",
    "summary": "dsl.commands.summary",
    "draw": "dsl.commands.draw",
    "train": "dsl.commands.train",
    "search": "dsl.commands.search",
    "report": "dsl.commands.report",
    "ops": "dsl.commands.ops",
    "export": "dsl.commands.export",
    "eval": "dsl.commands.eval",
    "predict": "dsl.commands.predict",
    "fmt": "dsl.commands.fmt",
    "lsp": "dsl.commands.lsp",
    "watch": "dsl.commands.watch",
}


class LazyGroup(click.Group):
    """A click group that imports a command's module only when that command runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """The commands, in COMMANDS order."""
        return [name for name, mod in COMMANDS.items() if importlib.util.find_spec(mod) is not None]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        """The command called `name`, imported now."""
        mod = COMMANDS.get(name)
        if mod is None or importlib.util.find_spec(mod) is None:
            return None
        return importlib.import_module(mod).command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="netc", prog_name="netc")
@click.option(
    "--plugin",
    "plugins",
    multiple=True,
    metavar="MODULE",
    help="import MODULE first: it registers ops with dsl.register_op (repeatable; also $NETC_PLUGINS "
    "and installed packages' 'netc.ops' entry points)",
)
def cli(plugins: tuple[str, ...]) -> None:
    """netc: describe networks as text; check, summarise, draw, train and search them."""
    from dsl.plugins import load_plugins

    load_plugins(plugins)


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors print one paragraph and exit 2, never a traceback."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        # obj: what commands may ask of the invocation itself (`netc train --gpus N` runs it again)
        code = cli.main(args=args, prog_name="netc", standalone_mode=False, obj={"argv": list(args)})
    except NetError as err:
        click.echo(_process_prefix() + str(err), err=True)
        return _exit(2)
    except click.exceptions.Abort:
        if not _process_prefix():  # in a multi-process run, rank 0 says it once
            click.echo("netc: interrupted", err=True)
        return _exit(130)
    except click.ClickException as err:
        err.show()
        return _exit(2 if err.exit_code in (1, 2) else err.exit_code)
    except click.exceptions.Exit as err:
        return _exit(err.exit_code)
    except KeyboardInterrupt:
        if not _process_prefix():
            click.echo("netc: interrupted", err=True)
        return _exit(130)
    except OSError as err:
        if err.errno not in _OUTPUT_ERRNOS:
            return _internal(err)
        return _output_failed(err)
    except Exception as err:  # a bug in netc, not the user's mistake
        return _internal(err)
    return _exit(code if isinstance(code, int) else 0)


# writing the output failed: the standard output is a full disk, a closed pipe, a device that refuses
_OUTPUT_ERRNOS = {errno.ENOSPC, errno.EPIPE, errno.EIO, errno.EFBIG, errno.EDQUOT}


def _internal(err: BaseException) -> int:
    if os.environ.get("NETC_DEBUG"):
        raise err
    click.echo(
        f"netc: internal error: {type(err).__name__}: {err}\n"
        "hint: this is a bug in netc; rerun with NETC_DEBUG=1 for a traceback and report it.",
        err=True,
    )
    return _exit(3)


def _output_failed(err: OSError) -> int:
    """The standard output could not take what netc printed: say so (a closed pipe, as `| head`
    leaves it, quietly), and never let the interpreter's own flush at exit print a traceback."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    if err.errno == errno.EPIPE:
        return 141  # 128 + SIGPIPE, as a shell reports a command whose reader went away
    from dsl.fileio import describe_os_error

    with contextlib.suppress(OSError):
        click.echo(f"netc: could not write the output: {describe_os_error(err)}", err=True)
    return 2


def _process_prefix() -> str:
    """'process 2/4: ' in the extra processes of a multi-process run (torchrun sets RANK), so that a
    message from one of them is told apart from rank 0's; '' otherwise."""
    rank, world = os.environ.get("RANK", "0"), os.environ.get("WORLD_SIZE", "1")
    return "" if rank in ("", "0") or world in ("", "1") else f"process {rank}/{world}: "


def _exit(code: int) -> int:
    try:
        sys.stdout.flush()
    except OSError as err:
        return _output_failed(err) if err.errno in _OUTPUT_ERRNOS else code
    return code


if __name__ == "__main__":
    sys.exit(main())
