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

from dataclasses import dataclass
from typing import Any

from ..data import Dataset
from ..errors import NetError
from ..settings import SettingsError, TrainSettings
from .checks import check_trainable
from .datapath import check_fit, choose, settle
from .distributed import World
from .engine import Trainer
from .session import Session


@dataclass(frozen=True)
class TrainRequest:
    """One `netc train` invocation: the file and every flag (None keeps the file's value)."""

    file: str
    data: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    runs: int = 1
    seed: int = 0
    variant: str | None = None
    out: str | None = None
    device: str = "auto"
    precision: str = "auto"
    compile: bool = False
    limit: int | None = None
    limit_test: int | None = None
    checkpoint: bool = True
    max_params: int = 1_000_000_000
    sets: tuple[str, ...] = ()  # `--set key=value` flags, applied after the file's train { } section
    workers: int | None = None  # DataLoader worker processes of the streamed path (None: stream.default_workers())


def start_session(req: TrainRequest, world: World | None = None) -> Session:
    """A new run folder for `req`, after every check; the session holds the folder's lock (`world`:
    this process's place in a multi-process run, whose process group is started; only rank 0 writes)."""
    from ..data import open_dataset
    from ..data.named import data_arg
    from ..loader import load_one

    graph = load_one(req.file, variant=req.variant, max_params=req.max_params)
    check_trainable(graph)
    overrides: dict[str, Any] = {"epochs": req.epochs, "batch_size": req.batch_size}
    for key, value in TrainSettings.assignments(req.sets).items():
        if overrides.get(key) is not None:
            raise NetError(f"--set {key} and --{key.replace('_', '-')} both set {key}; give one", file=req.file)
        overrides[key] = value
    try:
        settings = graph.settings.with_overrides(**overrides)
    except SettingsError as err:
        raise NetError(
            err.message, file=req.file, hint="check the flags and the file's train { ... } section"
        ) from None
    # a missing device is said before the data is loaded
    trainer = Trainer(req.device, req.precision, req.compile, world=world)
    ds = open_dataset(req.data, limit=req.limit, limit_test=req.limit_test, channels=graph.input_shape[0])
    size = check_fit(ds, graph, settings)
    choice = trainer.world.agree(choose(ds, settings, trainer.device, trainer.precision, size))
    ds = settle(ds, choice.path)
    if isinstance(ds, Dataset):
        check_fit(ds, graph, settings)  # a decoded folder: its image size too
    return Session.start(
        graph,
        ds,
        settings,
        runs=req.runs,
        seed=req.seed,
        trainer=trainer,
        out=req.out,
        net_file=req.file,
        variant=req.variant,
        data_arg=data_arg(req.data),  # a dataset's name stays a name; a path is made absolute
        limits=(req.limit, req.limit_test),
        overrides=overrides,
        checkpoint=req.checkpoint,
        choice=choice,
        workers=req.workers,
    )
