"""What a new user meets first: training on a CPU says so and estimates the run's time after its first
steps (with a quick-look suggestion for long runs), the progress bar shows an ETA, and accuracy reads the
same (`91.23%`) in `netc train`, `netc eval` and `netc report`."""

from __future__ import annotations

import io
import re

from rich.console import Console
from train_fixtures import write_net, write_npz

from dsl.cli import main
from dsl.train.report import ConsoleReporter, duration


class Clock:
    def __init__(self, step: float):
        self.t, self.dt = 0.0, step

    def __call__(self) -> float:
        self.t += self.dt
        return self.t


def reporter(estimate: bool, per_step: float) -> tuple[ConsoleReporter, io.StringIO]:
    out = io.StringIO()
    return ConsoleReporter(Console(file=out, width=200), bar=False, estimate=estimate, clock=Clock(per_step)), out


def test_a_cpu_run_is_estimated_after_its_first_step_test_evaluations_included():
    rep, out = reporter(True, 18.0)  # the article's recipe on these 2-core machines: about 18 s a step
    rep.workload(512, 10_000, 24)  # batches of 512; 24 evaluations of the 10,000 test images
    rep.run_start(0, 24, 98, 0)
    rep.epoch_start(0, 98)
    assert "estimated" not in out.getvalue()
    rep.step()  # the first step gives the estimate at once
    text = out.getvalue()
    per_image = 18.0 / 512
    evals = per_image / 3 * 10_000 * 24  # forward passes only
    total = 18.0 * (24 * 98 - 1) + evals
    assert (
        f"estimated time left for this run: {duration(total)} (18.00 s per step from the first step, 2,351 steps"
        in text
    )
    assert f"24 test evaluation(s) about {duration(evals)}" in text
    quick = per_image * 5000 * 2 + per_image / 3 * 1000 * 2
    assert f"for a quick look (about {duration(quick)}), try --limit 5000 --limit-test 1000 --epochs 2" in text
    for _ in range(20):
        rep.step()
    assert out.getvalue().count("estimated") == 1  # the pace held: said once


def test_the_estimate_is_said_again_when_the_first_step_misled_it():
    out = io.StringIO()
    times = iter([0.0, 60.0] + [60.0 + 10 * i for i in range(1, 30)])  # a slow first step, then 10 s a step
    rep = ConsoleReporter(Console(file=out, width=200), bar=False, estimate=True, clock=lambda: next(times))
    rep.workload(512, 10_000, 1)
    rep.run_start(0, 10, 98, 0)
    rep.epoch_start(0, 98)
    for _ in range(6):
        rep.step()
    lines = [line for line in out.getvalue().splitlines() if line.startswith("estimated")]
    assert len(lines) == 2 and "60.00 s per step" in lines[0] and "10.00 s per step from steps 2 to 5" in lines[1]


def test_the_progress_bar_shows_an_eta_from_the_first_step():
    out = io.StringIO()
    rep = ConsoleReporter(Console(file=out, width=200, force_terminal=True), bar=True, clock=Clock(2.0))
    rep.run_start(0, 2, 10, 0)
    rep.epoch_start(0, 10)
    rep.step()
    task = rep.progress.tasks[0]
    assert task.fields["eta"] == duration(2.0 * 9)  # 2 s a step, 9 steps left
    rep.run_end(None)


def test_a_short_run_gets_no_quick_look_hint_and_a_gpu_run_no_estimate():
    rep, out = reporter(True, 0.05)
    rep.run_start(0, 2, 10, 0)
    rep.epoch_start(0, 10)
    for _ in range(5):
        rep.step()
    assert "estimated time left for this run: 1 s" in out.getvalue() and "--limit" not in out.getvalue()
    rep, out = reporter(False, 18.0)
    rep.run_start(0, 24, 98, 0)
    rep.epoch_start(0, 98)
    for _ in range(10):
        rep.step()
    assert "estimated" not in out.getvalue()


def test_durations_read_as_a_person_says_them():
    assert [duration(s) for s in (42, 450, 39_240)] == ["42 s", "7.5 min", "10.9 h"]


def test_netc_train_says_no_gpu_and_accuracy_is_a_percentage_everywhere(tmp_path, capsys):
    data, net, run = write_npz(tmp_path / "d.npz", 128, 64), write_net(tmp_path / "tiny.net"), tmp_path / "run"
    assert main(["train", str(net), "--data", str(data), "--out", str(run), "--runs", "2"]) == 0
    out = capsys.readouterr().out
    assert "note: no GPU found: training on the CPU" in out  # CI machines have no GPU: device auto -> cpu
    train_pcts = set(re.findall(r"\d+\.\d\d%", out))
    assert train_pcts and not re.search(r"test accuracy 0\.\d{4}", out)
    assert main(["report", str(run)]) == 0
    report = capsys.readouterr().out
    mean = re.search(r"test accuracy (\d+\.\d\d%) ± (\d+\.\d\d%) over 2 runs", out)
    assert mean is not None and mean.group(1) in report  # the same figure, the same format
    assert main(["eval", str(run)]) == 0
    assert re.search(r"accuracy \d+\.\d\d% \(\d+/64\)", capsys.readouterr().out)


def test_plot_labels_do_not_overlap_and_error_bars_show_the_spread(tmp_path):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    from dsl.search.report import place_labels

    fig, ax = plt.subplots(figsize=(9, 6), dpi=120)
    points = [
        ("Residual:L1", 40.0, 93.0),
        ("Backbone", 40.2, 93.05),
        ("Residual:L1+L3", 40.1, 92.98),
        ("Extra:L2", 60, 91),
    ]
    ax.plot([p[1] for p in points], [p[2] for p in points], "o")
    ax.set_xlim(39.5, 60.2)  # the last point at the right edge
    texts = place_labels(ax, points)
    fig.canvas.draw()
    boxes = [t.get_window_extent(fig.canvas.get_renderer()) for t in texts]
    assert len(boxes) == 4
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    area = ax.bbox  # the right-most label stays inside the axes
    assert all(area.contains(b.x0, b.y0) and area.contains(b.x1, b.y1) for b in boxes)
    plt.close(fig)


def test_the_report_title_says_epoch_in_the_singular(tmp_path, capsys):
    from dsl.search.report import _epochs

    assert (_epochs(1), _epochs(20), _epochs(9.9)) == ("1 epoch", "20 epochs", "9.9 epochs")
