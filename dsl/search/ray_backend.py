"""`netc search --ray ADDRESS`: each run is a Ray task; rows come back to the driver.

Ray is optional (`pip install 'netc[ray]'`). `--ray local` starts a private local Ray instance;
any other value is passed to `ray.init(address=...)` (e.g. `auto` on a cluster node, or
`ray://head:10001`). On a cluster with GPUs each task asks for one GPU (`num_gpus=1`), else for
one CPU. The remote function is declared with `max_calls=0`, so Ray keeps its worker processes
between tasks (Ray's default for GPU tasks is a fresh process per task): each worker process keeps
one `SearchWorker` (its Trainer, compiled models and the dataset on its device). The dataset is
loaded once by the driver and shipped through Ray's object store (`ray.put`), so workers on other
machines need no copy of the data; they need the same netc (and torch) installed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dsl.errors import NetError
from dsl.search.runner import EngineConfig, SearchWorker

if TYPE_CHECKING:
    from dsl.data import Dataset
    from dsl.search.grid import RunSpec

INSTALL_HINT = "install it with: pip install 'netc[ray]'  (or: pip install 'ray[default]')"
_WORKER: dict[EngineConfig, SearchWorker] = {}  # per Ray worker process: its SearchWorker


def import_ray() -> Any:
    """The ray module, or a clean NetError saying how to install it."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise NetError("--ray needs the Ray library, which is not installed", hint=INSTALL_HINT) from None
    return ray


def _task(cfg: EngineConfig, data_box: list[Any], spec: RunSpec) -> tuple[str, Any]:
    """Runs inside a Ray worker process; `data_box` = [ObjectRef of the Dataset], fetched once."""
    worker = worker_for(cfg, data_box)
    try:
        return ("ok", worker.run(spec))
    except NetError as err:
        return ("fail", str(err))


def worker_for(cfg: EngineConfig, data_box: list[Any]) -> SearchWorker:
    """This Ray worker process's SearchWorker for `cfg` (made once, with the dataset from the object store)."""
    import ray

    worker = _WORKER.get(cfg)
    if worker is None:
        from dsl.plugins import load_plugins

        load_plugins(cfg.plugins)  # a Ray worker starts with netc's own ops only
        import numpy as np

        from dsl.data import Dataset

        ds = ray.get(data_box[0])
        if isinstance(ds, Dataset):  # object-store arrays are read-only views; torch wants writable memory
            for k in ("train_x", "train_y", "test_x", "test_y"):
                setattr(ds, k, np.array(getattr(ds, k)))
        name = f"{ray.util.get_node_ip_address()}:{os.getpid()}"
        worker = _WORKER[cfg] = SearchWorker(cfg, device=cfg.device, dataset=ds, name=name)
    return worker


def placement(ray: Any, cfg: EngineConfig) -> tuple[EngineConfig, dict[str, int], int]:
    """(the tasks' engine config, each task's Ray resources, how many tasks fit at once): one GPU
    each on a cluster with GPUs (unless --device cpu), else one CPU each."""
    res = ray.cluster_resources()
    gpus = 0 if cfg.device == "cpu" else int(res.get("GPU", 0))
    if cfg.device.startswith("cuda") and not gpus:
        raise NetError("--device cuda was asked for but the Ray cluster has no GPUs", hint="use --device auto or cpu")
    opts = dict(num_gpus=1, num_cpus=1) if gpus else dict(num_cpus=1)
    task_cfg = EngineConfig(
        cfg.data,
        cfg.limit,
        cfg.limit_test,
        "cuda" if gpus else "cpu",
        cfg.precision,
        cfg.compile,
        cfg.channels,
        cfg.plugins,
    )
    return task_cfg, opts, max(1, gpus or int(res.get("CPU", 1)))


def connect(ray: Any, address: str, log: Callable[[str], None]) -> bool:
    """Start (address 'local') or join a Ray instance; whether this call started it (then it shuts it down)."""
    if ray.is_initialized():
        return False
    kwargs = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
    if address == "local":
        try:
            ray.init(**kwargs)
        except Exception as err:  # Ray's own start-up failures have many types
            raise NetError(
                f"cannot start a local Ray instance: {type(err).__name__}: {err}",
                hint="check 'ray start --head' works on this machine, or drop --ray",
            ) from None
        log(
            f"started a local Ray instance ({int(ray.cluster_resources().get('CPU', 0))} CPUs, "
            f"{int(ray.cluster_resources().get('GPU', 0))} GPUs)"
        )
    else:
        try:
            ray.init(address=address, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as err:
            raise NetError(
                f"cannot connect to the Ray cluster at '{address}': {err}",
                hint="start one with 'ray start --head', pass its address (or 'auto' on a node "
                "of the cluster), or use --ray local",
            ) from None
        res = ray.cluster_resources()
        log(f"connected to Ray at {address} ({int(res.get('CPU', 0))} CPUs, {int(res.get('GPU', 0))} GPUs)")
    return True


def run_ray(
    address: str,
    specs: list[RunSpec],
    cfg: EngineConfig,
    on_result: Callable[..., None],
    on_fail: Callable[..., None],
    dataset: Dataset | None = None,
    log: Callable[[str], None] = print,
    shutdown: bool | None = None,
) -> None:
    """Train every run as a Ray task on the cluster at `address` ('local' starts one here)."""
    ray = import_ray()
    from dsl.search.runner import load_data

    started = connect(ray, address, log)
    try:
        task_cfg, opts, _ = placement(ray, cfg)
        remote = ray.remote(max_calls=0, max_retries=1, **opts)(_task)
        ds = dataset if dataset is not None else load_data(cfg)
        box = [ray.put(ds)]
        futures = {remote.remote(task_cfg, box, spec): spec for spec in specs}
        while futures:
            done, _ = ray.wait(list(futures), num_returns=1)
            for f in done:
                spec = futures.pop(f)
                try:
                    kind, payload = ray.get(f)
                except ray.exceptions.RayError as err:
                    on_fail(spec, f"Ray task failed: {str(err).strip().splitlines()[-1] if str(err).strip() else err}")
                    continue
                if kind == "ok":
                    on_result(spec, *payload)
                else:
                    on_fail(spec, payload)
    finally:
        if started and (shutdown is None or shutdown):
            ray.shutdown()
