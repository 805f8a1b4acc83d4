"""One run over several processes with DistributedDataParallel (`netc train --gpus N`, or torchrun).

Each process ("rank") holds the whole model and computes the same global batch order and
augmentation (their random state is rank 0's, broadcast before every epoch); it trains on its
shard of every global batch (`World.shard`: contiguous rows, sizes differing by at most one), and
DDP averages the gradients. The loss each rank backpropagates is scaled (`World.loss_scale`) so the
average is exactly the one-process gradient of the same global batch; batch norm uses the global
batch's statistics (`syncbn.sync_batch_norm`). So the global batch size, the learning-rate schedule
and the weights after each step are the one-process run's (within float tolerance; dropout masks
are drawn per shard). Test evaluation is sharded too and its sums all-reduced. Only rank 0 writes
the run folder; checkpoints hold the plain model's state, so a run resumes with any number of
processes.

Processes are started by torch's own launcher (torch.distributed.run, i.e. torchrun): `launch`
runs it in-process for `--gpus N`; a user's `torchrun --nproc-per-node N -m dsl.cli train FILE`
works the same way, since `World.from_env` reads the variables torchrun sets.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist

from dsl.errors import NetError

_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
T = TypeVar("T")


@dataclass(frozen=True)
class World:
    """This process's place among the processes of one run."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Whether this process writes files and prints (rank 0)."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        """Whether the run has more than one process."""
        return self.size > 1

    @staticmethod
    def from_env() -> World:
        """The world torchrun describes in RANK, WORLD_SIZE and LOCAL_RANK; one process without them."""
        values = [os.environ.get(k) for k in _ENV]
        if values[1] is None:
            return World()
        try:
            rank, size, local = (int(v if v is not None else "0") for v in values)
        except ValueError:
            raise NetError(
                "RANK, WORLD_SIZE and LOCAL_RANK must be integers (torchrun sets them): "
                + ", ".join(f"{k}={v!r}" for k, v in zip(_ENV, values))
            ) from None
        if not (size >= 1 and 0 <= rank < size and local >= 0):
            raise NetError(f"inconsistent torchrun environment: RANK={rank}, WORLD_SIZE={size}, LOCAL_RANK={local}")
        return World(rank, size, local)

    def shard(self, n: int) -> slice:
        """The rows of an n-row global batch this process trains on."""
        return slice(self.rank * n // self.size, (self.rank + 1) * n // self.size)

    def loss_scale(self, global_rows: int, mean: bool) -> float:
        """Factor on this shard's summed loss so that DDP's gradient average equals the one-process
        gradient of the global batch's summed (or, with `mean`, mean) loss."""
        return self.size / global_rows if mean else float(self.size)

    def all_sum(self, t: torch.Tensor) -> torch.Tensor:
        """`t` summed over all processes (in place; `t` itself with one process)."""
        if self.active:
            dist.all_reduce(t)
        return t

    def agree(self, value: T) -> T:
        """Rank 0's `value` on every process (for choices that could differ between processes, such
        as a data path chosen from the free memory)."""
        if not self.active:
            return value
        box = [value]
        dist.broadcast_object_list(box, 0)
        return box[0]

    def share_rng(self, device: torch.device) -> None:
        """Give every process rank 0's random state for `device`, so data order and augmentation,
        drawn from it, are the same everywhere (dropout may have advanced them differently)."""
        if not self.active:
            return
        if device.type == "cuda":
            state = torch.cuda.get_rng_state(device).to(device)
            dist.broadcast(state, 0)
            torch.cuda.set_rng_state(state.cpu(), device)
        state = torch.get_rng_state()
        # gloo and nccl both move it: nccl only from the GPU
        moved = state.to(device) if device.type == "cuda" else state.clone()
        dist.broadcast(moved, 0)
        torch.set_rng_state(moved.cpu())


def device_for(world: World, requested: str) -> str:
    """The device string for this process: each rank takes its own GPU, `cuda:LOCAL_RANK`."""
    if not world.active or requested == "cpu":
        return requested
    if requested.startswith("cuda:"):
        raise NetError(
            f"--device {requested} names one GPU, but this run has {world.size} processes",
            hint="give --device cuda (or auto): process k uses cuda:k",
        )
    if requested in ("auto", "cuda") and torch.cuda.is_available():
        return f"cuda:{world.local_rank}"
    return requested


def start(world: World, device: torch.device) -> None:
    """Join the process group: nccl between GPUs, gloo on the CPU."""
    if not world.active or dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device)
    else:
        # N processes share the CPU: give each its share of the cores rather than N times all of them
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world.size))
        dist.init_process_group("gloo")


def stop(world: World) -> None:
    """Leave the process group."""
    if world.active and dist.is_initialized():
        dist.destroy_process_group()


def finish(world: World) -> None:
    """After a successful run: wait until every process is done, so none tears down the group (or
    exits) while another still talks to it."""
    if world.active and dist.is_initialized():
        dist.barrier()


