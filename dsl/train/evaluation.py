"""`netc eval` as a library call: a trained run's figures on its own test data, or on other data.

The data is `data`, else the data the run trained on (config.json's `data.arg`; none means the
CIFAR-10 download), with the run's `--limit-test` subset when it had one, so the figures on the run's
own data are those of its last epoch in metrics.csv. What the caller should hear while it happens
(the data's notice, data that changed since the run, class names that differ) goes to `say`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch

from dsl.errors import DataError
from dsl.train.infer import EvalOptions, Evaluation, evaluate
from dsl.train.trained import TrainedRun, load_run


@dataclass(frozen=True)
class EvalRequest:
    """One `netc eval`: the run folder and every flag (None keeps the run's own)."""

    run_dir: str
    run: int = 0
    data: str | None = None
    limit_test: int | None = None
    tta: int | None = None
    batch_size: int | None = None
    device: str = "auto"
    precision: str = "fp32"
    max_params: int = 1_000_000_000


@dataclass
class RunEvaluation:
    """A run's figures and where they came from."""

    evaluation: Evaluation
    trained: TrainedRun
    source: str  # the data, as the user names it ("CIFAR-10" for the download)
    device: torch.device


def evaluate_run(req: EvalRequest, say: Callable[[str], None] = print) -> RunEvaluation:
    """Evaluate run `req.run` of `req.run_dir` (see the module docstring)."""
    from dsl.data import load_dataset
    from dsl.data.named import dataset_name
    from dsl.train.device import resolve_device

    trained = load_run(req.run_dir, req.run, max_params=req.max_params)
    graph, cfg = trained.graph, trained.config
    dev = resolve_device(req.device)  # a missing GPU is said before the data is loaded
    own = req.data is None
    arg = cfg.data.arg if own else req.data
    if own and arg is not None and dataset_name(arg) is None and not os.path.exists(arg):
        raise DataError(
            f"the data run {req.run} of '{req.run_dir}' trained on, '{arg}', is no longer there",
            file=arg,
            hint="pass --data PATH",
        )
    limit_test = cfg.data.limit_test if own and req.limit_test is None else req.limit_test
    same_subset = own and limit_test == cfg.data.limit_test
    ds = load_dataset(
        arg, limit=cfg.data.limit if same_subset else None, limit_test=limit_test, channels=graph.input_shape[0]
    )
    if ds.notice:
        say(ds.notice)
    ds.check_fits(graph)
    trained.settings.check_data(ds.image_shape, ds.source)
    if same_subset:
        from dsl.train.identity import dataset_digest

        if dataset_digest(ds) != cfg.data.digest:
            say(
                f"note: the data at '{ds.source}' differs from what the run trained on; "
                "the figures will not match its metrics.csv"
            )
    classes = trained.classes
    if not cfg.data.classes and len(ds.classes) == len(classes):
        classes = list(ds.classes)  # the run's data named none: the evaluation data's names are better than numbers
    elif ds.classes and cfg.data.classes and list(ds.classes) != list(cfg.data.classes)[: len(ds.classes)]:
        say(f"note: '{ds.source}' names its classes differently from the run's data; showing the run's names")
    x, y = ds.test_x, ds.test_y
    del ds  # the training images are not needed
    tta = trained.settings.tta if req.tta is None else req.tta
    ev = evaluate(trained.model, x, y, trained.settings, classes, EvalOptions(req.batch_size, dev, req.precision, tta))
    return RunEvaluation(ev, trained, arg if arg is not None else "CIFAR-10", dev)
