"""Starting a training session from what a user asks for: `TrainRequest` -> `Session`.

The Python API behind `netc train FILE` (resuming is `dsl.train.resume.resume_session`):

    from dsl.train.launch import TrainRequest, start_session
    session = start_session(TrainRequest("nets/residual_l1_l3.net", data="cifar.npz", runs=3))
    results = session.train()

Everything is checked before the run folder is created: the network (and that it is a
classifier), the settings with the flags applied, the device, and the data against both; then
the data path is chosen (`dsl.train.datapath`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dsl.data import Dataset
from dsl.errors import NetError
from dsl.settings import SettingsError, TrainSettings
from dsl.train.checks import check_trainable
from dsl.train.datapath import Feed, check_fit, choose, precheck, settle
from dsl.train.distributed import World
from dsl.train.engine import Trainer
from dsl.train.request import TrainRequest
from dsl.train.session import Session


def start_session(req: TrainRequest, world: World | None = None, say: Callable[[str], None] | None = None) -> Session:
    """A new run folder for `req`, after every check; the session holds the folder's lock (`world`:
    this process's place in a multi-process run, whose process group is started; only rank 0 writes;
    `say` hears what is being done while the data is read, which can take a while)."""
    from dsl.data import open_dataset
    from dsl.front.loader import load_job

    job = load_job(req.file, req.variant, req.input_shape, req.classes, max_params=req.max_params)
    graph = job.graph
    check_trainable(graph)
    overrides: dict[str, Any] = {"epochs": req.epochs, "batch_size": req.batch_size}
    for key, value in TrainSettings.assignments(req.sets).items():
        if overrides.get(key) is not None:
            raise NetError(f"--set {key} and --{key.replace('_', '-')} both set {key}; give one", file=req.file)
        overrides[key] = value
    try:
        settings = job.settings.with_overrides(**overrides)
    except SettingsError as err:
        raise NetError(
            err.message, file=req.file, hint="check the flags and the file's train { ... } section"
        ) from None
    # a missing device is said before the data is loaded, and data of a known shape is checked too
    trainer = Trainer(req.device, req.precision, req.compile, world=world)
    precheck(req.data, graph, settings)
    if say is not None:
        say(f"reading the data ({req.data or 'CIFAR-10'}) ...")
    ds = open_dataset(req.data, limit=req.limit, limit_test=req.limit_test, channels=graph.input_shape[0])
    size = check_fit(ds, graph, settings)
    choice = trainer.world.agree(choose(ds, settings, trainer.device, trainer.precision, size))
    feed = Feed(settle(ds, choice.path), trainer.device, trainer.precision, req.workers)
    if isinstance(feed.ds, Dataset):
        check_fit(feed.ds, graph, settings)  # a decoded folder: its image size too
    return Session.start(graph, feed.ds, settings, trainer, req, overrides=overrides, choice=choice)
