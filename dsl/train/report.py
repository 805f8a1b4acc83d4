"""Progress output for training: the `Reporter` interface and the console one `netc train` uses.

`Reporter` does nothing (what `netc search` gets unless it passes its own). `ConsoleReporter`
shows a rich progress bar during each epoch (only on a terminal) and prints one line per
finished epoch: epoch, lr, train loss/acc, test loss/acc, epoch seconds, total seconds and the
epoch's training images per second (`img/s`); on the streamed data path the bar shows images/s too.
Accuracies are shown as percentages with two decimals everywhere netc prints them (`91.23%`,
as `netc report` and `netc eval` do); files (metrics.csv, result.json) keep fractions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from typing_extensions import override

HEADER = (
    f"{'epoch':>5} {'lr':>7} {'train_loss':>10} {'train_acc':>9} {'test_loss':>9} {'test_acc':>8} "
    f"{'epoch_s':>7} {'total_s':>8} {'img/s':>8}"
)


def epoch_line(row: dict[str, Any]) -> str:
    """One finished epoch as a line under HEADER (test figures '-' in an epoch not evaluated)."""
    test_loss = "-" if row["test_loss"] is None else f"{row['test_loss']:.4f}"
    test_acc = "-" if row["test_acc"] is None else f"{row['test_acc']:.2%}"
    rate = "-" if row.get("images_s") is None else f"{row['images_s']:.0f}"
    return (
        f"{row['epoch']:>5d} {row['lr']:>7.4f} {row['train_loss']:>10.4f} {row['train_acc']:>9.2%} "
        f"{test_loss:>9} {test_acc:>8} {row['epoch_s']:>7.2f} {row['total_s']:>8.2f} {rate:>8}"
    )


class Reporter:
    """Training progress events; every method is optional to override."""

    def note(self, text: str) -> None:
        """A line of information (warm-up time, run i of n)."""

    def streaming(self, batch_size: int) -> None:
        """The run reads its data through the streamed path in batches of `batch_size` images (said
        before `run_start`; a display may show images per second)."""

    def workload(self, batch_size: int, test_images: int, evaluations: int) -> None:
        """What a run will do besides training steps of `batch_size` images: `evaluations` test passes
        of `test_images` forward passes each (test-time augmentation views counted); said before
        `run_start`, so that a display can estimate the whole run's time."""

    def run_start(self, seed: int, epochs: int, steps: int, start_epoch: int) -> None:
        """A run of `epochs` epochs (the last possibly cut short) of `steps` steps begins (at
        `start_epoch` when resumed)."""

    def resumed(self, epoch: int, step: int, steps: int) -> None:
        """The run resumes inside epoch `epoch` (0-based), `step` of its `steps` steps already done
        (said before that epoch's `epoch_start`)."""

    def epoch_start(self, epoch: int, steps: int) -> None:
        """An epoch of `steps` steps begins (fewer than a full epoch's when it is cut short)."""

    def step(self) -> None:
        """One training step finished."""

    def epoch_end(self, row: dict[str, Any]) -> None:
        """An epoch finished; `row` is its metrics.csv row."""

    def run_end(self, result: Any) -> None:
        """A run finished (`result` is its RunResult; None when closing early)."""


