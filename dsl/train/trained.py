"""A trained network from a run folder: `dsl.load_run(run_dir)`.

The network is rebuilt from the copy of its sources kept in config.json (so it is the network the
run trained, whatever happened to the .net file since) and checked against the run's fingerprint;
the final weights of the chosen run are loaded from `weights-runN.pt` with `weights_only=True`,
after checking its size against the network and its checksum (`weights-runN.pt.sha256`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from dsl.core.graph import Graph
from dsl.errors import NetError
from dsl.settings import TrainSettings
from dsl.train.rundir import RunConfig, RunDir
from dsl.train.weights import WeightsError, apply_weights, load_weights, size_bound

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@dataclass
class TrainedRun:
    """One trained run: its module (eval mode, on the CPU), graph, settings and run folder."""

    model: torch.nn.Module
    graph: Graph
    settings: TrainSettings
    config: RunConfig
    run: int
    weights_file: Path

    @property
    def classes(self) -> list[str]:
        """Class names: the data's own, else CIFAR-10's for 10 outputs, else '0', '1', ..."""
        n = self.graph.output_shape[0]
        named = self.config.data.classes
        if len(named) == n:
            return list(named)
        return list(CIFAR10_CLASSES) if n == 10 else [str(i) for i in range(n)]


def load_run(run_dir: str | os.PathLike[str], run: int = 0, max_params: int = 1_000_000_000) -> TrainedRun:
    """The trained network of run `run` (0 for the first seed) of a `netc train` folder."""
    from dsl.front.loader import load_saved
    from dsl.nn.compile import build

    rd = RunDir.open(run_dir)
    cfg = rd.read_config()
    if not 0 <= run < cfg.runs:
        raise NetError(
            f"'{rd.path}' holds {cfg.runs} run(s), numbered 0 to {cfg.runs - 1}; there is no run {run}",
            file=str(rd.path),
        )
    shape = cfg.input_shape
    program = load_saved(cfg.sources, cfg.net.main_source, shape, cfg.net.classes, max_params=max_params)
    if cfg.net.decisions is not None:  # drawn by a search from a space too large to list
        graph = program.graph(program.variant_of(program.decisions_from_list(cfg.net.decisions, str(rd.config))))
    else:
        graph = program.graph(cfg.net.variant)
    if graph.fingerprint != cfg.fingerprint:
        raise NetError(
            f"the network saved in '{rd.config}' expands differently with this netc (fingerprint "
            f"{graph.fingerprint}, the run's {cfg.fingerprint}); its weights would not fit",
            file=str(rd.config),
            hint="use the netc version that trained the run",
        )
    path = rd.weights(run)
    if not path.exists():
        raise WeightsError(
            f"'{rd.path}' has no final weights for run {run} ({path.name}): the run has not finished, or it "
            "was trained by a netc that did not save them",
            file=str(rd.path),
            hint=f"finish it with netc train --resume {rd.path}, or train it again",
        )
    model = build(graph)
    apply_weights(model, load_weights(path, size_bound(model), require_checksum=True), str(path))
    return TrainedRun(model.eval(), graph, cfg.settings, cfg, run, path)
