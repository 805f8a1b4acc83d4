"""The K best trials of a search keep their weights: OUT/best/trial-N, each a `netc train` run folder.

A finished trial is offered with its row; if it ranks among the K best by the first objective (ties:
the earlier trial), its folder is written (under a temporary name, then renamed: a kill leaves no
half folder) and the folders of trials that fell out of the K best are removed."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dsl.errors import NetError
from dsl.search.study import OBJECTIVES

PARTIAL = ".partial"


class Keeper:
    """The OUT/best folder of one search."""

    def __init__(self, folder: Path, k: int, objectives: Sequence[str], rows: Sequence[dict[str, Any]]):
        self.folder, self.k = folder, k
        self.column, direction = OBJECTIVES[objectives[0]]
        self.sign = -1.0 if direction == "maximize" else 1.0
        self.scores: dict[int, float] = {}
        if self.folder.is_dir():
            for p in self.folder.glob(f"*{PARTIAL}"):  # a folder a killed search was writing
                shutil.rmtree(p, ignore_errors=True)
        # the trials kept before: those whose folder is whole (a trial whose weights a kill lost cannot be kept)
        for r in rows:
            kept = r.get("trial") is not None and (self.folder / f"trial-{int(r['trial'])}").is_dir()
            if kept and r.get("state") in (None, "", "complete"):
                self.scores[int(r["trial"])] = self.sign * float(r[self.column])

    def best(self) -> list[int]:
        """The K best trials, best first."""
        return sorted(self.scores, key=lambda t: (self.scores[t], t))[: self.k]

    def offer(self, row: dict[str, Any], save: Callable[[Path], None]) -> bool:
        """Keep the trial of `row` if it is among the K best (`save(folder)` writes its run folder)."""
        if self.k <= 0:
            return False
        n = int(row["trial"])
        self.scores[n] = self.sign * float(row[self.column])
        best = self.best()
        if n in best:
            self.folder.mkdir(parents=True, exist_ok=True)
            partial = self.folder / f"trial-{n}{PARTIAL}"
            shutil.rmtree(partial, ignore_errors=True)
            save(partial)
            final = self.folder / f"trial-{n}"
            if final.exists():
                shutil.rmtree(final)
            try:
                os.replace(partial, final)
            except OSError as err:
                raise NetError(
                    f"cannot keep trial {n}'s run folder in '{self.folder}': {err.strerror or err}"
                ) from None
        for p in self.folder.glob("trial-*") if self.folder.is_dir() else ():
            number = p.name.removeprefix("trial-")
            if number.isdigit() and int(number) not in best:
                shutil.rmtree(p, ignore_errors=True)
        return n in best
