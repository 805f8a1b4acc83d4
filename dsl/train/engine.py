"""The training engine: one run of the article's recipe on data that lives on the device.

Public API (also what `netc search` uses; keep one `Trainer` per process for warm caches):

    from dsl.data import load_dataset
    from dsl.train.engine import Trainer, prepare_data

    trainer = Trainer(device="auto", precision="auto", compile=False)   # picks cuda if present
    data = prepare_data(load_dataset(path), settings, trainer.device, trainer.precision)  # once
    result = trainer.run(graph, data, settings, seed=0)                  # -> RunResult
    result.test_acc, result.seconds, result.rows                         # rows: one dict per epoch

* `graph` is a `dsl.load(...)` graph (built with `dsl.build`) or any zero-argument callable
  returning a fresh `torch.nn.Module`. Each run seeds torch with `seed`, then builds, so the
  initial weights depend on the seed only. The module is moved to the device, compiled
  (with `compile=True`) and warmed up (untimed) once per graph per `Trainer`; later runs of the
  same graph copy fresh weights into it, so torch.compile and cudnn autotuning are not repeated.
* `settings` is the resolved training-settings dict (`dsl.settings`); `prepare_data` uses its
  `mean`, `std` and `pad`, `Trainer.run` everything else. `data` can be shared by every run
  whose settings agree on those three.
* `reporter` receives progress events (see `dsl.train.report.Reporter`); `on_epoch(snapshot)`
  is called after each epoch with a `Snapshot` (everything needed to resume); pass
  `resume=snapshot` to continue from it.
* User-caused failures raise `NetError`: a non-finite loss (with epoch, step and lr), GPU out of
  memory (with a smaller batch size to try), data that does not fit the net.

Recipe (shared/reference/recipe.md): per epoch, a fresh crop/flip/cutout of the whole training
set and a shuffle (`augment.augment_epoch`); batches of `batch_size`, the last partial batch kept;
SGD with (Nesterov) momentum on the summed cross-entropy with lr(t)/batch_size and weight decay
weight_decay*batch_size, which is exactly mean-loss SGD with lr(t) and weight_decay on full
batches and scales the last partial batch as the article's code did; lr(t) piecewise linear in
t = epoch + step/steps, set every step; test loss/accuracy after every epoch (BN in eval mode),
inside the timed loop. Speed: bf16 autocast and channels_last on CUDA, images stored in the
autocast dtype, no DataLoader, one host-device sync per epoch.
"""
from __future__ import annotations

import copy
import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import DataError, NetError, TrainError
from .augment import augment_epoch, prepare_images
from .report import Reporter
from .schedule import epoch_lrs, lr_at

PRECISIONS = ("auto", "bf16", "fp16", "fp32")
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    if isinstance(name, torch.device):
        return name
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TrainError("--device cuda was asked for but torch sees no CUDA GPU",
                         hint="use --device cpu (slow) or --device auto")
    try:
        return torch.device(name)
    except RuntimeError:
        raise TrainError(f"unknown device '{name}'", hint="use auto, cuda, cuda:N or cpu") from None


def resolve_precision(precision: str, device: torch.device) -> str:
    if precision in (None, "auto"):
        return "bf16" if device.type == "cuda" else "fp32"
    if precision not in AMP_DTYPES:
        raise TrainError(f"unknown precision '{precision}'", hint="use bf16, fp16 or fp32")
    return precision


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def oom_error(what: str, batch_size: int | None = None) -> TrainError:
    smaller = f" (e.g. --batch-size {max(1, batch_size // 2)})" if batch_size else ""
    return TrainError(f"the GPU ran out of memory while {what}",
                      hint=f"use a smaller batch size{smaller}, a smaller net, or --device cpu")


# ----------------------------------------------------------------------------- data on the device
@dataclass
class DeviceData:
    """A dataset on the device, normalised (and the training set padded) once."""

    train: torch.Tensor       # (N, C, H+2p, W+2p), input dtype
    train_y: torch.Tensor     # (N,) int64
    test: torch.Tensor        # (M, C, H, W), input dtype (channels_last on CUDA)
    test_y: torch.Tensor      # (M,) int64
    image_shape: tuple[int, int, int]
    pad: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    num_classes: int

    @property
    def n_train(self) -> int:
        return int(self.train_y.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.test_y.shape[0])