class ConsoleReporter(Reporter):
    """A progress bar during each epoch (on a terminal) and one line per finished epoch; with
    `estimate`, the run's expected time (test evaluations included) after its first step."""

    REFINE_AFTER = 4  # steps after the first: the estimate is said again if it changed by a quarter
    LONG = 600.0  # seconds: a run this long gets the suggestion of a quick look (and its own estimate)
    FORWARD_SHARE = 1 / 3  # of a training step's time per image, what a test forward pass costs (no backward)
    QUICK = (5000, 1000, 2)  # the quick look: --limit, --limit-test, --epochs

    def __init__(
        self,
        console: Console | None = None,
        bar: bool | None = None,
        estimate: bool = False,
        clock: Callable[[], float] = time.perf_counter,
    ):
        self.console = console or Console(highlight=False, soft_wrap=True)
        self.bar = self.console.is_terminal if bar is None else bar
        self.progress: Progress | None = None
        self.task: Any = None
        self.epochs = 0
        # estimate: say, after the first step, how long the whole run will take (on a CPU, where the
        # full recipe takes hours and a new user deserves to know before waiting)
        self.estimate, self.clock = estimate, clock
        self.steps_left = 0
        self.timed: list[float] = []  # the clock at the run's start and after each of its first steps
        self.said: float | None = None  # the estimate last said (seconds)
        self.batch_size = 0  # images per step on the streamed path (the bar shows images/s), else 0
        self.step_images = 0  # images per training step (from `workload`)
        self.test_images = 0  # forward passes per test evaluation
        self.evaluations = 0  # test evaluations still to come
        self.epoch_t0 = 0.0
        self.epoch_steps = 0  # steps done in this epoch by this session
        self.epoch_total = 0
        self.skipped = 0  # steps of the current epoch done before a resume

    @override
    def note(self, text: str) -> None:
        self.console.print(text, markup=False, soft_wrap=True)

    @override
    def streaming(self, batch_size: int) -> None:
        self.batch_size = batch_size

    @override
    def workload(self, batch_size: int, test_images: int, evaluations: int) -> None:
        self.step_images, self.test_images, self.evaluations = batch_size, test_images, evaluations

    @override
    def run_start(self, seed: int, epochs: int, steps: int, start_epoch: int) -> None:
        self.epochs = epochs
        self.steps_left = max(0, (epochs - start_epoch) * steps)
        self.timed, self.said = [], None
        if start_epoch:
            self.console.print(f"resuming at epoch {start_epoch + 1} of {epochs}", markup=False)
        self.console.print(HEADER, markup=False)

    @override
    def resumed(self, epoch: int, step: int, steps: int) -> None:
        self.skipped = step
        self.steps_left = max(0, self.steps_left - step)
        self.console.print(
            f"resuming inside epoch {epoch + 1} of {self.epochs}, after step {step} of {steps}", markup=False
        )

    @override
    def epoch_start(self, epoch: int, steps: int) -> None:
        self.epoch_t0, self.epoch_steps, self.epoch_total = self.clock(), 0, steps
        if not self.timed:  # the run's first epoch (of this session): steps are timed from here
            self.timed = [self.epoch_t0]
        if not self.bar:
            return
        self.progress = Progress(
            TextColumn(f"epoch {epoch + 1}/{self.epochs}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta {task.fields[eta]}"),
            *([TextColumn("{task.fields[rate]}")] if self.batch_size else []),
            console=self.console,
            transient=True,
        )
        self.task = self.progress.add_task("train", total=steps, completed=self.skipped, rate="", eta="…")
        self.skipped = 0
        self.progress.start()

    @override
    def step(self) -> None:
        now = self.clock()
        self.epoch_steps += 1
        self.steps_left -= 1
        if self.progress is not None:
            spent = now - self.epoch_t0
            per_step = spent / self.epoch_steps
            left = self.progress.tasks[0].remaining or 0
            eta = duration(per_step * max(0, left - 1))  # from the first step on: this epoch's pace
            rate = f"{self.epoch_steps * self.batch_size / spent:,.0f} img/s" if self.batch_size and spent > 0 else ""
            self.progress.update(self.task, advance=1, rate=rate, eta=eta)
        if self.estimate and self.timed and len(self.timed) <= self.REFINE_AFTER + 1:
            self.timed.append(now)
            if len(self.timed) == 2:
                self._say_estimate(self.timed[1] - self.timed[0], "from the first step")
            elif len(self.timed) == self.REFINE_AFTER + 2:
                per_step = (self.timed[-1] - self.timed[2]) / (self.REFINE_AFTER - 1)  # the first step paid start-up
                self._say_estimate(per_step, f"from steps 2 to {self.REFINE_AFTER + 1}", refine=True)

    def _say_estimate(self, per_step: float, basis: str, refine: bool = False) -> None:
        """Say the run's expected time at `per_step` seconds a step (test evaluations included)."""
        per_image = per_step / max(1, self.step_images)
        eval_s = per_image * self.FORWARD_SHARE * self.test_images * self.evaluations
        left = per_step * self.steps_left + eval_s
        if refine and self.said is not None and abs(left - self.said) <= 0.25 * self.said:
            return
        self.said = left
        text = (
            f"estimated time left for this run: {duration(left)} ({per_step:.2f} s per step {basis}, "
            f"{self.steps_left:,} steps to go"
            + (f", {self.evaluations} test evaluation(s) about {duration(eval_s)}" if self.evaluations else "")
            + ")"
        )
        if left >= self.LONG and not refine:
            n, nt, e = self.QUICK
            quick = per_image * n * e + per_image * self.FORWARD_SHARE * nt * min(e, self.evaluations or 1)
            text += f"; for a quick look (about {duration(quick)}), try --limit {n} --limit-test {nt} --epochs {e}"
        self.console.print(text, markup=False, soft_wrap=True)

    @override
    def epoch_end(self, row: dict[str, Any]) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
        self.console.print(epoch_line(row), markup=False)
        self.console.file.flush()
        if self.evaluations and row.get("test_acc") is not None:
            self.evaluations -= 1

    @override
    def run_end(self, result: Any) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def close(self) -> None:
        """Stop the progress bar (on Ctrl-C)."""
        self.run_end(None)


def duration(seconds: float) -> str:
    """`42 s`, `7.5 min`, `10.9 h`: a duration as a person reads it."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def results_table(results: list[dict[str, Any]], target: float) -> Table:
    """The final table: one row per run, then mean ± std when there are several."""
    import statistics

    t = Table(title="netc train: results")
    for col in ("run", "seed", "epochs", "test acc", "test loss", "seconds"):
        t.add_column(col, justify="right")
    for i, r in enumerate(results):
        t.add_row(
            str(i),
            str(r["seed"]),
            str(r["epochs"]),
            f"{r['test_acc']:.2%}",
            f"{r['test_loss']:.4f}",
            f"{r['seconds']:.2f}",
        )
    if len(results) > 1:
        accs = [r["test_acc"] for r in results]
        secs = [r["seconds"] for r in results]
        hit = sum(a >= target for a in accs)
        t.add_section()
        t.add_row(
            "mean",
            "",
            "",
            f"{statistics.mean(accs):.2%} ± {statistics.stdev(accs):.2%}",
            "",
            f"{statistics.mean(secs):.2f} ± {statistics.stdev(secs):.2f}",
        )
        t.caption = f"{hit} of {len(accs)} runs reached the target {target:.2%}"
    return t
