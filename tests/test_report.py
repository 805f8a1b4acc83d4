"""`netc report`: the recap table (values asserted from a hand-written results.csv), train run
folders, markdown, the plot (a real PNG, size and content checked), and user errors."""

from __future__ import annotations

import json
import statistics

import pytest
from test_search import TINY_NET, make_npz, one_torch_thread  # noqa: F401

from dsl.search.results import FIELDS

ROWS = [  # variant, epochs, seed, test_acc, seconds, target
    ("Backbone", 20, 0, 0.90, 10.0, 0.94),
    ("Backbone", 20, 1, 0.92, 12.0, 0.94),
    ("Backbone", 22, 0, 0.91, 11.0, 0.94),
    ("Backbone", 22, 1, 0.93, 13.0, 0.94),
    ("Residual:L1+L3", 20, 0, 0.94, 20.0, 0.94),
    ("Residual:L1+L3", 20, 1, 0.95, 21.0, 0.94),
    ("Residual:L1+L3", 20, 2, 0.93, 22.0, 0.94),
    ("Residual:L1+L3", 22, 0, 0.945, 23.0, 0.94),
    ("Residual:L1+L3", 22, 1, 0.955, 23.0, 0.94),
    ("Extra:L2", 20, 0, 0.925, 15.0, 0.94),
    ("Extra:L2", 22, 0, 0.93, 16.5, 0.94),
]


def write_results(folder, rows=ROWS, partial_line=False):
    folder.mkdir(parents=True, exist_ok=True)
    lines = [",".join(FIELDS)]
    for v, e, s, acc, sec, target in rows:
        row = dict.fromkeys(FIELDS, "")
        row.update(
            variant=v,
            file="nets/x.net",
            net_hash="abc",
            config_hash=f"c{v}{e}",
            epochs=e,
            seed=s,
            test_acc=acc,
            seconds=sec,
            target=target,
            device="cpu",
        )
        lines.append(",".join(str(row[k]) for k in FIELDS))
    text = "\n".join(lines) + "\n" + ("Backbone,nets/x.net,abc,c,20,9,0.5" if partial_line else "")
    (folder / "results.csv").write_text(text)
    return folder


def table_lines(out: str) -> dict[tuple[str, str], str]:
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) > 2 and parts[1].isdigit():
            found[(parts[0], parts[1])] = line
    return found


def test_table_values_and_order(tmp_path, netc):
    d = write_results(tmp_path / "search", partial_line=True)
    r = netc("report", d)
    assert r.code == 0, r
    lines = table_lines(r.out)
    assert len(lines) == 6
    # sorted by mean time: Backbone 20 (11 s), Backbone 22 (12 s), Extra:L2 20 (15 s), 22 (16.5 s), Residual 20, 22
    assert list(lines) == [
        ("Backbone", "20"),
        ("Backbone", "22"),
        ("Extra:L2", "20"),
        ("Extra:L2", "22"),
        ("Residual:L1+L3", "20"),
        ("Residual:L1+L3", "22"),
    ]
    res20 = lines[("Residual:L1+L3", "20")]
    assert " 3 " in res20 and "94.00% ± 1.00%" in res20 and "2/3 ≥ 94.00%" in res20 and "21.0 s" in res20
    b20 = lines[("Backbone", "20")]
    assert "91.00% ± 1.41%" in b20 and "0/2 ≥ 94.00%" in b20 and "11.0 s" in b20
    assert "92.50%" in lines[("Extra:L2", "20")] and "±" not in lines[("Extra:L2", "20")]  # one run: no std
    res22 = lines[("Residual:L1+L3", "22")]
    assert f"{statistics.mean([0.945, 0.955]):.2%} ± {statistics.stdev([0.945, 0.955]):.2%}" in res22
    assert "2/2" in res22 and "23.0 s" in res22


def test_target_option_and_epochs_filter(tmp_path, netc):
    d = write_results(tmp_path / "search")
    r = netc("report", d, "--target", "91", "--epochs", "20")
    assert r.code == 0, r
    lines = table_lines(r.out)
    assert set(lines) == {("Backbone", "20"), ("Extra:L2", "20"), ("Residual:L1+L3", "20")}
    assert "1/2 ≥ 91.00%" in lines[("Backbone", "20")] and "3/3 ≥ 91.00%" in lines[("Residual:L1+L3", "20")]


def test_markdown(tmp_path, netc):
    d = write_results(tmp_path / "search")
    r = netc("report", d, "--markdown")
    assert r.code == 0, r
    lines = r.out.strip().splitlines()
    assert lines[0] == "| network | epochs | runs | test acc (mean ± std) | ≥ target | time / run |"
    assert lines[1].startswith("| --- |")
    assert lines[2] == "| Backbone | 20 | 2 | 91.00% ± 1.41% | 0/2 ≥ 94.00% | 11.0 s |"
    assert lines[-1] == "| Residual:L1+L3 | 22 | 2 | 95.00% ± 0.71% | 2/2 ≥ 94.00% | 23.0 s |"


