"""The training engine: one run of the article's recipe, on data on the device or streamed
(`batches.BatchSource`: `devicedata.DeviceEpochs` or `stream.StreamEpochs`, chosen by `datapath`).

Public API (also what `netc search` uses; keep one `Trainer` per process for warm caches):

    from dsl.data import load_dataset
    from dsl.train.engine import Trainer, prepare_data

    settings = graph.settings                                            # a dsl.settings.TrainSettings
    trainer = Trainer(device="auto", precision="auto", compile=False)   # picks cuda if present
    data = prepare_data(load_dataset(path), settings, trainer.device, trainer.precision)  # once
    result = trainer.run(graph, data, settings, seed=0)                  # -> RunResult
    result.test_acc, result.seconds, result.rows                         # rows: one dict per epoch

* `graph` is a `dsl.load(...)` graph (built with `dsl.build`) or any zero-argument callable
  returning a fresh `torch.nn.Module`. Each run seeds torch with `seed`, then builds, so the
  initial weights depend on the seed only. The module is moved to the device, compiled
  (with `compile=True`) and warmed up (untimed) once per graph per `Trainer`; later runs of the
  same graph copy fresh weights into it, so torch.compile and cudnn autotuning are not repeated.
* `settings` is a `TrainSettings` (`dsl.settings`); `prepare_data` uses its `mean`, `std` and
  `pad`, `Trainer.run` everything else. `data` can be shared by every run whose settings
  agree on those three.
* `hooks=RunHooks(reporter, on_epoch, saves)`: `reporter` receives progress events (see
  `dsl.train.report.Reporter`); `on_epoch(snapshot)` is called after each epoch with a `Snapshot`
  (everything needed to resume); `saves` snapshots inside epochs too (Ctrl-C, every few minutes).
  Pass `resume=snapshot` to continue from one.
* User-caused failures raise `NetError`: a non-finite loss (with epoch, step and lr), GPU out of
  memory (with a smaller batch size to try), data that does not fit the net.

Recipe (shared/reference/recipe.md), at the default settings: per epoch, a fresh crop/flip/cutout
of the whole training set and a shuffle (`augment.augment_epoch`); batches of `batch_size`, the
last partial batch kept; by default SGD with (Nesterov) momentum on the summed cross-entropy with
lr(t)/batch_size and weight decay weight_decay*batch_size, which is exactly mean-loss SGD with
lr(t) and weight_decay on full batches and scales the last partial batch as the article's code did
(`optimizer = adamw`: AdamW on the mean cross-entropy with lr(t); see `dsl.train.optim`); lr(t)
through the knots in t = epoch + step/steps (linear, or cosine-falling with `lr_curve`), set every
step; test loss/accuracy after every epoch (BN in eval mode), inside the timed loop.

airbench94's elements, each a setting (docs/training.md): `drop_last`; fractional `epochs` (the run
trains `settings.total_steps(n)` steps, the last epoch cut short); a norm-bias parameter group
(`norm_bias_lr`, `norm_bias_decay`; norm layers are the graph's nodes with role "norm"); a
lookahead EMA of the state dict (`ema_*`, `_Ema`), in the checkpoint; alternating flips
(`flip_mode`); test-time augmentation (`tta`, `_logits`); evaluation after the last epoch only
(`eval_every_epoch`). Modules take part through two duck-typed methods: `set_epoch(epoch)`, called
before each epoch, and `calibrate(inputs)`, reached through `dsl.nn.calibrate.calibrate` with the first
`calibration_images` training images (normalised, not augmented) before the first step of a fresh
run. A run's seconds: calibration + training + test evaluations, never warm-up or checkpoints.

Speed: bf16 autocast and channels_last on CUDA, images stored in the autocast dtype, no DataLoader,
one host-device sync per epoch.
"""

from __future__ import annotations

