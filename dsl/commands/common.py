"""Options and helpers shared by the subcommands (no torch here)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

MAX_PARAMS_CEILING = 10**15


def _max_params(ctx: click.Context, param: click.Parameter, value: float) -> int:
    """click callback: a finite parameter budget between 1 and 10^15 (so 1e9 and 2.5e8 work)."""
    if not (value == value and 1 <= value <= MAX_PARAMS_CEILING):  # value == value: not nan
        raise click.BadParameter(f"must be a number from 1 to {MAX_PARAMS_CEILING:.0e}, e.g. 1e9")
    return int(value)


max_params_option = click.option(
    "--max-params",
    type=float,
    default=1e9,
    show_default=True,
    callback=_max_params,
    help="refuse networks with more parameters than this (checked before anything is allocated)",
)


def positive(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    """click callback: an optional count that must be at least 1."""
    if value is not None and value < 1:
        raise click.BadParameter("must be at least 1")
    return value


def shape(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, ...] | None:
    """click callback: an input size as in a .net file's input line (3x32x32, 64x128 or 784)."""
    if value is None:
        return None
    parts = value.lower().replace("×", "x").split("x")
    if not 1 <= len(parts) <= 3 or not all(p.strip().isdigit() and 1 <= int(p) <= 1_000_000 for p in parts):
        raise click.BadParameter(f"{value!r} is not a size such as 3x32x32 (C x H x W), 64x128 or 784")
    return tuple(int(p) for p in parts)


def engine_options(f: F) -> F:
    """The training-engine flags `netc train` and `netc search` share."""
    for opt in reversed(
        [
            click.option("--device", default="auto", show_default=True, help="auto, cuda, cuda:N or cpu"),
            click.option(
                "--precision",
                type=click.Choice(["auto", "bf16", "fp16", "fp32"]),
                default="auto",
                show_default=True,
                help="autocast precision; auto = bf16 on CUDA, fp32 on CPU",
            ),
            click.option(
                "--compile/--no-compile",
                "compile_",
                default=False,
                help="torch.compile the network (compilation happens in the untimed warm-up)",
            ),
            click.option(
                "--batch-size", type=int, default=None, callback=positive, help="override the file's batch_size"
            ),
            click.option(
                "--limit",
                type=int,
                default=None,
                callback=positive,
                help="train on a fixed random subset of N images (quick checks)",
            ),
            click.option(
                "--limit-test",
                type=int,
                default=None,
                callback=positive,
                help="test on a fixed random subset of N images",
            ),
        ]
    ):
        f = opt(f)
    return f


def human(n: float) -> str:
    """1.23G, 4.56M, 7.89k."""
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return f"{n:g}"


def invocation(ctx: click.Context) -> list[str]:
    """The arguments `netc` was called with (`dsl.cli.main` keeps them in the root context's obj)."""
    obj = ctx.find_root().obj
    return list(obj.get("argv", [])) if isinstance(obj, dict) else []