def test_plot_png(tmp_path, netc):
    from PIL import Image

    d = write_results(tmp_path / "search")
    png = tmp_path / "plot.png"
    r = netc("report", d, "--plot", png)
    assert r.code == 0, r
    assert f"plot written to {png}" in r.out
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size == (1080, 720)
        rgb = im.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 20)
        non_white = sum(n for n, c in colours if c != (255, 255, 255))
        assert non_white > 0.02 * im.size[0] * im.size[1]  # axes, points, lines, labels
        assert len(colours) > 50  # anti-aliased text and 3 colours of marks
        # the network colours are there (tab10 blue, orange, green: one per family)
        assert any(abs(c[0] - 31) + abs(c[1] - 119) + abs(c[2] - 180) < 30 for n, c in colours if n > 20)
    svg = tmp_path / "plot.svg"
    assert netc("report", d, "--plot", svg).code == 0
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "Residual:L1+L3" in text and "Extra:L2" in text


def test_train_run_folders(tmp_path, netc):
    """`netc report runs/*` reads netc train's result.json (and config.json for the name/target)."""
    runs = tmp_path / "runs"
    for name, accs, secs in (
        ("backbone_1_original", [0.55, 0.57], [36.0, 36.4]),
        ("backbone_6_bn_init", [0.91, 0.912, 0.911], [47.0, 47.0, 47.3]),
    ):
        rd = runs / f"{name}-20260101-000000"
        rd.mkdir(parents=True)
        (rd / "config.json").write_text(json.dumps({"net": {"name": name}, "settings": {"target": 0.91}}))
        (rd / "result.json").write_text(
            json.dumps(
                {
                    "net": name,
                    "complete": True,
                    "runs_done": len(accs),
                    "runs_total": len(accs),
                    "target": 0.91,
                    "runs": [
                        {
                            "run": i,
                            "seed": i,
                            "epochs": 20,
                            "test_acc": a,
                            "test_loss": 1.0,
                            "seconds": s,
                            "warmup_s": 0.0,
                        }
                        for i, (a, s) in enumerate(zip(accs, secs))
                    ],
                }
            )
        )
    (runs / "not-a-run").mkdir()
    for args in ([runs], sorted(runs.glob("backbone_*"))):
        r = netc("report", *args)
        assert r.code == 0, r
        lines = table_lines(r.out)
        assert list(lines) == [("backbone_1_original", "20"), ("backbone_6_bn_init", "20")]
        assert "56.00% ± 1.41%" in lines[("backbone_1_original", "20")]
        assert "3/3 ≥ 91.00%" in lines[("backbone_6_bn_init", "20")] and "47.1 s" in lines[("backbone_6_bn_init", "20")]


def test_a_real_train_run_folder(tmp_path, netc):
    """Against the train command's real output (not only a hand-written copy of its format)."""
    net = tmp_path / "plain.net"
    net.write_text(TINY_NET.replace("layer1(res?) -> layer2(res?)", "layer1 -> layer2"))
    data = make_npz(tmp_path / "tiny.npz", n_train=64, n_test=32)
    r = netc("train", net, "--data", data, "--out", tmp_path / "run", "--runs", "2", "--quiet", "--no-checkpoint")
    assert r.code == 0, r
    res = json.loads((tmp_path / "run" / "result.json").read_text())
    r = netc("report", tmp_path / "run", "--markdown")
    assert r.code == 0, r
    row = r.out.strip().splitlines()[2]
    assert row.startswith("| plain | 2 | 2 | ") and f"{res['mean_acc']:.2%}" in row


def test_user_errors(tmp_path, netc):
    empty = tmp_path / "empty"
    empty.mkdir()
    header_only = tmp_path / "header"
    write_results(header_only, rows=[])
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "results.csv").write_text("a,b\n1,2\n")
    cases = [
        ((tmp_path / "missing",), "does not exist"),
        ((empty,), "holds no netc results"),
        ((header_only,), "no finished runs"),
        ((tmp_path / "bad",), "not a netc search results file"),
        ((write_results(tmp_path / "ok"), "--plot", tmp_path / "p.jpg"), "must end in .png, .svg or .pdf"),
        ((tmp_path / "ok", "--plot", tmp_path / "no" / "p.png"), "does not exist"),
        ((tmp_path / "ok", "--epochs", "30"), "no finished runs at 30 epochs"),
        ((tmp_path / "ok", "--target", "140"), "percentage"),
    ]
    for args, message in cases:
        r = netc("report", *args)
        assert r.code == 2, (args, r)
        assert message in r.err, (args, r.err)
        assert "Traceback" not in r.err


