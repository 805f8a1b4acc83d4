"""The Optuna side of a search: strategies, pruners, objectives, the study and its storage.

A study is Optuna's record of a search: every trial, its parameters (one per choice the variant
reached, named as variant names name them: `k`, `c.1`, `relu?@3:12` for a block choice), its
per-epoch test accuracy and its objective values. It lives in `OUT/study.db` (SQLite) unless
`--storage` names a database (`sqlite:///...`, `postgresql://...`), so several machines can work
on one study and `optuna-dashboard sqlite:///OUT/study.db` shows it.

Define-by-run suits the language's conditional choices: a trial is asked for a choice only when
the walk reaches it (`SpaceTree.decide`), so the choices inside an option it did not take are never
sampled. Ranges are integer or float parameters with their step (TPE sees their order); other
choices are categorical.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dsl.errors import NetError
from dsl.expand.choice_names import shown_option
from dsl.expand.choices import Assignment, option_count
from dsl.front import ast
from dsl.front.printer import format_expr

if TYPE_CHECKING:
    import optuna

    from dsl.front.program import Program

STRATEGIES = ("grid", "random", "tpe", "nsga2")
PRUNERS = ("none", "median", "asha", "hyperband")
# objective -> (results.csv column, direction)
OBJECTIVES = {"acc": ("test_acc", "maximize"), "time": ("seconds", "minimize"), "params": ("params", "minimize"),
              "macs": ("macs", "minimize")}  # fmt: skip
STUDY_FILE = "study.db"
HEARTBEAT_S = 60  # a trial whose process has not been heard of for GRACE_S is stale (killed): it is redone
GRACE_S = 180


def import_optuna() -> Any:
    """optuna, or the clear message of how to get it."""
    try:
        import optuna
    except ImportError:
        raise NetError(
            "this search strategy needs Optuna", hint="pip install 'netc[search]' (or pip install optuna)"
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # netc asks and tells itself (define-by-run over its own walk) and keeps each trial's heartbeat
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
    return optuna


def parse_objectives(text: str) -> list[str]:
    """'acc,time' -> ['acc', 'time'], checked: known names, each once."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise NetError("--objective is empty", hint="e.g. --objective acc, or --objective acc,time")
    for n in names:
        if n not in OBJECTIVES:
            raise NetError(f"--objective: unknown objective '{n}'", hint=f"objectives: {', '.join(OBJECTIVES)}")
    if len(set(names)) != len(names):
        raise NetError(f"--objective names an objective twice: {text}")
    return names


def parse_budget(text: str | None) -> float | None:
    """'90s', '30m', '2h', '1.5h' -> seconds; None stays None."""
    if text is None:
        return None
    t = text.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    unit = units.get(t[-1:]) if t[-1:] in units else None
    number = t[:-1] if unit is not None else t
    try:
        value = float(number) * (unit or 1)
    except ValueError:
        value = -1.0
    if not 0 < value <= 1e9:
        raise NetError(f"--budget must be a duration such as 90s, 30m or 2h, got '{text}'")
    return value


def choice_name(c: ast.Choice, program: Program) -> str:
    """The study's name of a choice: a value choice's name (`k`), a block choice's text and place."""
    name = program.value_names.get(c) if isinstance(c, (ast.Alt, ast.Range)) else None
    if name is not None and c in program.space().valued:
        return name
    text = format_expr(c)
    return f"{text if len(text) <= 40 else text[:39] + '…'}@{c.span.line}:{c.span.col}"


def option_labels(c: ast.Choice) -> list[str]:
    """A categorical choice's option labels (unique: a repeated text is numbered)."""
    labels = [shown_option(c, i) for i in range(option_count(c))]
    return [f"{i}: {lab}" if labels.count(lab) > 1 else lab for i, lab in enumerate(labels)]


def suggest(trial: optuna.trial.Trial, program: Program) -> Assignment:
    """The trial's variant: each choice the walk reaches asked of the trial in turn."""

    def ask(c: ast.Choice) -> int:
        name = choice_name(c, program)
        if isinstance(c, ast.Range):
            step = c.step if c.step is not None else 1
            if isinstance(c.lo, int) and isinstance(step, int):
                v = trial.suggest_int(name, c.lo, c.lo + (c.count - 1) * step, step=step)
                return (v - c.lo) // step
            x = trial.suggest_float(name, float(c.lo), float(c.value(c.count - 1)), step=float(step))
            return min(c.count - 1, max(0, round((x - c.lo) / step)))
        labels = option_labels(c)
        return labels.index(trial.suggest_categorical(name, labels))

    return program.space().decide(ask)