import copy
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from dsl.errors import DataError, TrainError
from dsl.settings import TrainSettings
from dsl.train.augment import augment_epoch
from dsl.train.batches import BatchSource
from dsl.train.device import AMP_DTYPES, device_name, oom_error, resolve_device, resolve_precision
from dsl.train.devicedata import DeviceData, prepare_data
from dsl.train.distributed import World
from dsl.train.ema import Ema as _Ema
from dsl.train.hooks import calibrated_modules as _calibrated_modules
from dsl.train.hooks import grad_patterns as _grad_patterns
from dsl.train.hooks import norm_paths as _norm_paths
from dsl.train.hooks import set_epoch as _set_epoch
from dsl.train.optim import lr_scales, make_optimizer, mean_loss, norm_bias_names, step_lr
from dsl.train.report import Reporter
from dsl.train.schedule import epoch_lrs, lr_at
from dsl.train.state import MidEpochSaves, RunResult, Snapshot
from dsl.train.stream import StreamData
from dsl.train.tta import tta_logits, tta_views

__all__ = [
    "Trainer",
    "RunHooks",
    "prepare_data",
    "DeviceData",
    "RunResult",
    "Snapshot",
    "device_name",
    "resolve_device",
    "resolve_precision",
]

ModelSource = Any  # a dsl Graph, or a zero-argument callable returning a fresh torch.nn.Module
Data = DeviceData | StreamData  # data prepared for a path (dsl.train.datapath)


class _Slot:
    """A model kept on the device between runs: the module, its (compiled) training forward
    (through DistributedDataParallel when the run has several processes) and evaluation
    forward, the batch shapes already warmed up."""

    def __init__(
        self, module: torch.nn.Module, fwd: Callable[..., torch.Tensor], eval_fwd: Callable[..., torch.Tensor]
    ):
        self.module, self.fwd, self.eval_fwd = module, fwd, eval_fwd
        self.warm: set[tuple[Any, ...]] = set()  # (mode, batch size, variant)


@dataclass
class RunHooks:
    """What a run tells its caller: progress (`reporter`), a snapshot after every epoch (`on_epoch`,
    to checkpoint it) and snapshots inside epochs (`saves`: on Ctrl-C and every few minutes)."""

    reporter: Reporter = field(default_factory=Reporter)
    on_epoch: Callable[[Snapshot], None] | None = None
    saves: MidEpochSaves | None = None


@dataclass
class _RunState:
    """One run in progress: what every part of the loop reads (and the weight EMA it advances)."""

    slot: _Slot
    opt: torch.optim.Optimizer
    src: BatchSource
    s: TrainSettings
    seed: int
    scales: list[float]  # each parameter group's lr scale
    reporter: Reporter
    steps: int  # per full epoch
    total: int  # in the run
    ema: _Ema | None = None


class _EpochContext:
    """One epoch being trained: where it is, what it resumed from, what a mid-epoch snapshot needs."""

    def __init__(
        self,
        epoch: int,
        seconds: float,
        rows: list[dict[str, Any]],
        within: Snapshot | None,
        saves: MidEpochSaves | None,
    ):
        self.epoch, self.seconds, self.rows = epoch, seconds, rows  # 0-based; seconds and rows before it
        self.within, self.saves = within, saves
        self.t0 = time.perf_counter()
        self.paused = 0.0  # seconds spent saving snapshots (not training time)
        self.elapsed = 0.0  # this session's training seconds of the epoch, as of the last snapshot
        self.rng_epoch: tuple[torch.Tensor, torch.Tensor | None] | None = None
        self.losses: torch.Tensor | None = None
        self.correct: torch.Tensor | None = None

    def partial(self, step: int) -> dict[str, Any]:
        """The Snapshot fields of a stop after `step` steps of this epoch."""
        assert self.rng_epoch is not None and self.losses is not None and self.correct is not None
        earlier = self.within.partial_seconds if self.within is not None else 0.0
        return {
            "step": step,
            "rng_epoch_cpu": self.rng_epoch[0],
            "rng_epoch_cuda": self.rng_epoch[1],
            "partial_losses": self.losses[:step],
            "partial_correct": int(self.correct.item()),
            "partial_seconds": earlier + self.elapsed,
        }