@contextlib.contextmanager
def group(world: World, device: str) -> Iterator[None]:
    """The process group of a multi-process run, joined for the block (nothing with one process)."""
    if not world.active:
        yield
        return
    from dsl.train.device import resolve_device

    start(world, resolve_device(device))
    try:
        yield
    finally:
        stop(world)


def check_gpus(nproc: int, device: str) -> None:
    """Refuse `--gpus N` that this machine cannot serve, before any process starts."""
    if device == "cpu":
        return  # N processes on the CPU (gloo): the documented way to try the setup without GPUs
    have = torch.cuda.device_count()
    if have == 0:
        raise NetError(
            f"--gpus {nproc}: no GPU found",
            hint="to try a multi-process run on the CPU, add --device cpu (each process uses the gloo backend)",
        )
    if nproc > have:
        raise NetError(f"--gpus {nproc}: this machine has {have} GPU{'s' if have != 1 else ''}")
    if device.startswith("cuda:"):
        raise NetError(f"--gpus {nproc} with --device {device}", hint="give --device cuda (or auto)")


def peer_lost(err: BaseException) -> bool:
    """Whether `err`, raised in a multi-process run, is a process losing contact with the others
    (one of them died): torch's distributed errors, and gloo/NCCL's RuntimeErrors that say so."""
    if isinstance(err, getattr(dist, "DistError", ())):
        return True
    text = str(err)
    return isinstance(err, RuntimeError) and any(
        s in text for s in ("gloo", "NCCL", "Connection reset", "Connection closed", "Broken pipe")
    )


def lost_error(world: World, run_dir: str) -> NetError:
    """The refusal a process of a multi-process run makes when another one stopped."""
    return NetError(
        f"the run lost a process (process {world.rank}/{world.size} can no longer reach the others: one of them "
        "stopped or was killed)",
        hint=f"continue with: netc train --resume {run_dir} --gpus {world.size}",
    )


def failure_lines(rank: int, nproc: int, code: int, argv: list[str]) -> list[str]:
    """What netc says when process `rank` of `nproc` ended with status `code` (negative: killed by
    that signal): which process and how, and, when it was rank 0 (which would have said it), how to
    resume. A process that exited with netc's own status (1, 2, 130) has said why itself."""
    if code < 0:  # killed by a signal: it could say nothing itself
        import signal

        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        lines = [f"netc: process {rank}/{nproc} of the run was killed ({name}); the others stopped with it"]
        if rank == 0:
            out = _out_of(argv)
            lines.append(
                f"hint: continue from the last checkpoint with: netc train --resume {out or 'RUN_DIR'} "
                f"--gpus {nproc}" + ("" if out else " (RUN_DIR: the run folder named above)")
            )
        return lines
    if code not in (1, 2, 130):  # a crash that printed nothing of ours
        return [f"netc: process {rank}/{nproc} of the run stopped with status {code}"]
    return []


def _out_of(argv: list[str]) -> str | None:
    """The --out folder in a `netc train` command line, if it names one."""
    for i, a in enumerate(argv):
        if a == "--out" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--out="):
            return a.split("=", 1)[1]
    return None


def launch(nproc: int, argv: list[str]) -> int:
    """Run `netc <argv>` in `nproc` processes on this machine through torch's launcher (torchrun's
    engine); the exit status of the run (the first failed process's, if one failed)."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nproc,
        run_id=str(uuid.uuid4()),
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",  # torchrun --standalone: a free port on this machine
        max_restarts=0,  # a failed run is reported, not restarted from scratch
        start_method="spawn",
    )
    # torchrun would otherwise set 1 thread per process and say so on stderr; `start` sets the share
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    # the launcher logs each failure with its own traceback-like lines; the failed process has
    # already said why (a user's mistake prints one paragraph), so its status is what we report
    logging.disable(logging.CRITICAL)
    try:
        # each process a fresh interpreter running the ordinary CLI, as torchrun starts them; it finds
        # its rank in the environment the launcher sets
        elastic_launch(config, sys.executable)("-m", "dsl.cli", *argv)
    except SignalException as err:
        # Ctrl-C (or a kill) reached the launcher and, from the terminal, every process: they have
        # stopped, and rank 0 said how to resume
        return 128 + int(err.sigval)
    except ChildFailedError as err:
        # the cause: a process killed by a signal (the others then fail to reach it, whichever the
        # launcher noticed first), else the first that failed; the others were stopped because of it
        killed = [(f.timestamp, r, f) for r, f in err.failures.items() if f.exitcode is not None and f.exitcode < 0]
        rank, failure = min(killed, key=lambda k: k[0])[1:] if killed else err.get_first_failure()
        code = failure.exitcode if failure.exitcode is not None else 1
        for line in failure_lines(rank, nproc, code, argv):
            print(line, file=sys.stderr)
        return 128 - code if code < 0 else code  # a signal k is exit status 128+k, as a shell says it
    finally:
        logging.disable(logging.NOTSET)
    return 0
