"""The K best runs of a search keep their weights: OUT/best/<name>, each a `netc train` run folder.

A finished run is offered with its row; if it ranks among the K best by the first objective (ties:
the run offered first), its folder is written (under a temporary name, then renamed: a kill leaves
no half folder) and the folder of a run that fell out of the K best is removed. A trial search names
folders `trial-N`; the grid names them as its per-run detail files (`runs/<name>.json`). Only the K
best are compared, so a run costs O(K) however long the search."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dsl.errors import NetError
from dsl.search.study import OBJECTIVES

PARTIAL = ".partial"


def trial_folder(row: dict[str, Any]) -> str:
    """A trial's folder name: trial-N."""
    return f"trial-{int(row['trial'])}"


class Keeper:
    """The OUT/best folder of one search."""

    def __init__(
        self,
        folder: Path,
        k: int,
        objectives: Sequence[str],
        rows: Sequence[dict[str, Any]],
        name: Callable[[dict[str, Any]], str] = trial_folder,
    ):
        self.folder, self.k, self.name = folder, k, name
        self.column, direction = OBJECTIVES[objectives[0]]
        self.sign = -1.0 if direction == "maximize" else 1.0
        self.scores: dict[str, tuple[float, int]] = {}  # folder name -> (signed score, order offered)
        self._offered = 0
        if self.folder.is_dir():
            for p in self.folder.glob(f"*{PARTIAL}"):  # a folder a killed search was writing
                shutil.rmtree(p, ignore_errors=True)
        # the runs kept before: those whose folder is whole (a run whose weights a kill lost cannot be kept)
        for r in rows:
            if r.get("state") not in (None, "", "complete") or r.get(self.column) in (None, ""):
                continue
            try:
                n = self.name(r)
            except (KeyError, TypeError, ValueError):  # a row without what names a folder (a grid row here)
                continue
            if (self.folder / n).is_dir():
                self._score(n, r)
        best = self.best()
        for old in [n for n in self.scores if n not in best]:  # a kill came between a keep and its removal
            shutil.rmtree(self.folder / old, ignore_errors=True)
            del self.scores[old]

    def _score(self, name: str, row: dict[str, Any]) -> None:
        self.scores[name] = (self.sign * float(row[self.column]), self._offered)
        self._offered += 1

    def best(self) -> list[str]:
        """The folder names of the K best runs, best first."""
        return sorted(self.scores, key=lambda n: self.scores[n])[: self.k]

    def offer(self, row: dict[str, Any], save: Callable[[Path], None]) -> bool:
        """Keep the run of `row` if it is among the K best (`save(folder)` writes its run folder)."""
        if self.k <= 0:
            return False
        n = self.name(row)
        self._score(n, row)
        best = self.best()
        dropped = [old for old in self.scores if old not in best]
        self.scores = {t: self.scores[t] for t in best}  # only the K best are ever compared
        if n in best:
            self.folder.mkdir(parents=True, exist_ok=True)
            partial = self.folder / f"{n}{PARTIAL}"
            shutil.rmtree(partial, ignore_errors=True)
            save(partial)
            final = self.folder / n
            if final.exists():
                shutil.rmtree(final)
            try:
                os.replace(partial, final)
            except OSError as err:
                raise NetError(f"cannot keep the run folder '{final}': {err.strerror or err}") from None
        for old in dropped:
            if old != n:
                shutil.rmtree(self.folder / old, ignore_errors=True)
        return n in best
