"""The search grid: files x variants x epochs x seeds -> `RunSpec`s (no torch here).

Every run has a resume key, `(config_hash, epochs, seed)`: `config_hash` covers the network's
structure (`net_hash`), its resolved training settings (but the reporting-only `target`), the
dataset and the precision, so a rerun skips exactly the runs already in `results.csv` and redoes
any whose network, settings or data changed.

`net_hash` is the graph's `fingerprint` (the whole expanded structure: ops, concrete parameters,
wiring, shapes): two files whose network lines read the same but whose layer definitions differ
(e.g. `backbone_6_bn_init.net` and `double_width_60.net`) get different hashes, and two texts
that build the same network (`conv(8) -> conv` and `conv(8) -> conv(8)`) the same one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dsl.core.graph import Graph
from dsl.errors import NetError, did_you_mean
from dsl.records import MAX_EPOCHS
from dsl.settings import SettingsError, TrainSettings


@dataclass
class Network:
    """One network of the search: a variant of a search space, or a plain .net file."""

    name: str  # 'Residual:L1+L3', or the file's stem for a plain net
    file: str
    variant: str | None  # the variant name to pass to dsl.load (None for a plain net)
    graph: Graph
    net_hash: str
    settings: TrainSettings = field(repr=False)  # the file's own recipe

    @property
    def canonical(self) -> str:
        """The network's canonical text."""
        return self.graph.canonical


@dataclass
class RunSpec:
    """One run of the grid: a network, a training length, a seed and the resolved settings."""

    network: Network
    epochs: int | float  # the setting: a fraction (9.9) cuts the last epoch short
    seed: int
    settings: TrainSettings = field(repr=False)
    config_hash: str = ""

    @property
    def key(self) -> tuple[str, int | float, int]:
        """The resume key: (config_hash, epochs, seed)."""
        return (self.config_hash, self.epochs, self.seed)

    @property
    def name(self) -> str:
        """The network's name."""
        return self.network.name

    def label(self) -> str:
        """`Residual:L1 20ep seed 3`."""
        return f"{self.network.name} {self.epochs}ep seed {self.seed}"


def run_name(network: str, epochs: int | float, seed: int, config_hash: str) -> str:
    """A run's name in the search folder (its runs/<name>.json, its kept folder best/<name>)."""
    from dsl.train.rundir import safe_name

    return f"{safe_name(network)}-{epochs}ep-seed{seed}-{config_hash}"


def row_name(row: dict[str, Any]) -> str:
    """`run_name` of a results.csv row."""
    return run_name(row["variant"], row["epochs"], int(row["seed"]), row.get("config_hash") or "")


def config_hash(net: str, settings: TrainSettings, data_id: str, precision: str) -> str:
    """The resume key of a run's configuration (everything but the seed and epochs count)."""
    text = json.dumps([net, settings.key(), data_id, precision], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def parse_epochs(text: str | None) -> list[int] | None:
    """'20,22' -> [20, 22]; None/'' -> None (each file's own epochs)."""
    if text is None or not str(text).strip():
        return None
    out = []
    for part in str(text).split(","):
        part = part.strip()
        try:
            v = int(part)
        except ValueError:
            v = None
        if v is None or v < 1 or v > MAX_EPOCHS:
            raise NetError(
                f"--epochs must be a comma-separated list of positive integers such as 20,22; got '{text}'",
                hint="e.g. --epochs 20 or --epochs 20,22",
            )
        if v not in out:
            out.append(v)
    return out


def settings_for(
    file_settings: TrainSettings, epochs: int | None, overrides: dict[str, Any] | None = None, file: str | None = None
) -> TrainSettings:
    """The settings of one run: the file's, with `epochs` (lr knots stretched to it) and overrides."""
    try:
        return file_settings.with_overrides(epochs, **(overrides or {}))
    except SettingsError as err:
        raise NetError(err.message, file=file, hint="check --epochs and the file's train { ... } section") from None


def networks(
    files: list[str] | tuple[str, ...],
    variants: list[str] | None = None,
    skipped: list[str] | None = None,
    **limits: Any,
) -> list[Network]:
    """Load every file; a search space gives one Network per variant (with its own recipe, when the
    recipe has choices), a plain file one Network. Variants that do not build are left out, each
    added to `skipped` (if given) with its located reason."""
    from dsl.front.loader import load_program
    from dsl.train.checks import check_trainable

    found: list[Network] = []
    all_names: list[str] = []
    for f in files:
        prog = load_program(f, **limits)
        vs = prog.variants()
        if skipped is not None:
            skipped.extend(f"{f}: the variant {label} does not build, skipped:\n{err}" for label, err in prog.skipped)
        if vs:
            for v in vs:
                g = prog.graph(v)
                settings = v.settings if v.settings is not None else prog.settings
                found.append(Network(v.name, str(f), v.name, g, g.fingerprint, settings))
        else:
            g = prog.graph()
            found.append(Network(prog.name, str(f), None, g, g.fingerprint, prog.settings))
    for n in found:
        check_trainable(n.graph)
    all_names = [n.name for n in found]
    if variants:
        keep: list[Network] = []
        for want in variants:
            match = [n for n in found if n.name.lower() == want.lower()]
            if not match:
                raise NetError(
                    f"no network named '{want}' in {', '.join(map(str, files))}",
                    hint=" ".join(x for x in (did_you_mean(want, all_names), f"networks: {', '.join(all_names)}") if x),
                )
            keep.extend(m for m in match if m not in keep)
        found = [n for n in found if n in keep]
    unique: list[Network] = []
    by_key: dict[tuple[str, str], Network] = {}
    by_name: dict[str, Network] = {}
    for n in found:
        key = (n.net_hash, json.dumps(n.settings.key(), sort_keys=True))  # the network and its recipe
        if key in by_key:  # e.g. 'Backbone' of both search_residual.net and search_extra.net
            continue
        if n.name in by_name:  # one name, two different networks: qualify with the file's stem
            n.name = f"{Path(n.file).stem}:{n.name}"
        by_key[key] = by_name[n.name] = n
        unique.append(n)
    found = unique
    return found


def plan(
    nets: list[Network],
    epochs: list[int] | None,
    runs: int,
    seed: int = 0,
    data_id: str = "",
    precision: str = "auto",
    overrides: dict[str, Any] | None = None,
) -> list[RunSpec]:
    """The grid, network-major (runs of one network are adjacent: warm compiled models),
    then epochs, then seeds `seed .. seed+runs-1`."""
    if runs < 1:
        raise NetError(f"--runs must be at least 1, got {runs}")
    specs = []
    for n in nets:
        lengths: list[int | None] = list(epochs) if epochs else [None]  # None: the file's own length
        for e in lengths:
            s = settings_for(n.settings, e, overrides, n.file)
            ch = config_hash(n.net_hash, s, data_id, precision)
            for r in range(runs):
                specs.append(RunSpec(n, s.epochs, seed + r, s, ch))
    return specs
