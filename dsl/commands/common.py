"""Options and helpers shared by the subcommands (no torch here)."""
from __future__ import annotations

import click

max_params_option = click.option(
    "--max-params", type=float, default=1e9, show_default=True,
    help="refuse networks with more parameters than this (checked before anything is allocated)")


def limits(max_params: float) -> dict:
    return {"max_params": int(max_params)}


def human(n: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return f"{n:g}"