def _channel_consts(name, values, c, source):
    vals = tuple(float(v) for v in values)
    if len(vals) not in (1, c):
        raise DataError(f"setting '{name}' has {len(vals)} values but the images have {c} channels", file=source)
    return vals


def prepare_data(ds, settings: dict, device: torch.device | str, precision: str = "auto") -> DeviceData:
    """Move a `dsl.data.Dataset` to the device once: normalise, reflect-pad the training set."""
    device = resolve_device(device)
    precision = resolve_precision(precision, device)
    dtype = AMP_DTYPES[precision] or torch.float32
    c, h, w = ds.image_shape
    mean = _channel_consts("mean", settings["mean"], c, ds.source)
    std = _channel_consts("std", settings["std"], c, ds.source)
    pad = int(settings["pad"])
    if pad >= min(h, w):
        raise DataError(f"setting pad = {pad} needs images larger than {h}x{w} (reflect padding)", file=ds.source)
    cl = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    try:
        train = prepare_images(torch.from_numpy(ds.train_x).to(device), mean, std, pad, dtype)
        test = prepare_images(torch.from_numpy(ds.test_x).to(device), mean, std, 0, dtype)
        test = test.contiguous(memory_format=cl)
        train_y = torch.from_numpy(np.ascontiguousarray(ds.train_y, dtype=np.int64)).to(device)
        test_y = torch.from_numpy(np.ascontiguousarray(ds.test_y, dtype=np.int64)).to(device)
    except torch.OutOfMemoryError:
        raise oom_error("loading the dataset onto it") from None
    return DeviceData(train, train_y, test, test_y, (c, h, w), pad, mean, std, ds.num_classes)


# ----------------------------------------------------------------------------- results
@dataclass
class Snapshot:
    """Everything needed to resume a run after `epoch` completed epochs (CPU tensors)."""

    seed: int
    epoch: int
    model: dict
    optimizer: dict
    rng_cpu: torch.Tensor
    rng_cuda: torch.Tensor | None
    seconds: float
    rows: list[dict]

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict) -> "Snapshot":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__})


@dataclass
class RunResult:
    seed: int
    epochs: int
    test_acc: float
    test_loss: float
    train_acc: float
    train_loss: float
    seconds: float                      # training + per-epoch evaluation, as the article counts
    warmup_s: float = 0.0               # untimed warm-up done for this run (0 when cached)
    rows: list[dict] = field(default_factory=list)
    model: Any = field(default=None, repr=False)   # the trained module (on the device)

    def summary(self) -> dict:
        return {k: getattr(self, k) for k in ("seed", "epochs", "test_acc", "test_loss", "train_acc",
                                               "train_loss", "seconds", "warmup_s")}


# ----------------------------------------------------------------------------- the trainer
class _Compiled:
    def __init__(self, module, fwd):
        self.module, self.fwd, self.warm = module, fwd, set()


