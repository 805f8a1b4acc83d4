"""The training engine: one run of the article's recipe on data that lives on the device.

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
* `reporter` receives progress events (see `dsl.train.report.Reporter`); `on_epoch(snapshot)`
  is called after each epoch with a `Snapshot` (everything needed to resume); pass
  `resume=snapshot` to continue from it.
* User-caused failures raise `NetError`: a non-finite loss (with epoch, step and lr), GPU out of
  memory (with a smaller batch size to try), data that does not fit the net.

Recipe (shared/reference/recipe.md): per epoch, a fresh crop/flip/cutout of the whole training
set and a shuffle (`augment.augment_epoch`); batches of `batch_size`, the last partial batch kept;
by default SGD with (Nesterov) momentum on the summed cross-entropy with lr(t)/batch_size and
weight decay weight_decay*batch_size, which is exactly mean-loss SGD with lr(t) and weight_decay
on full batches and scales the last partial batch as the article's code did (`optimizer = adamw`:
AdamW on the mean cross-entropy with lr(t); see `dsl.train.optim`); lr(t) through the knots in
t = epoch + step/steps (linear, or cosine-falling with `lr_curve`), set every step; test
loss/accuracy after every epoch (BN in eval mode), inside the timed loop. Speed: bf16 autocast and channels_last on CUDA, images stored in the
autocast dtype, no DataLoader, one host-device sync per epoch.
"""

from __future__ import annotations

import copy
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import TrainError
from ..settings import TrainSettings
from .augment import augment_epoch
from .device import AMP_DTYPES, device_name, oom_error, resolve_device, resolve_precision
from .devicedata import DeviceData, prepare_data
from .optim import make_optimizer, mean_loss, step_lr
from .report import Reporter
from .schedule import epoch_lrs, lr_at
from .state import RunResult, Snapshot

__all__ = [
    "Trainer",
    "prepare_data",
    "DeviceData",
    "RunResult",
    "Snapshot",
    "device_name",
    "resolve_device",
    "resolve_precision",
]

ModelSource = Any  # a dsl Graph, or a zero-argument callable returning a fresh torch.nn.Module


class _Slot:
    """A model kept on the device between runs: the module, its (compiled) forward, the
    batch shapes already warmed up."""

    def __init__(self, module: torch.nn.Module, fwd: Callable[..., torch.Tensor]):
        self.module, self.fwd = module, fwd
        self.warm: set[tuple[str, int]] = set()


