"""Executing the search grid through the training engine (`dsl.train.engine`).

One `SearchWorker` per process: it owns one `Trainer` (compiled, warmed-up models are kept between
runs of the same network) and loads the dataset onto its device once. Backends:

* `run_local`: in this process (the default; one device).
* `run_workers`: a `concurrent.futures` pool of N spawned processes, one per device (`cuda:0..N-1`,
  or CPU with the cores split); the parent writes `results.csv` as the runs finish.
* `dsl.search.ray_backend.run_ray`: each run is a Ray task; Ray's worker processes are reused
  (max_calls=0), so a GPU's worker keeps its dataset and compiled models too.

Every backend calls `on_result(spec, row, epoch_rows)` / `on_fail(spec, message)` in the parent for
each finished run; only the parent writes files.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dsl.errors import NetError

if TYPE_CHECKING:
    from dsl.data import Dataset, ImageFiles
    from dsl.search.grid import RunSpec
    from dsl.train.datapath import Feed
    from dsl.train.report import Reporter
    from dsl.train.state import RunResult

OnResult = Callable[..., None]


@dataclass(frozen=True)
class EngineConfig:
    """What every run of a search shares: the data and how the engine trains."""

    data: str | None = None
    limit: int | None = None
    limit_test: int | None = None
    device: str = "auto"
    precision: str = "auto"
    compile: bool = False
    channels: int = 3
    plugins: tuple[str, ...] = ()  # op plugin modules worker processes load before building nets

    def bound(self, channels: int) -> EngineConfig:
        """This config for networks of `channels` input channels, with the op plugins loaded here (which
        worker processes load again)."""
        from dsl.plugins import loaded

        return dataclasses.replace(self, channels=channels, plugins=tuple(loaded()))

    def data_id(self) -> str:
        """What identifies the data in a run's resume key."""
        from dsl.data.named import data_arg

        where = "cifar10-download" if self.data is None else data_arg(self.data)
        return f"{where}|train={self.limit}|test={self.limit_test}"


def load_data(cfg: EngineConfig) -> Dataset | ImageFiles:
    """The search's dataset, as `cfg` describes it (an image folder listed, read as runs need it)."""
    from dsl.data import open_dataset

    return open_dataset(cfg.data, limit=cfg.limit, limit_test=cfg.limit_test, channels=cfg.channels)