class Trainer:
    """Trains graphs on one device; keeps compiled, warmed-up models between runs."""

    CACHE = 4  # models kept per Trainer

    def __init__(self, device="auto", precision="auto", compile: bool = False, channels_last: bool | None = None):
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.amp_dtype = AMP_DTYPES[self.precision]
        self.compile = bool(compile)
        self.channels_last = self.device.type == "cuda" if channels_last is None else bool(channels_last)
        self._models: OrderedDict[Any, _Compiled] = OrderedDict()
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
            torch.set_float32_matmul_precision("high")

    # -- models
    def _factory(self, model) -> tuple[Any, Callable[[], torch.nn.Module]]:
        if hasattr(model, "fingerprint"):  # a dsl graph: same fingerprint, same module
            import dsl
            return ("graph", model.fingerprint), (lambda: dsl.build(model))
        if callable(model):
            return ("factory", model), model
        raise TypeError("model must be a dsl graph or a callable returning a torch.nn.Module")

    def _slot(self, key, fresh: torch.nn.Module) -> _Compiled:
        slot = self._models.get(key)
        if slot is None:
            module = copy.deepcopy(fresh).to(self.device)
            if self.channels_last:
                module = module.to(memory_format=torch.channels_last)
            fwd = module
            if self.compile:
                fwd = torch.compile(module, dynamic=False)
            slot = self._models[key] = _Compiled(module, fwd)
            while len(self._models) > self.CACHE:
                self._models.popitem(last=False)
        self._models.move_to_end(key)
        return slot

    def _autocast(self):
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype or torch.float32,
                              enabled=self.amp_dtype is not None)

    def _sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _warmup(self, slot: _Compiled, data: DeviceData, bs: int, ebs: int) -> float:
        """Untimed: cudnn autotuning / compilation for every batch shape the run will use."""
        if self.device.type != "cuda" and not self.compile:
            return 0.0
        n, nt = data.n_train, data.n_test
        shapes = {("train", s) for s in {min(bs, n), n % bs} if s} | {("eval", s) for s in {min(ebs, nt), nt % ebs} if s}
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
                    x = data.train[:s, :, p:p + h, p:p + w]
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
    def run(self, model, data: DeviceData, settings: dict, seed: int = 0, *, reporter: Reporter | None = None,
            on_epoch: Callable[[Snapshot], None] | None = None, resume: Snapshot | None = None,
            keep_model: bool = True) -> RunResult:
        reporter = reporter or Reporter()
        bs, ebs, epochs = int(settings["batch_size"]), int(settings["eval_batch_size"]), int(settings["epochs"])
        knots = [tuple(k) for k in settings["lr"]]
        cutout = int(settings["cutout"])
        c, h, w = data.image_shape
        if cutout > min(h, w):
            raise TrainError(f"setting cutout = {cutout} is larger than the {h}x{w} images",
                             hint=f"use cutout <= {min(h, w)} (0 turns it off)")
        if (int(settings["pad"]), tuple(float(v) for v in settings["mean"]),
                tuple(float(v) for v in settings["std"])) != (data.pad, data.mean, data.std):
            raise ValueError("prepare_data was called with other pad/mean/std settings than this run's")
        key, factory = self._factory(model)
        try:
            return self._run(key, factory, data, settings, seed, bs, ebs, epochs, knots, cutout, reporter,
                             on_epoch, resume, keep_model)
        except torch.OutOfMemoryError:
            raise oom_error(f"training with batch size {bs}", bs) from None

    def _run(self, key, factory, data, settings, seed, bs, ebs, epochs, knots, cutout, reporter, on_epoch,
             resume, keep_model) -> RunResult:
        dev = self.device
        torch.manual_seed(seed)
        np.random.seed(seed % (1 << 32))
        fresh = factory()                       # the seed fixes the initial weights
        slot = self._slot(key, fresh)
        warm_s = self._warmup(slot, data, bs, ebs)
        if warm_s:
            reporter.note(f"warm-up (untimed): {warm_s:.1f}s")
        model, fwd = slot.module, slot.fwd
        model.load_state_dict(fresh.state_dict())
        del fresh
        momentum = float(settings["momentum"])
        opt = torch.optim.SGD(model.parameters(), lr=0.0, momentum=momentum,
                              nesterov=bool(settings["nesterov"]) and momentum > 0,
                              weight_decay=float(settings["weight_decay"]) * bs)
        rows, seconds, start = [], 0.0, 0
        if resume is not None:
            model.load_state_dict(resume.model)
            opt.load_state_dict(resume.optimizer)
            torch.set_rng_state(resume.rng_cpu)
            if resume.rng_cuda is not None and dev.type == "cuda":
                torch.cuda.set_rng_state(resume.rng_cuda, dev)
            rows, seconds, start = [dict(r) for r in resume.rows], float(resume.seconds), int(resume.epoch)

        n, nt = data.n_train, data.n_test
        steps = math.ceil(n / bs)
        smoothing = float(settings["label_smoothing"])
        size = data.image_shape[1:]
        reporter.run_start(seed, epochs, steps, start)
        self._sync()
        for epoch in range(start, epochs):
            t0 = time.perf_counter()
            reporter.epoch_start(epoch, steps)
            model.train()
            xs, ys = augment_epoch(data.train, data.train_y, size, flip=bool(settings["flip"]), cutout=cutout,
                                   channels_last=self.channels_last)
            lrs = epoch_lrs(knots, epoch, steps)
            losses = torch.empty(steps, device=dev)
            correct = torch.zeros((), device=dev, dtype=torch.long)
            for i in range(steps):
                xb, yb = xs[i * bs:(i + 1) * bs], ys[i * bs:(i + 1) * bs]
                with self._autocast():
                    out = fwd(xb)
                loss = F.cross_entropy(out.float(), yb, reduction="sum", label_smoothing=smoothing)
                loss.backward()
                for g in opt.param_groups:
                    g["lr"] = lrs[i] / bs
                opt.step()
                opt.zero_grad(set_to_none=True)
                losses[i] = loss.detach()
                correct += (out.detach().argmax(1) == yb).sum()
                reporter.step()
            del xs, ys
            model.train(False)
            test_loss = torch.zeros((), device=dev)
            test_correct = torch.zeros((), device=dev, dtype=torch.long)
            with torch.no_grad():
                for j in range(0, nt, ebs):
                    xb, yb = data.test[j:j + ebs], data.test_y[j:j + ebs]
                    with self._autocast():
                        out = fwd(xb)
                    test_loss += F.cross_entropy(out.float(), yb, reduction="sum")
                    test_correct += (out.argmax(1) == yb).sum()
            stats = torch.stack([losses.sum(), correct.float(), test_loss, test_correct.float()]).tolist()  # the sync
            now = time.perf_counter()
            seconds += now - t0
            if not all(math.isfinite(v) for v in stats):
                self._non_finite(losses, epoch, steps, lrs, stats)
            row = dict(seed=seed, epoch=epoch + 1, lr=lr_at(knots, epoch + 1), train_loss=stats[0] / n,
                       train_acc=stats[1] / n, test_loss=stats[2] / nt, test_acc=stats[3] / nt,
                       epoch_s=now - t0, total_s=seconds)
            rows.append(row)
            reporter.epoch_end(row)
            if on_epoch is not None:
                on_epoch(self._snapshot(model, opt, seed, epoch + 1, seconds, rows))
        last = rows[-1]
        result = RunResult(seed, epochs, last["test_acc"], last["test_loss"], last["train_acc"], last["train_loss"],
                           last["total_s"], warm_s, rows, model if keep_model else None)
        reporter.run_end(result)
        return result

    def _snapshot(self, model, opt, seed, epoch, seconds, rows) -> Snapshot:
        cpu = lambda v: v.detach().to("cpu", copy=True) if torch.is_tensor(v) else copy.deepcopy(v)
        ostate = opt.state_dict()
        ostate = {"state": {k: {n: cpu(t) for n, t in s.items()} for k, s in ostate["state"].items()},
                  "param_groups": copy.deepcopy(ostate["param_groups"])}
        return Snapshot(seed, epoch, {k: cpu(v) for k, v in model.state_dict().items()}, ostate,
                        torch.get_rng_state(), torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
                        seconds, [dict(r) for r in rows])

    @staticmethod
    def _non_finite(losses, epoch, steps, lrs, stats):
        bad = (~torch.isfinite(losses)).nonzero()
        if len(bad):
            i = int(bad[0])
            raise TrainError(f"the training loss became {float(losses[i])} at epoch {epoch + 1}, step {i + 1} of "
                             f"{steps} (lr {lrs[i]:.4g})",
                             hint="lower the peak learning rate in the lr knots, or check the data and the net")
        raise TrainError(f"the test loss became non-finite after epoch {epoch + 1} (lr {lrs[-1]:.4g})",
                         hint="lower the peak learning rate in the lr knots, or check the data and the net")


def train_run(model, data: DeviceData, settings: dict, seed: int = 0, device="auto", precision="auto",
              compile: bool = False, reporter: Reporter | None = None, trainer: Trainer | None = None) -> RunResult:
    """One run with a throwaway `Trainer` (pass `trainer=` to reuse compiled models)."""
    trainer = trainer or Trainer(device, precision, compile)
    return trainer.run(model, data, settings, seed, reporter=reporter)