class Trainer:
    """Trains graphs on one device; keeps compiled, warmed-up models between runs."""

    CACHE = 4  # models kept per Trainer

    def __init__(
        self,
        device: str | torch.device = "auto",
        precision: str = "auto",
        compile: bool = False,
        channels_last: bool | None = None,
    ):
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
            from ..compile_torch import build

            return ("graph", model.fingerprint), (lambda: build(model))
        if callable(model):
            return ("factory", model), model
        raise TypeError("model must be a dsl graph or a callable returning a torch.nn.Module")

    def _slot(self, key: Any, fresh: torch.nn.Module) -> _Slot:
        slot = self._models.get(key)
        if slot is None:
            module = copy.deepcopy(fresh).to(self.device)
            if self.channels_last:
                module = module.to(memory_format=torch.channels_last)
            fwd = torch.compile(module, dynamic=False) if self.compile else module
            slot = self._models[key] = _Slot(module, fwd)
            while len(self._models) > self.CACHE:
                self._models.popitem(last=False)
        self._models.move_to_end(key)
        return slot

    def _autocast(self) -> torch.autocast:
        return torch.autocast(
            device_type=self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None
        )

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _warmup(self, slot: _Slot, data: DeviceData, bs: int, ebs: int) -> float:
        """Untimed: cudnn autotuning / compilation for every batch shape the run will use."""
        if self.device.type != "cuda" and not self.compile:
            return 0.0
        n, nt = data.n_train, data.n_test
        shapes = {("train", s) for s in {min(bs, n), n % bs} if s} | {
            ("eval", s) for s in {min(ebs, nt), nt % ebs} if s
        }
        todo = sorted(shapes - slot.warm)
        if not todo:
            return 0.0
        t = time.perf_counter()
        model, fwd = slot.module, slot.fwd
        opt = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.9, nesterov=True)
        h, w = data.image_shape[1:]
        p = data.pad
        for mode, s in todo:
            model.train(mode == "train")
            for _ in range(2):
                if mode == "train":
                    x = data.train[:s, :, p : p + h, p : p + w]
                    x = x.contiguous(memory_format=torch.channels_last) if self.channels_last else x.contiguous()
                    with self._autocast():
                        out = fwd(x)
                    F.cross_entropy(out.float(), data.train_y[:s], reduction="sum").backward()
                    opt.step()
                    opt.zero_grad(set_to_none=True)
                else:
                    with torch.no_grad(), self._autocast():
                        fwd(data.test[:s])
        self._sync()
        slot.warm |= set(todo)
        return time.perf_counter() - t

    # -- one run
    def run(
        self,
        model: ModelSource,
        data: DeviceData,
        settings: TrainSettings,
        seed: int = 0,
        *,
        reporter: Reporter | None = None,
        on_epoch: Callable[[Snapshot], None] | None = None,
        resume: Snapshot | None = None,
        keep_model: bool = True,
    ) -> RunResult:
        """Train one run of `settings` on `data` from `seed` (or from `resume`)."""
        if not data.matches(settings):
            raise ValueError("prepare_data was called with other pad/mean/std settings than this run's")
        key, factory = self._factory(model)
        try:
            return self._run(key, factory, data, settings, seed, reporter or Reporter(), on_epoch, resume, keep_model)
        except torch.OutOfMemoryError:
            raise oom_error(f"training with batch size {settings.batch_size}", settings.batch_size) from None

    def _run(
        self,
        key: Any,
        factory: Callable[[], torch.nn.Module],
        data: DeviceData,
        s: TrainSettings,
        seed: int,
        reporter: Reporter,
        on_epoch: Callable[[Snapshot], None] | None,
        resume: Snapshot | None,
        keep_model: bool,
    ) -> RunResult:
        torch.manual_seed(seed)
        np.random.seed(seed % (1 << 32))
        fresh = factory()  # the seed fixes the initial weights
        slot = self._slot(key, fresh)
        warm_s = self._warmup(slot, data, s.batch_size, s.eval_batch_size)
        if warm_s:
            reporter.note(f"warm-up (untimed): {warm_s:.1f}s")
        model = slot.module
        model.load_state_dict(fresh.state_dict())
        del fresh
        opt = make_optimizer(model, s)
        rows: list[dict[str, Any]] = []
        seconds, start = 0.0, 0
        if resume is not None:
            model.load_state_dict(resume.model)
            opt.load_state_dict(resume.optimizer)
            torch.set_rng_state(resume.rng_cpu)
            if resume.rng_cuda is not None and self.device.type == "cuda":
                torch.cuda.set_rng_state(resume.rng_cuda, self.device)
            rows, seconds, start = [dict(r) for r in resume.rows], float(resume.seconds), int(resume.epoch)
        steps = math.ceil(data.n_train / s.batch_size)
        reporter.run_start(seed, s.epochs, steps, start)
        self._sync()
        for epoch in range(start, s.epochs):
            t0 = time.perf_counter()
            reporter.epoch_start(epoch, steps)
            lrs = epoch_lrs(s.lr, epoch, steps, s.lr_curve)
            train_loss, train_correct = self._train_epoch(slot, opt, data, s, lrs, reporter)
            test_loss, test_correct = self._evaluate(slot, data, s.eval_batch_size)
            stats = torch.stack([train_loss.sum(), train_correct.float(), test_loss, test_correct.float()]).tolist()
            now = time.perf_counter()  # .tolist() above is the epoch's one host-device sync
            seconds += now - t0
            if not all(math.isfinite(v) for v in stats):
                self._non_finite(train_loss, epoch, steps, lrs)
            row = dict(
                seed=seed,
                epoch=epoch + 1,
                lr=lr_at(s.lr, epoch + 1, s.lr_curve),
                train_loss=stats[0] / data.n_train,
                train_acc=stats[1] / data.n_train,
                test_loss=stats[2] / data.n_test,
                test_acc=stats[3] / data.n_test,
                epoch_s=now - t0,
                total_s=seconds,
            )
            rows.append(row)
            reporter.epoch_end(row)
            if on_epoch is not None:
                on_epoch(self._snapshot(model, opt, seed, epoch + 1, seconds, rows))
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

    def _train_epoch(
        self,
        slot: _Slot,
        opt: torch.optim.Optimizer,
        data: DeviceData,
        s: TrainSettings,
        lrs: list[float],
        reporter: Reporter,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One epoch of training on a fresh augmentation; (per-step summed losses, correct count) on the device."""
        model, fwd, bs, mean = slot.module, slot.fwd, s.batch_size, mean_loss(s)
        model.train()
        xs, ys = augment_epoch(
            data.train,
            data.train_y,
            data.image_shape[1:],
            flip=s.flip,
            cutout=s.cutout,
            channels_last=self.channels_last,
        )
        losses = torch.empty(len(lrs), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        for i, lr in enumerate(lrs):
            xb, yb = xs[i * bs : (i + 1) * bs], ys[i * bs : (i + 1) * bs]
            with self._autocast():
                out = fwd(xb)
            loss = F.cross_entropy(out.float(), yb, reduction="sum", label_smoothing=s.label_smoothing)
            (loss / len(yb) if mean else loss).backward()
            for g in opt.param_groups:
                g["lr"] = step_lr(s, lr, bs)
            opt.step()
            opt.zero_grad(set_to_none=True)
            losses[i] = loss.detach()
            correct += (out.detach().argmax(1) == yb).sum()
            reporter.step()
        return losses, correct

    def _evaluate(self, slot: _Slot, data: DeviceData, ebs: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed test loss and correct count (BN in eval mode), on the device."""
        slot.module.train(False)
        loss = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        with torch.no_grad():
            for j in range(0, data.n_test, ebs):
                xb, yb = data.test[j : j + ebs], data.test_y[j : j + ebs]
                with self._autocast():
                    out = slot.fwd(xb)
                loss += F.cross_entropy(out.float(), yb, reduction="sum")
                correct += (out.argmax(1) == yb).sum()
        return loss, correct

    def _snapshot(
        self,
        model: torch.nn.Module,
        opt: torch.optim.Optimizer,
        seed: int,
        epoch: int,
        seconds: float,
        rows: list[dict[str, Any]],
    ) -> Snapshot:
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