# ----------------------------------------------------------------------------- each run counted once
EXPECTED_B20 = "| Backbone | 20 | 2 | 91.00% ± 1.41% | 0/2 ≥ 94.00% | 11.0 s |"


def backbone20(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("| Backbone | 20 |"))


def test_a_duplicated_row_is_counted_once_and_said(tmp_path, netc):
    d = write_results(tmp_path / "search", rows=ROWS + [ROWS[0], ROWS[1], ROWS[0]])
    r = netc("report", d, "--markdown")
    assert r.code == 0, r
    assert backbone20(r.out) == EXPECTED_B20
    assert "3 row(s) repeat runs already counted" in r.err and "Backbone, 20 epochs, seed" in r.err, r.err


@pytest.mark.parametrize("how", ["twice", "file-and-folder", "parent-and-child", "link"])
def test_a_folder_given_twice_is_read_once(tmp_path, netc, how):
    d = write_results(tmp_path / "runs" / "search")
    (tmp_path / "alias").symlink_to(d)
    args = {
        "twice": [d, d],
        "file-and-folder": [d, d / "results.csv"],
        "parent-and-child": [tmp_path / "runs", d],
        "link": [d, tmp_path / "alias"],
    }[how]
    r = netc("report", *args, "--markdown")
    assert r.code == 0, r
    assert backbone20(r.out) == EXPECTED_B20
    assert "already read" in r.err and "counted once" in r.err, r.err


def test_rows_without_a_configuration_merge_with_the_run_they_repeat(tmp_path, netc):
    d = write_results(tmp_path / "search")
    lines = (d / "results.csv").read_text().splitlines()
    # the same two Backbone 20-epoch runs again, written by a netc that kept no configuration hash
    old = [line.replace(",cBackbone20,", ",,") for line in lines[1:3]]
    (d / "results.csv").write_text("\n".join([*lines, *old]) + "\n")
    r = netc("report", d, "--markdown")
    assert r.code == 0, r
    assert backbone20(r.out) == EXPECTED_B20
    assert "2 row(s) repeat runs already counted" in r.err


def test_rows_without_a_configuration_are_still_counted_when_they_are_the_only_record(tmp_path, netc):
    d = write_results(tmp_path / "search")
    text = (d / "results.csv").read_text().replace(",cBackbone20,", ",,")
    (d / "results.csv").write_text(text)
    r = netc("report", d, "--markdown")
    assert r.code == 0 and backbone20(r.out) == EXPECTED_B20 and "repeat" not in r.err, r


def test_a_copied_train_run_folder_is_counted_once(tmp_path, netc):
    net = tmp_path / "plain.net"
    net.write_text(TINY_NET.replace("layer1(res?) -> layer2(res?)", "layer1 -> layer2"))
    data = make_npz(tmp_path / "tiny.npz", n_train=64, n_test=32)
    runs = tmp_path / "runs"
    r = netc("train", net, "--data", data, "--out", runs / "a", "--runs", "2", "--quiet", "--no-checkpoint")
    assert r.code == 0, r
    import shutil

    shutil.copytree(runs / "a", runs / "a-copy")
    res = json.loads((runs / "a" / "result.json").read_text())
    r = netc("report", runs, "--markdown")
    assert r.code == 0, r
    row = r.out.strip().splitlines()[2]
    assert row.startswith("| plain | 2 | 2 | ") and f"{res['mean_acc']:.2%}" in row, r.out
    assert "2 row(s) repeat runs already counted" in r.err


def test_the_legend_covers_no_point_and_no_label(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    from dsl.search import report

    rows = [  # points in every corner of the axes, the lower right (the old legend's place) included
        (name, 20, s, acc, sec, 0.94)
        for name, acc, sec in (
            ("Backbone", 0.80, 10.0),
            ("Residual:L1", 0.95, 10.5),
            ("Residual:L3", 0.80, 60.0),
            ("Extra:L2", 0.95, 60.0),
            ("Extra:L1+L2", 0.81, 58.0),
        )
        for s in (0, 1)
    ]
    groups = report.group_rows(report.collect_rows([write_results(tmp_path / "s", rows=rows)]))
    captured = {}
    real_close = plt.close

    def keep(fig):
        captured["fig"] = fig

    monkeypatch.setattr(plt, "close", keep)
    report.plot(groups, tmp_path / "p.png")
    fig = captured["fig"]
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    legend = ax.get_legend().get_window_extent(renderer)
    points = ax.transData.transform([(g.mean_seconds, g.mean_acc * 100) for g in groups])
    assert not any(legend.contains(x, y) for x, y in points)
    labels = [t.get_window_extent(renderer) for t in ax.texts]
    assert len(labels) == 5 and not any(legend.overlaps(b) for b in labels)
    assert legend.x0 >= ax.bbox.x1  # beside the axes, inside the figure
    assert legend.x1 <= fig.bbox.x1
    real_close(fig)
