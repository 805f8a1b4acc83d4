"""Options and helpers shared by the subcommands (no torch here)."""
from __future__ import annotations

import click

max_params_option = click.option(
    "--max-params", type=float, default=1e9, show_default=True,
    help="refuse networks with more parameters than this (checked before anything is allocated)")


def positive(ctx, param, value):
    """click callback: an optional count that must be at least 1."""
    if value is not None and value < 1:
        raise click.BadParameter("must be at least 1")
    return value


def engine_options(f):
    """The training-engine flags `netc train` and `netc search` share."""
    for opt in reversed([
        click.option("--device", default="auto", show_default=True, help="auto, cuda, cuda:N or cpu"),
        click.option("--precision", type=click.Choice(["auto", "bf16", "fp16", "fp32"]), default="auto",
                     show_default=True, help="autocast precision; auto = bf16 on CUDA, fp32 on CPU"),
        click.option("--compile/--no-compile", "compile_", default=False,
                     help="torch.compile the network (compilation happens in the untimed warm-up)"),
        click.option("--batch-size", type=int, default=None, callback=positive,
                     help="override the file's batch_size"),
        click.option("--limit", type=int, default=None, callback=positive,
                     help="train on a fixed random subset of N images (quick checks)"),
        click.option("--limit-test", type=int, default=None, callback=positive,
                     help="test on a fixed random subset of N images"),
    ]):
        f = opt(f)
    return f


def limits(max_params: float) -> dict:
    return {"max_params": int(max_params)}


def human(n: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return f"{n:g}"