@dataclass(frozen=True)
class StudySpec:
    """What a study is: its strategy, pruner, objectives, training length and seed (a resumed
    search must ask the same)."""

    strategy: str
    prune: str
    objectives: tuple[str, ...]
    epochs: int | float
    seed: int
    data: str = ""  # the data's id (path, subsets): a study's trials must all see the same data
    batch_size: int | None = None  # --batch-size (None: each variant's own)
    warmup: int = 1  # epochs before the learning rate's peak: no trial is pruned before (not part of the record)

    def directions(self) -> list[str]:
        """Optuna's direction of each objective."""
        return [OBJECTIVES[o][1] for o in self.objectives]


def storage_url(out: Path, storage: str | None) -> str:
    """The study's database: `--storage`, else OUT/study.db."""
    if storage:
        return storage
    return f"sqlite:///{(out / STUDY_FILE).resolve()}"


def open_study(url: str, name: str, spec: StudySpec, shared: bool = False) -> optuna.Study:
    """The study `name` in `url` (created, or loaded to resume: then it must be the same kind). A
    `shared` study (--storage) may have other processes drawing trials: each draws its own sequence."""
    optuna = import_optuna()
    try:
        storage = optuna.storages.RDBStorage(
            url,
            heartbeat_interval=HEARTBEAT_S,
            grace_period=GRACE_S,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3),
        )
    except Exception as err:  # SQLAlchemy's errors for a bad URL or an unreachable database
        raise NetError(f"cannot open the study storage '{url}': {str(err).splitlines()[0]}") from None
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        load_if_exists=True,
        directions=spec.directions(),
        sampler=_sampler(optuna, spec, shared),
        pruner=make_pruner(optuna, spec),
    )
    recorded = study.user_attrs.get("netc")
    mine = {
        "strategy": spec.strategy,
        "prune": spec.prune,
        "objectives": list(spec.objectives),
        "epochs": spec.epochs,
        "seed": spec.seed,
        "data": spec.data,
        "batch_size": spec.batch_size,
    }
    if recorded is not None and "data" not in recorded:  # a study begun before netc recorded its data
        recorded = {**recorded, "data": spec.data, "batch_size": spec.batch_size}
    if recorded is not None and shared:  # machines sharing a study hold the data at paths of their own
        mine["data"] = recorded.get("data")
    if recorded is None:
        study.set_user_attr("netc", mine)
    elif recorded != mine:
        diff = ", ".join(f"{k} {recorded.get(k)!r} (now {v!r})" for k, v in mine.items() if recorded.get(k) != v)
        raise NetError(
            f"the study '{name}' in {url} was started with other settings: {diff}",
            hint="resume it with the same flags, or search into another --out (or --study name)",
        )
    return study


def sampler_seed(seed: int, shared: bool) -> int:
    """The sampler's seed: --seed; in a shared study, mixed with this process's host and id, so that
    machines started with the same flags do not draw the same variants."""
    if not shared:
        return seed
    import hashlib
    import os
    import socket

    text = f"{seed}:{socket.gethostname()}:{os.getpid()}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def _sampler(optuna: Any, spec: StudySpec, shared: bool) -> Any:
    seed = sampler_seed(spec.seed, shared)
    if spec.strategy == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if spec.strategy == "tpe":
        # multivariate + group: TPE models the choices that are reached together (conditional spaces)
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, n_startup_trials=5)
    if spec.strategy == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    raise NetError(f"--strategy {spec.strategy} is not an Optuna strategy")


def make_pruner(optuna: Any, spec: StudySpec) -> Any:
    """The pruner of --prune (per-epoch test accuracy; none before the learning rate's peak)."""
    epochs = max(1, int(-(-spec.epochs // 1)))
    if spec.prune == "none":
        return optuna.pruners.NopPruner()
    if len(spec.objectives) > 1:
        raise NetError(
            f"--prune {spec.prune} needs one objective: Optuna prunes on the accuracy alone",
            hint="use --prune none with several objectives",
        )
    # accuracy while the learning rate still rises says little of the end: the first pruning waits for the peak
    first = min(max(1, spec.warmup), epochs)
    if spec.prune == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=first)  # prunes from step `first`
    if spec.prune == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=first, reduction_factor=3)
    return optuna.pruners.HyperbandPruner(min_resource=first, max_resource=epochs, reduction_factor=3)


def warmup_epochs(lr: Sequence[tuple[float, float]]) -> int:
    """Whole epochs until the learning-rate schedule's peak (its highest knot, the first if several)."""
    peak = max(lr, key=lambda knot: knot[1])[0]
    return max(1, math.ceil(peak))