class Trainer:
    """Trains graphs on one device; keeps compiled, warmed-up models between runs."""

    CACHE = 4  # models kept per Trainer

    def __init__(
        self,
        device: str | torch.device = "auto",
        precision: str = "auto",
        compile: bool = False,
        channels_last: bool | None = None,
        world: World | None = None,
    ):
        self.world = world or World()  # this process's rank among the run's processes (dsl.train.distributed)
        self.requested_device = str(device)  # what was asked for: "auto" may have found no GPU
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.amp_dtype = AMP_DTYPES[self.precision]
        self.compile = bool(compile)
        self.channels_last = self.device.type == "cuda" if channels_last is None else bool(channels_last)
        self._models: OrderedDict[Any, _Slot] = OrderedDict()
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
            torch.set_float32_matmul_precision("high")

    @property
    def cached_models(self) -> int:
        """How many models this trainer keeps warm on its device."""
        return len(self._models)

    # -- models
    def _factory(self, model: ModelSource) -> tuple[Any, Callable[[], torch.nn.Module]]:
        if hasattr(model, "fingerprint"):  # a dsl graph: same fingerprint, same module
            from dsl.nn.compile import build

            return ("graph", model.fingerprint), (lambda: build(model))
        if callable(model):
            return ("factory", model), model
        raise TypeError("model must be a dsl graph or a callable returning a torch.nn.Module")

    def _slot(self, key: Any, fresh: torch.nn.Module, epochs: int) -> _Slot:
        slot = self._models.get(key)
        if slot is None:
            module = copy.deepcopy(fresh).to(self.device)
            if self.channels_last:
                module = module.to(memory_format=torch.channels_last)
            fwd = torch.compile(module, dynamic=False) if self.compile else module
            train_fwd = self._data_parallel(module, epochs) if self.world.active else fwd
            if self.world.active and self.compile:
                train_fwd = torch.compile(train_fwd, dynamic=False)
            slot = self._models[key] = _Slot(module, train_fwd, fwd)
            while len(self._models) > self.CACHE:
                self._models.popitem(last=False)
        self._models.move_to_end(key)
        return slot

    def _data_parallel(self, module: torch.nn.Module, epochs: int) -> torch.nn.Module:
        """`module` (its batch norm made global-batch, in place) wrapped in DistributedDataParallel."""
        from torch.nn.parallel import DistributedDataParallel

        from dsl.train.syncbn import sync_batch_norm

        sync_batch_norm(module, self.device)
        patterns = _grad_patterns(module, epochs)
        params = list(module.parameters())
        before = [p.requires_grad for p in params]
        # DDP synchronises the parameters that require grad when it is made: with modules whose
        # set_epoch freezes and unfreezes parameters, make it track every parameter that ever trains
        # and let it skip the ones without a gradient in a step
        ever = [any(pattern[i] for pattern in patterns) if None not in patterns else b for i, b in enumerate(before)]
        for p, flag in zip(params, ever):
            p.requires_grad_(flag)
        ddp = DistributedDataParallel(
            module,
            device_ids=[self.device] if self.device.type == "cuda" else None,
            forward_sync_buffers=False,  # global batch norm keeps the buffers equal on every process
            find_unused_parameters=len(patterns) > 1,
        )
        for p, flag in zip(params, before):
            p.requires_grad_(flag)
        return ddp

    def _autocast(self) -> torch.autocast:
        return torch.autocast(
            device_type=self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None
        )

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _warmup(self, slot: _Slot, src: BatchSource, s: TrainSettings) -> float:
        """Untimed: cudnn autotuning / compilation for every batch shape the run will use: the
        training batches (for each pattern of trainable parameters the modules' `set_epoch`
        makes over the run, since torch.compile specialises on it), the test batches with the
        run's test-time augmentation, and the calibration (run on a copy of the module, so its
        kernels, cudnn choices and solvers are ready when the timed one runs)."""
        if self.device.type != "cuda" and not self.compile:
            return 0.0
        n, nt = src.n_train, src.n_test
        bs, ebs = s.batch_size, s.eval_batch_size
        model, fwd = slot.module, slot.fwd
        sizes = {min(bs, n)} | (set() if s.drop_last else {n % bs})
        patterns = _grad_patterns(model, s.epoch_count)
        todo = [("train", sz, key, e) for key, e in patterns.items() for sz in sorted(sizes) if sz]
        todo += [("eval", sz, s.tta, 0) for sz in sorted({min(ebs, nt), nt % ebs}) if sz]
        if _calibrated_modules(model):
            todo.append(("calibrate", min(s.calibration_images, n), None, 0))
        todo = [job for job in todo if job[:3] not in slot.warm]
        if not todo:
            return 0.0
        t = time.perf_counter()
        opt = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.9, nesterov=True)
        for mode, size, _, epoch in todo:
            model.train(mode == "train")
            if mode == "train":
                _set_epoch(model, epoch)
            for _ in range(2):
                if mode == "train":
                    x, y = src.head("train", size)
                    with self._autocast():
                        out = fwd(self._layout(x))
                    F.cross_entropy(out.float(), y, reduction="sum").backward()
                    opt.step()
                    opt.zero_grad(set_to_none=True)
                elif mode == "eval":
                    with torch.no_grad():
                        self._logits(slot.eval_fwd, src.head("test", size)[0], s.tta)
                else:  # the calibration itself (eigh & co. start up here), on a copy of the module
                    from dsl.nn.calibrate import calibrate

                    with self._autocast():
                        calibrate(copy.deepcopy(model), self._layout(src.head("train", size)[0]))
        self._sync()
        slot.warm |= {job[:3] for job in todo}
        return time.perf_counter() - t

    def _layout(self, x: torch.Tensor) -> torch.Tensor:
        """`x` in the memory layout the model is fed (channels_last on CUDA), dense."""
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x.contiguous()

    def _source(self, data: Data, s: TrainSettings, seed: int) -> BatchSource:
        """One run's batches from data prepared for either path."""
        if isinstance(data, DeviceData):
            return data.source(s, seed, self.channels_last, augment_epoch, world=self.world)
        return data.source(s, seed, self.channels_last, world=self.world)

    # -- one run
    def run(
        self,
        model: ModelSource,
        data: Data,
        settings: TrainSettings,
        seed: int = 0,
        *,
        resume: Snapshot | None = None,
        keep_model: bool = True,
        hooks: RunHooks | None = None,
    ) -> RunResult:
        """Train one run of `settings` on `data` from `seed` (or from `resume`, which may stop
        inside an epoch), telling `hooks` (progress, snapshots) as it goes."""
        if not data.matches(settings):
            raise ValueError("prepare_data was called with other pad/mean/std settings than this run's")
        if settings.steps_per_epoch(data.n_train) == 0:
            raise DataError(
                f"drop_last = true with batch_size = {settings.batch_size} leaves no batch: the training set has "
                f"{data.n_train} images",
                hint=f"use batch_size <= {data.n_train}, or drop_last = false",
            )
        self._check_shards(data.n_train, settings)
        try:
            return self._run(model, data, settings, seed, hooks or RunHooks(), resume, keep_model)
        except torch.OutOfMemoryError:
            raise oom_error(f"training with batch size {settings.batch_size}", settings.batch_size) from None

    def _check_shards(self, n: int, s: TrainSettings) -> None:
        """Refuse a multi-process run in which a global batch has fewer images than processes."""
        sizes = {min(n, s.batch_size)} | (set() if s.drop_last else {n % s.batch_size})
        small = min((k for k in sizes if k), default=0)
        if self.world.active and 0 < small < self.world.size:
            raise DataError(
                f"with {n} training images and batch_size = {s.batch_size}, a batch of {small} image(s) is "
                f"split over {self.world.size} processes, leaving some with none",
                hint="use drop_last = true, or another batch_size",
            )

    def _run(
        self,
        source: ModelSource,
        data: Data,
        s: TrainSettings,
        seed: int,
        hooks: RunHooks,
        resume: Snapshot | None,
        keep_model: bool,
    ) -> RunResult:
        key, factory = self._factory(source)
        reporter, on_epoch, saves = hooks.reporter, hooks.on_epoch, hooks.saves
        torch.manual_seed(seed)
        np.random.seed(seed % (1 << 32))
        fresh = factory()  # the seed fixes the initial weights
        slot = self._slot(key, fresh, s.epoch_count)
        src = self._source(data, s, seed)
        warm_s = self._warmup(slot, src, s)
        if warm_s:
            reporter.note(f"warm-up (untimed): {warm_s:.1f}s")
        model = slot.module
        model.load_state_dict(fresh.state_dict())
        del fresh
        split = s.norm_bias_lr != 1.0 or s.norm_bias_decay != 1.0
        opt = make_optimizer(model, s, norm_bias_names(model, _norm_paths(source)) if split else None)
        steps = s.steps_per_epoch(data.n_train)
        st = _RunState(slot, opt, src, s, seed, lr_scales(opt), reporter, steps, s.total_steps(data.n_train))
        rows: list[dict[str, Any]] = []
        seconds, start = 0.0, 0
        if resume is not None:
            model.load_state_dict(resume.model)
            opt.load_state_dict(resume.optimizer)
            torch.set_rng_state(resume.rng_cpu)
            if resume.rng_cuda is not None and self.device.type == "cuda":
                torch.cuda.set_rng_state(resume.rng_cuda, self.device)
            rows, seconds, start = [dict(r) for r in resume.rows], float(resume.seconds), int(resume.epoch)
            if resume.ema is not None:
                st.ema = _Ema.restore(model, resume.ema)
        else:
            calib_s = self._calibrate(model, src, s)
            if calib_s:
                reporter.note(f"calibration (counted in the run's time): {calib_s:.2f}s")
            seconds += calib_s
        total = st.total
        epochs = -(-total // steps)  # the last one may be partial
        if src.streamed:
            reporter.streaming(s.batch_size)
        within = resume if resume is not None and resume.step > 0 else None  # stopped inside epoch `start`

        evaluations = (epochs - start) if s.eval_every_epoch else 1
        reporter.workload(s.batch_size, data.n_test * tta_views(s.tta), evaluations)
        reporter.run_start(seed, epochs, steps, start)
        if self.world.active:
            saves = None  # every process would have to stop at the same step: checkpoints at epoch ends only
        self._sync()
        for epoch in range(start, epochs):
            _set_epoch(model, epoch)
            todo = min(steps, total - epoch * steps)  # steps in this epoch
            ctx = _EpochContext(epoch, seconds, rows, within, saves)
            t0 = ctx.t0
            if within is not None:
                reporter.resumed(epoch, within.step, todo)
            reporter.epoch_start(epoch, todo)
            lrs = epoch_lrs(s.lr, epoch, steps, s.lr_curve)[:todo]
            train_loss, train_correct = self._train_epoch(st, ctx, lrs)
            t_train = time.perf_counter()  # training ends (the epoch's last step may still run on a GPU)
            evaluate = s.eval_every_epoch or epoch == epochs - 1
            parts = [train_loss.sum(), train_correct.float()]
            if evaluate:
                test_loss, test_correct = self._evaluate(slot, src, s.tta)
                parts += [test_loss, test_correct.float()]
            stats = self.world.all_sum(torch.stack(parts)).tolist()  # sums over every process's shard
            now = time.perf_counter()  # .tolist() above is the epoch's one host-device sync
            earlier = within.partial_seconds if within else 0.0  # this epoch's seconds before it was resumed
            epoch_s = now - t0 - ctx.paused + earlier
            seconds += epoch_s
            within = None
            if not all(math.isfinite(v) for v in stats):
                self._non_finite(train_loss, epoch, steps, lrs)
            seen = min(todo * s.batch_size, data.n_train)  # images trained on this epoch
            train_s = t_train - t0 - ctx.paused + earlier if self.device.type == "cpu" else None
            row = dict(
                seed=seed,
                epoch=epoch + 1,
                lr=lr_at(s.lr, epoch + 1 if todo == steps else epoch + todo / steps, s.lr_curve),
                train_loss=stats[0] / seen,
                train_acc=stats[1] / seen,
                test_loss=stats[2] / data.n_test if evaluate else None,
                test_acc=stats[3] / data.n_test if evaluate else None,
                epoch_s=epoch_s,
                total_s=seconds,
                # training images per second of training (not of the test evaluation): on the CPU the
                # clock is exact; on a GPU the epoch's one sync comes after evaluating, so it is bounded below
                images_s=seen / (train_s if train_s is not None else epoch_s) if epoch_s > 0 else None,
            )
            rows.append(row)
            reporter.epoch_end(row)
            if on_epoch is not None:  # None in the extra processes of a multi-process run: rank 0 saves
                on_epoch(self._snapshot(st, epoch + 1, seconds, rows))
            if saves is not None and saves.stop.requested and epoch + 1 < epochs:
                raise KeyboardInterrupt  # Ctrl-C during the evaluation: the epoch's checkpoint is saved
        last = rows[-1]
        result = RunResult(
            seed,
            s.epochs,
            last["test_acc"],
            last["test_loss"],
            last["train_acc"],
            last["train_loss"],
            last["total_s"],
            warm_s,
            rows,
            model if keep_model else None,
        )
        reporter.run_end(result)
        return result

    def _calibrate(self, model: torch.nn.Module, src: BatchSource, s: TrainSettings) -> float:
        """Data-dependent initialisation (`dsl.nn.calibrate`) from the first `calibration_images`
        training images, normalised as training normalises them, not augmented; its seconds
        (0 without a module to calibrate)."""
        if not _calibrated_modules(model):
            return 0.0
        from dsl.nn.calibrate import calibrate

        t = time.perf_counter()
        images = self._layout(src.head("train", min(s.calibration_images, src.n_train))[0])
        with self._autocast():
            calibrate(model, images)
        self._sync()
        return time.perf_counter() - t

    def _train_epoch(self, st: _RunState, ctx: _EpochContext, lrs: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
        """One epoch of training on a fresh augmentation (its first len(lrs) batches), from step
        `ctx.within.step` when it was stopped inside; (per-step summed losses, correct count) on the
        device (the weight EMA advances in `st`). With `ctx.saves`, a snapshot of the step reached is
        saved on a stop request (then KeyboardInterrupt) and every `ctx.saves.every` seconds."""
        slot, opt, src, s, reporter, scales, total = st.slot, st.opt, st.src, st.s, st.reporter, st.scales, st.total
        done, ema = ctx.epoch * st.steps, st.ema
        model, fwd, bs, mean, world = slot.module, slot.fwd, s.batch_size, mean_loss(s), self.world
        model.train()
        within, saves = ctx.within, ctx.saves
        first = within.step if within is not None else 0
        if within is not None:  # redraw the epoch from the random state it started with
            assert within.rng_epoch_cpu is not None
            torch.set_rng_state(within.rng_epoch_cpu)
            if within.rng_epoch_cuda is not None and self.device.type == "cuda":
                torch.cuda.set_rng_state(within.rng_epoch_cuda, self.device)
        world.share_rng(self.device)  # the epoch's order and augmentation: rank 0's draws on every process
        if saves is not None:
            ctx.rng_epoch = (
                torch.get_rng_state(),
                torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
            )
        losses = torch.zeros(len(lrs), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        if within is not None and within.partial_losses is not None:
            losses[:first] = within.partial_losses.to(self.device)
            correct += within.partial_correct
        ctx.losses, ctx.correct = losses, correct
        averaging = s.ema_every > 0 and ctx.epoch >= s.ema_start
        last_save = time.perf_counter()
        batches = src.train_epoch(ctx.epoch, len(lrs), first)
        for i, (xb, yb) in enumerate(batches, start=first):
            if i == first and within is not None:  # the epoch is drawn: continue the stream where it stopped
                torch.set_rng_state(within.rng_cpu)
                if within.rng_cuda is not None and self.device.type == "cuda":
                    torch.cuda.set_rng_state(within.rng_cuda, self.device)
            lr = lrs[i]
            with self._autocast():
                out = fwd(xb)
            loss = F.cross_entropy(out.float(), yb, reduction="sum", label_smoothing=s.label_smoothing)
            if world.active:  # this shard's part of the global batch's gradient (DDP averages the parts)
                (loss * world.loss_scale(min(bs, src.n_train - i * bs), mean)).backward()
            else:
                (loss / len(yb) if mean else loss).backward()
            step = step_lr(s, lr, bs)
            for g, scale in zip(opt.param_groups, scales):
                g["lr"] = step * scale if scale != 1.0 else step
            opt.step()
            opt.zero_grad(set_to_none=True)
            losses[i] = loss.detach()
            correct += (out.detach().argmax(1) == yb).sum()
            if averaging and (done + i + 1) % s.ema_every == 0:
                if ema is None:
                    ema = _Ema(model)
                else:
                    ema.update(model, s.ema_decay * ((done + i + 1) / total) ** s.ema_power)
            reporter.step()
            if saves is not None and i + 1 < len(lrs):
                now = time.perf_counter()
                if saves.stop.requested or (saves.every > 0 and now - last_save >= saves.every):
                    ctx.elapsed = now - ctx.t0 - ctx.paused
                    st.ema = ema
                    saves.save(self._snapshot(st, ctx.epoch, ctx.seconds, ctx.rows, ctx.partial(i + 1)))
                    last_save = time.perf_counter()
                    ctx.paused += last_save - now  # saving is not training time
                    if saves.stop.requested:
                        raise KeyboardInterrupt
        if ema is not None:
            ema.copy_to(model)  # the weights end every epoch as the EMA's
        st.ema = ema
        return losses, correct

    def _logits(self, fwd: Callable[..., torch.Tensor], x: torch.Tensor, tta: int) -> torch.Tensor:
        """Test logits of batch `x` with test-time augmentation level `tta` (dsl.train.tta; float32 when tta > 0)."""
        if tta == 0:
            with self._autocast():
                return fwd(x)

        def net(v: torch.Tensor) -> torch.Tensor:
            with self._autocast():
                return fwd(v).float()

        return tta_logits(net, x, tta, self._layout)

    def _evaluate(self, slot: _Slot, src: BatchSource, tta: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed test loss and correct count (BN in eval mode, test-time augmentation `tta`), on the device."""
        slot.module.train(False)
        loss = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        with torch.no_grad():
            for xb, yb in src.test_batches():
                out = self._logits(slot.eval_fwd, xb, tta)
                loss += F.cross_entropy(out.float(), yb, reduction="sum")
                correct += (out.argmax(1) == yb).sum()
        return loss, correct

    def _snapshot(
        self,
        st: _RunState,
        epoch: int,
        seconds: float,
        rows: list[dict[str, Any]],
        partial: dict[str, Any] | None = None,
    ) -> Snapshot:
        """Everything to resume after `epoch` epochs (and `partial`'s steps of the next one)."""
        model, opt, seed, ema = st.slot.module, st.opt, st.seed, st.ema

        def cpu(v: Any) -> Any:
            return v.detach().to("cpu", copy=True) if torch.is_tensor(v) else copy.deepcopy(v)

        ostate = opt.state_dict()
        ostate = {
            "state": {k: {n: cpu(t) for n, t in st.items()} for k, st in ostate["state"].items()},
            "param_groups": copy.deepcopy(ostate["param_groups"]),
        }
        return Snapshot(
            seed,
            epoch,
            {k: cpu(v) for k, v in model.state_dict().items()},
            ostate,
            torch.get_rng_state(),
            torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
            seconds,
            [dict(r) for r in rows],
            None if ema is None else {k: cpu(v) for k, v in ema.state().items()},
            **{k: cpu(v) for k, v in (partial or {}).items()},
        )

    @staticmethod
    def _non_finite(losses: torch.Tensor, epoch: int, steps: int, lrs: list[float]) -> None:
        bad = (~torch.isfinite(losses)).nonzero()
        if len(bad):
            i = int(bad[0])
            raise TrainError(
                f"the training loss became {float(losses[i])} at epoch {epoch + 1}, step {i + 1} of "
                f"{steps} (lr {lrs[i]:.4g})",
                hint="lower the peak learning rate in the lr knots, or check the data and the net",
            )
        raise TrainError(
            f"the test loss became non-finite after epoch {epoch + 1} (lr {lrs[-1]:.4g})",
            hint="lower the peak learning rate in the lr knots, or check the data and the net",
        )
