"""A run trained elsewhere (a search's trial) written as a `netc train` run folder: config.json, its
final weights (with their checksum), metrics.csv and result.json, so that `netc eval`, `netc export`
and `netc predict` take it as they take any run."""

from __future__ import annotations

from typing import Any

from dsl.core.graph import Graph
from dsl.settings import TrainSettings
from dsl.train.datapath import Choice
from dsl.train.engine import Trainer
from dsl.train.request import TrainRequest
from dsl.train.session import Session, finished_run
from dsl.train.state import RunResult
from dsl.train.weights import save_weights


def save_trained_run(
    graph: Graph,
    dataset: Any,
    settings: TrainSettings,
    trainer: Trainer,
    request: TrainRequest,
    choice: Choice,
    result: RunResult,
) -> None:
    """Write `result` (its model still held) as the one run of a new run folder at `request.out`."""
    assert result.model is not None and request.out is not None
    overrides = {"epochs": request.epochs, "batch_size": request.batch_size}
    session = Session.start(graph, dataset, settings, trainer, request, overrides=overrides, choice=choice)
    try:
        rd = session.rundir
        save_weights(result.model.state_dict(), rd.weights(0))
        rd.write_metrics([dict(r, run=0) for r in result.rows])
        rd.write_result(graph.name, [finished_run(0, result.rows, result.warmup_s)], 1, settings.target)
    finally:
        session.close()
