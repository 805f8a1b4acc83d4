"""The documented limits of the language: what a .net file may ask for before netc refuses it.

Every limit is checked while expanding, before anything is allocated, and refused with a
located error; docs/language.md lists them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Bounds on one network (and on a search space as a whole)."""

    max_params: int = 1_000_000_000  # trainable parameters (`--max-params` changes it)
    max_nodes: int = 200_000  # ops in one network
    max_repeat: int = 10_000  # n in x^n
    max_activation: int = 1 << 31  # values of one op's output, per sample
    max_depth: int = 64  # definitions called inside definitions
    max_nesting: int = 20_000  # expression levels as expanded (definitions, blocks passed as
    # arguments, calls and postfix operators together)
    max_variants: int = 4_096  # combinations of search-space choices
    max_space_ops: int = 300_000  # ops over all variants of a search space together
    max_imports: int = 256  # .net files imported, directly or not

    def __post_init__(self) -> None:
        for name, value in self.__dict__.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"limit {name} must be a whole number >= 1, got {value!r}")