class SearchWorker:
    """Trains RunSpecs on one device, fed as `netc train` is (the prepared data kept while runs agree on it)."""

    def __init__(
        self,
        cfg: EngineConfig,
        device: str | None = None,
        dataset: Dataset | ImageFiles | None = None,
        name: str | None = None,
    ):
        from dsl.train.engine import Trainer, device_name

        self.cfg = cfg
        self.trainer = Trainer(device or cfg.device, cfg.precision, cfg.compile)
        self.device_name = device_name(self.trainer.device)
        if self.trainer.device.type == "cuda" and self.trainer.device.index is not None:
            self.device_name += f" ({self.trainer.device})"
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self._dataset = dataset
        self._feed: Feed | None = None

    def dataset(self) -> Dataset | ImageFiles:
        """The dataset (loaded on first use)."""
        if self._dataset is None:
            self._dataset = load_data(self.cfg)
        return self._dataset

    def feed(self) -> Feed:
        """The data path `netc train` takes too (`dsl.train.datapath.Feed`), made on first use."""
        if self._feed is None:
            from dsl.train.datapath import Feed

            self._feed = Feed(self.dataset(), self.trainer.device, self.trainer.precision)
        return self._feed

    def run(
        self, spec: RunSpec, reporter: Reporter | None = None, keep: Callable[[Any, RunResult], None] | None = None
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Train one run; (its results.csv row, its per-epoch rows). `reporter` hears every epoch (a
        search's pruner raises from it); `keep(choice, result)` gets the run with its trained model."""
        from dsl.train.engine import RunHooks

        net = spec.network
        feed = self.feed()
        choice, size = feed.choice(net.graph, spec.settings)
        data = feed.data(spec.settings, choice.path, size)
        hooks = RunHooks(reporter) if reporter is not None else None
        result = self.trainer.run(
            net.graph, data, spec.settings, seed=spec.seed, keep_model=keep is not None, hooks=hooks
        )
        if keep is not None:
            keep(choice, result)  # the caller holds the model as long as it needs it
        row = dict(
            variant=net.name,
            file=net.file,
            net_hash=net.net_hash,
            config_hash=spec.config_hash,
            epochs=spec.epochs,
            seed=spec.seed,
            test_acc=result.test_acc,
            test_loss=result.test_loss,
            train_acc=result.train_acc,
            train_loss=result.train_loss,
            seconds=result.seconds,
            warmup_s=result.warmup_s,
            target=spec.settings.target,
            params=int(net.graph.params),
            macs=int(net.graph.macs),
            device=self.device_name,
            precision=self.trainer.precision,
            worker=self.name,
            finished_at=_dt.datetime.now().isoformat(timespec="seconds"),
        )
        return row, [dict(r) for r in result.rows]


# ----------------------------------------------------------------------------- in this process
def run_local(
    specs: list[RunSpec],
    cfg: EngineConfig,
    on_result: OnResult,
    on_fail: OnResult,
    dataset: Dataset | ImageFiles | None = None,
    stop_on_error: bool = False,
    on_model: OnResult | None = None,
) -> None:
    """Train the runs one after another in this process; `on_model(spec, row, worker, choice, result)`,
    if given, gets each finished run with its trained model, after `on_result`."""
    worker = SearchWorker(cfg, dataset=dataset, name=f"{socket.gethostname()}:{os.getpid()}")
    kept: dict[str, Any] = {}

    def keep(choice: Any, result: RunResult) -> None:
        kept["choice"], kept["result"] = choice, result

    for spec in specs:
        try:
            row, rows = worker.run(spec, keep=keep if on_model is not None else None)
        except NetError as err:
            if stop_on_error:
                raise
            on_fail(spec, str(err))
            continue
        on_result(spec, row, rows)
        if on_model is not None:
            on_model(spec, row, worker, kept["choice"], kept["result"])
            kept.clear()  # the model goes before the next run


# ----------------------------------------------------------------------------- N local processes
def worker_devices(n: int, device: str) -> list[str]:
    """One device per worker: cuda:0..k-1 round robin when CUDA is used, else the one device given."""
    from dsl.train.engine import resolve_device  # the trainer owns device checks (and the torch import)

    dev = resolve_device(device)
    if dev.type == "cuda" and dev.index is None:
        import torch

        count = torch.cuda.device_count()
        return [f"cuda:{i % count}" for i in range(n)]
    return [str(dev)] * n


_WORKER: list[SearchWorker] = []  # the one SearchWorker of a pool process (made by `_start_worker`)


def _start_worker(cfg: EngineConfig, devices: Any, threads: int) -> None:
    """A pool process's initializer: its own device (one of `devices`, a queue), threads, plugins."""
    import torch

    from dsl.plugins import load_plugins

    load_plugins(cfg.plugins)  # a spawned process starts with netc's own ops only
    if threads:
        torch.set_num_threads(threads)
    device = devices.get()
    _WORKER.append(SearchWorker(cfg, device=device, name=f"{socket.gethostname()}:{os.getpid()}/{device}"))


def _run_in_worker(spec: RunSpec) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One run in a pool process (a NetError travels back to the parent as it is)."""
    return _WORKER[0].run(spec)


def run_workers(
    specs: list[RunSpec],
    cfg: EngineConfig,
    n: int,
    on_result: OnResult,
    on_fail: OnResult,
    log: Callable[[str], None] = print,
) -> None:
    """Train the runs in a pool of `n` spawned processes (the standard library's), one device each;
    results come back here, in the order the runs finish."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    devices = worker_devices(n, cfg.device)
    threads = max(1, (os.cpu_count() or 1) // n) if devices[0] == "cpu" else 0
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    for d in devices:
        queue.put(d)
    log(
        f"{n} worker processes on {', '.join(sorted(set(devices)))}"
        + (f" ({threads} CPU threads each)" if threads else "")
    )
    with ProcessPoolExecutor(n, mp_context=ctx, initializer=_start_worker, initargs=(cfg, queue, threads)) as pool:
        futures = {pool.submit(_run_in_worker, spec): spec for spec in specs}
        try:
            for future in as_completed(futures):
                spec = futures[future]
                try:
                    row, rows = future.result()
                except NetError as err:
                    on_fail(spec, str(err))
                    continue
                on_result(spec, row, rows)
        except BrokenProcessPool:
            left = sum(not f.done() or f.exception() is not None for f in futures)
            raise NetError(
                f"a worker process stopped (killed, or out of memory) with {left} runs left",
                hint="rerun the same command to resume: the finished runs are in results.csv",
            ) from None
        finally:
            for f in futures:
                f.cancel()
