"""results.csv and `netc report` never lose or change data, and never crash on a malformed file.

Lines of results.csv that cannot be read are kept verbatim in place, ignored (so the run is
redone) and warned about with file:line; valid rows are rewritten byte for byte; malformed
numbers and train run folders are skipped with a located warning (exit 2 only when nothing is
usable, never 3); writes are atomic, get the umask's mode and fail cleanly on a full disk.
The full disk is simulated below the netc code: file objects opened for writing under the test
folder raise ENOSPC on write, and so does fsync.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import json
import os
from pathlib import Path

import pytest
from test_search import TINY_NET, make_npz, one_torch_thread  # noqa: F401

from dsl.errors import NetError
from dsl.fileio import FileWriteError
from dsl.search.results import FIELDS, ResultsFile, read_results, read_rows

HEADER = ",".join(FIELDS) + "\n"


def line(n=0, config="c", epochs="2", acc="0.5", seconds="1.0", variant="A", **more) -> str:
    """A results.csv line in FIELDS order (values as strings, exactly as they will be in the file)."""
    values = dict.fromkeys(FIELDS, "")
    values.update(
        variant=variant,
        file="f.net",
        net_hash="n",
        config_hash=config,
        epochs=epochs,
        seed=str(n),
        test_acc=acc,
        seconds=seconds,
        target="0.94",
        device="cpu",
    )
    values.update(more)
    return ",".join(values[k] for k in FIELDS) + "\n"


def row(seed=0, **more) -> dict:
    """A row as the runner hands it to ResultsFile.append."""
    return dict(
        variant="A",
        file="f.net",
        net_hash="n",
        config_hash="c",
        epochs=2,
        seed=seed,
        test_acc=0.75,
        seconds=2.5,
        target=0.94,
        device="cpu",
        **more,
    )


def write_csv(folder: Path, data: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "results.csv"
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture
def full_disk(monkeypatch, tmp_path):
    """`with full_disk():` writing file data under tmp_path fails with ENOSPC, as on a full disk.

    Creating, renaming and removing files still works (a full disk usually still allows those);
    file objects opened for writing there (builtins.open, os.fdopen) raise on write, os.fsync
    raises on their descriptors."""
    state = {"full": False}
    root = str(tmp_path)
    real_open, real_fdopen, real_fsync = builtins.open, os.fdopen, os.fsync

    def enospc() -> OSError:
        return OSError(errno.ENOSPC, "No space left on device")

    def on_full_disk(target) -> bool:
        if not state["full"]:
            return False
        if isinstance(target, int):
            try:
                target = os.readlink(f"/proc/self/fd/{target}")
            except OSError:
                return False
        return os.path.abspath(os.fspath(target)).startswith(root)

    class FullFile:
        def __init__(self, f):
            self._f = f

        def write(self, data):
            raise enospc()

        def writelines(self, lines):
            raise enospc()

        def __getattr__(self, name):
            return getattr(self._f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._f.close()

    def writes(mode: str) -> bool:
        return any(c in mode for c in "wax+")

    def fake_open(file, mode="r", *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        return FullFile(f) if writes(mode) and not isinstance(file, int) and on_full_disk(file) else f

    def fake_fdopen(fd, mode="r", *args, **kwargs):
        f = real_fdopen(fd, mode, *args, **kwargs)
        return FullFile(f) if writes(mode) and on_full_disk(fd) else f

    def fake_fsync(fd):
        if on_full_disk(fd):
            raise enospc()
        return real_fsync(fd)

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(os, "fdopen", fake_fdopen)
    monkeypatch.setattr(os, "fsync", fake_fsync)

    @contextlib.contextmanager
    def full():
        state["full"] = True
        try:
            yield
        finally:
            state["full"] = False

    return full


# ----------------------------------------------------------------------------- results.csv: nothing is lost
def test_unreadable_lines_are_kept_verbatim_in_place_and_ignored(tmp_path):
    folder = tmp_path / "search"
    lines = [
        HEADER.encode(),
        line(0).encode(),
        b"garbage that is no row\n",  # 3: wrong field count
        line(1, acc="abc").encode(),  # 4: not a number
        line(1, config="d").encode(),  # 5: fine
        line(2, device="gpu\xff").encode("latin-1"),  # 6: not UTF-8
        b'"an unclosed quote,1,2\n',  # 7: a stray quote ...
        line(3, config="d").encode(),
        line(4, config="d").encode(),
    ]  # ... does not swallow these
    path = write_csv(folder, b"".join(lines))
    before = path.read_bytes()
    rf = ResultsFile(folder)
    assert [(r["config_hash"], r["seed"]) for r in rf.rows] == [("c", 0), ("d", 1), ("d", 3), ("d", 4)]
    assert rf.done_keys() == {("c", 2, 0), ("d", 2, 1), ("d", 2, 3), ("d", 2, 4)}  # seed 1 of "c" is redone
    assert rf.warnings == [
        f"{path}:3: warning: not a valid row (1 fields, the header has {len(FIELDS)}); kept as is and ignored",
        f"{path}:4: warning: not a valid row (test_acc 'abc' is not a number); kept as is and ignored",
        f"{path}:6: warning: not a valid row (byte 0xff is not UTF-8 text); kept as is and ignored",
        f"{path}:7: warning: not a valid row (not valid CSV: unexpected end of data); kept as is and ignored",
    ]
    rf.append(row(1))
    # every line as it was, byte for byte and in place; the redone run is a new last row
    assert path.read_bytes() == before + line(1, acc="0.75", seconds="2.5").encode()
    again = read_results(path)
    assert again.warnings == rf.warnings
    assert [(r["config_hash"], r["seed"]) for r in again.rows] == [("c", 0), ("d", 1), ("d", 3), ("d", 4), ("c", 1)]


def test_a_garbage_file_gives_a_bounded_list_of_warnings(tmp_path):
    path = write_csv(tmp_path, HEADER + line(0) + "junk\n" * 100)
    res = read_results(path)
    assert len(res.rows) == 1 and len(res.warnings) == 21
    assert res.warnings[19].startswith(f"{path}:22: warning: not a valid row")
    assert res.warnings[20] == f"{path}: warning: 80 more lines not valid rows; kept as is and ignored"


def test_valid_rows_are_rewritten_byte_for_byte(tmp_path):
    """Rows another tool (or a newer netc, with an extra column and CRLF lines) wrote are not reformatted."""
    newer = tmp_path / "newer"
    header = HEADER.rstrip("\n") + ",gpu_temp\r\n"
    text = header + line(0, epochs="2.0", acc="0.9000", seconds="1e1").rstrip("\n") + ",71\r\n"
    path = write_csv(newer, text)
    rf = ResultsFile(newer)
    (r,) = rf.rows
    assert (r["epochs"], r["test_acc"], r["seconds"], r["gpu_temp"]) == (2, 0.9, 10.0, "71")
    rf.append(row(1))
    assert path.read_bytes().decode() == text + line(1, acc="0.75", seconds="2.5").rstrip("\n") + ",\n"
    assert not rf.warnings
    # an older file lacks columns: they are added at the end, and the old values keep their spelling
    older = tmp_path / "older"
    old_fields = FIELDS[:-3]
    old_line = ",".join(line(0, acc="0.9000").rstrip("\n").split(",")[:-3]) + "\n"
    path = write_csv(older, ",".join(old_fields) + "\n" + old_line)
    rf = ResultsFile(older)
    rf.append(row(1))
    assert path.read_text() == HEADER + old_line.rstrip("\n") + ",,,\n" + line(1, acc="0.75", seconds="2.5")
    assert [r["test_acc"] for r in read_rows(path)] == [0.9, 0.75]


def test_a_cut_off_last_line_stays_last_and_is_never_taken_for_a_row(tmp_path):
    """The last line lacks its newline (a copy cut short): even when it looks complete (its test_acc
    may be cut mid-number), it is kept, last and without a newline, and ignored."""
    cut = line(1).rstrip("\n")
    path = write_csv(tmp_path, HEADER + line(0) + cut)
    rf = ResultsFile(tmp_path)
    assert rf.done_keys() == {("c", 2, 0)}
    rf.append(row(1))
    rf.append(row(2))
    new = line(1, acc="0.75", seconds="2.5") + line(2, acc="0.75", seconds="2.5")
    assert path.read_text() == HEADER + line(0) + new + cut
    assert rf.warnings == [f"{path}:3: warning: cut off (no newline at the end of the file); kept as is and ignored"]
    res = read_results(path)
    assert [r["seed"] for r in res.rows] == [0, 1, 2]
    assert res.warnings == [f"{path}:5: warning: cut off (no newline at the end of the file); kept as is and ignored"]


BAD_VALUES = [  # (field, value, why) of one row of results.csv
    ("seed", "inf", "seed 'inf' is not a whole number"),
    ("epochs", "1e400", "epochs '1e400' is not a number above 0 and at most 100,000"),
    ("epochs", "nan", "epochs 'nan' is not a number above 0 and at most 100,000"),
    (
        "epochs",
        "-2.5",
        "epochs '-2.5' is not a number above 0 and at most 100,000",
    ),  # 2.5 is a fraction of epochs, and valid
    ("epochs", "0", "epochs '0' is not a number above 0 and at most 100,000"),
    ("test_acc", "inf", "test_acc 'inf' is not a finite number"),
    ("test_acc", "nan", "test_acc 'nan' is not a finite number"),
    ("test_acc", "1.5", "test_acc '1.5' is not between 0 and 1"),
    ("test_acc", "", "test_acc is empty"),
    ("seconds", "-inf", "seconds '-inf' is not a finite number"),
    ("seconds", "1e308", "seconds '1e308' is not between 0 and 1e+09 seconds"),
    ("epochs", "1" + "0" * 100, "epochs '1" + "0" * 39 + "...' is not a number above 0 and at most 100,000"),
    ("target", "nan", "target 'nan' is not a finite number"),
    ("params", "1" * 5000, "params '" + "1" * 40 + "...' is too large"),
    ("file", "x" * 200_000, "the line is longer than 131,072 characters"),
]


@pytest.mark.parametrize("field, value, why", BAD_VALUES, ids=[f"{f}={v[:8]}" for f, v, _ in BAD_VALUES])
def test_a_malformed_value_skips_its_row_with_a_located_warning(tmp_path, netc, field, value, why):
    path = write_csv(tmp_path / "search", HEADER + line(0) + line(1, **{field: value}) + line(2))
    r = netc("report", path.parent, "--markdown")
    assert r.code == 0, r
    assert r.err == f"{path}:3: warning: not a valid row ({why}); kept as is and ignored\n"
    assert r.out.strip().splitlines()[2] == "| A | 2 | 2 | 50.00% ± 0.00% | 0/2 ≥ 94.00% | 1.0 s |"
    # the search side: read, resumed (that run is redone) and rewritten with the line kept
    before = path.read_bytes()
    rf = ResultsFile(path.parent)
    assert rf.done_keys() == {("c", 2, 0), ("c", 2, 2)}
    rf.append(row(1))
    assert path.read_bytes() == before + line(1, acc="0.75", seconds="2.5").encode()


def test_all_malformed_rows_at_once_each_warned_at_its_line_and_plotted_around(tmp_path, netc):
    bad = [line(i + 1, **{field: value}) for i, (field, value, _) in enumerate(BAD_VALUES)]
    path = write_csv(tmp_path / "search", HEADER + line(0) + "".join(bad) + line(99, acc="0.7"))
    r = netc("report", path.parent, "--plot", tmp_path / "plot.png", "--markdown")
    assert r.code == 0, r
    assert r.err.splitlines() == [
        f"{path}:{i + 3}: warning: not a valid row ({why}); kept as is and ignored"
        for i, (_, _, why) in enumerate(BAD_VALUES)
    ]
    assert r.out.strip().splitlines()[2] == "| A | 2 | 2 | 60.00% ± 14.14% | 0/2 ≥ 94.00% | 1.0 s |"
    assert (tmp_path / "plot.png").stat().st_size > 1000


def test_header_with_a_byte_order_mark_is_netcs_and_a_foreign_one_is_refused(tmp_path, netc):
    """A spreadsheet that re-saved results.csv added a BOM: still netc's file. A file that is not
    netc's is refused cleanly (exit 2) and left exactly as it was."""
    path = write_csv(tmp_path / "bom", "\ufeff" + HEADER + line(0))
    rf = ResultsFile(path.parent)
    assert rf.done_keys() == {("c", 2, 0)}
    rf.append(row(1))
    assert path.read_text(encoding="utf-8") == "\ufeff" + HEADER + line(0) + line(1, acc="0.75", seconds="2.5")
    foreign = write_csv(tmp_path / "foreign", "a,b\n1,2\n")
    with pytest.raises(NetError, match="is not a netc search results file"):
        ResultsFile(foreign.parent)
    r = netc("report", foreign.parent)
    assert r.code == 2 and "is not a netc search results file (its header is 'a,b')" in r.err, r
    assert foreign.read_text() == "a,b\n1,2\n"


# ----------------------------------------------------------------------------- writing: mode, full disk
@pytest.mark.parametrize("umask", [0o022, 0o007])
def test_results_csv_gets_the_mode_the_umask_gives(tmp_path, umask):
    old = os.umask(umask)
    try:
        ResultsFile(tmp_path).append(row(0))
    finally:
        os.umask(old)
    assert (tmp_path / "results.csv").stat().st_mode & 0o777 == 0o666 & ~umask


def test_append_on_a_full_disk_fails_cleanly_and_keeps_the_file(tmp_path, full_disk):
    path = write_csv(tmp_path, HEADER + line(0) + "junk\n")
    before = path.read_bytes()
    rf = ResultsFile(tmp_path)
    with full_disk(), pytest.raises(FileWriteError) as info:
        rf.append(row(1))
    assert str(info.value) == f"{path}: error: could not write '{path}': no space left on device"
    assert path.read_bytes() == before and temps(tmp_path) == []
    assert rf.done_keys() == {("c", 2, 0)}  # the object is as the file is
    rf.append(row(2))  # space again: the failed row is not written late
    assert path.read_bytes() == before + line(2, acc="0.75", seconds="2.5").encode()


def test_search_on_a_full_disk_exits_2_and_keeps_results(tmp_path, netc, full_disk):
    net = tmp_path / "plain.net"
    net.write_text(TINY_NET.replace("layer1(res?) -> layer2(res?)", "layer1 -> layer2"))
    data = make_npz(tmp_path / "tiny.npz", n_train=32, n_test=16)
    out = tmp_path / "out"
    path = write_csv(out, HEADER + line(0))
    with full_disk():
        r = netc("search", net, "--data", data, "--out", out)
    assert r.code == 2, r
    assert f"could not write '{out / 'search.json'}': no space left on device" in r.err
    assert path.read_text() == HEADER + line(0) and temps(out) == []


def test_plot_on_a_full_disk_exits_2_and_leaves_the_previous_plot(tmp_path, netc, full_disk):
    path = write_csv(tmp_path / "search", HEADER + line(0) + line(1, acc="0.7", seconds="2.0"))
    png = tmp_path / "plot.png"
    assert netc("report", path.parent, "--plot", png).code == 0
    good = png.read_bytes()
    for out in (png, tmp_path / "new.png", tmp_path / "new.svg"):
        with full_disk():
            r = netc("report", path.parent, "--plot", out)
        assert r.code == 2, r
        if out == png:
            assert png.read_bytes() == good  # not truncated, not removed
        else:
            assert not out.exists()  # no empty or partial plot
        assert temps(tmp_path) == []
        assert f"could not write '{out}': no space left on device" in r.err and "internal error" not in r.err


# ----------------------------------------------------------------------------- netc search: the user is told
def test_search_warns_once_redoes_the_run_and_keeps_the_bad_line(tmp_path, netc):
    net = tmp_path / "plain.net"
    net.write_text(TINY_NET.replace("layer1(res?) -> layer2(res?)", "layer1 -> layer2"))
    data = make_npz(tmp_path / "tiny.npz", n_train=32, n_test=16)
    out = tmp_path / "out"
    args = ("search", net, "--data", data, "--runs", "2", "--out", out)
    assert netc(*args).code == 0
    path = out / "results.csv"
    header, first, second = path.read_text().splitlines(keepends=True)
    fields = second.split(",")
    fields[FIELDS.index("test_acc")] = "abc"  # a hand edit gone wrong
    bad = ",".join(fields)
    cut = "plain,x"  # and a copy cut short
    path.write_text(header + first + bad + cut)
    warnings = (
        f"{path}:3: warning: not a valid row (test_acc 'abc' is not a number); kept as is and ignored\n"
        f"{path}:4: warning: cut off (no newline at the end of the file); kept as is and ignored\n"
    )
    r = netc(*args, "--dry-run")
    assert r.code == 0 and r.err == warnings and "1 done, 1 to go" in r.out, r
    r = netc(*args)
    assert r.code == 0, r
    assert r.err == warnings  # once, though the folder is read twice
    assert "1 already done, 1 to go" in r.out and r.out.count(" epochs seed 1: test acc") == 1
    header2, first2, bad2, redone, cut2 = path.read_text().splitlines(keepends=True)
    assert (header2, first2, bad2, cut2) == (header, first, bad, cut)
    assert redone.split(",")[FIELDS.index("seed")] == "1"
    assert [row["seed"] for row in read_rows(path)] == [0, 1]


# ----------------------------------------------------------------------------- netc report: train run folders
def run_folder(folder: Path, result: str | bytes | object, config: object = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(result, bytes):
        (folder / "result.json").write_bytes(result)
    else:
        (folder / "result.json").write_text(result if isinstance(result, str) else json.dumps(result))
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config))
    return folder


GOOD_RUN = {"run": 0, "seed": 0, "epochs": 20, "test_acc": 0.9, "test_loss": 0.3, "seconds": 30.0, "warmup_s": 1.0}


def huge(folder: Path) -> Path:
    folder.mkdir(parents=True)
    with open(folder / "result.json", "wb") as f:  # sparse: 65 MiB on paper, nothing on disk
        f.truncate(65 << 20)
    return folder


BAD_FOLDERS = [  # (make the folder, the reason shown)
    (lambda d: run_folder(d, []), "is not a netc train result (a JSON object expected, not a list)"),
    (lambda d: run_folder(d, {"runs": 5}), "is not a netc train result ('runs' is a number, not a list)"),
    (lambda d: run_folder(d, '{"runs": [1, 2'), "is not valid JSON"),
    (lambda d: run_folder(d, "[" * 100_000 + "]" * 100_000), "is not valid JSON"),
    (lambda d: run_folder(d, b"\x89PNG\r\n\x1a\n\x00\x00"), "is not UTF-8 text"),
    (huge, "a JSON file is limited to 67,108,864 bytes"),
]


@pytest.mark.parametrize("make, reason", BAD_FOLDERS, ids=["list", "runs-int", "not-json", "deep", "binary", "huge"])
def test_an_unusable_run_folder_is_skipped_or_refused_cleanly(tmp_path, netc, make, reason):
    runs = tmp_path / "runs"
    bad = make(runs / "bad")
    r = netc("report", bad)  # alone: nothing usable, a clean error
    assert r.code == 2 and str(bad / "result.json") in r.err and "internal error" not in r.err, r
    run_folder(runs / "good", {"net": "good", "target": 0.9, "runs": [GOOD_RUN]})
    r = netc("report", runs, "--markdown")  # among others: skipped, said so
    assert r.code == 0, r
    assert r.out.strip().splitlines()[2] == "| good | 20 | 1 | 90.00% | 1/1 ≥ 90.00% | 30.0 s |"
    assert f"{bad / 'result.json'}: warning: " in r.err and reason in r.err and r.err.endswith("; skipped\n")
    assert reason in netc("report", bad).err


def test_a_run_folder_path_that_is_a_fifo_is_refused(tmp_path, netc):
    os.mkfifo(tmp_path / "result.json")
    r = netc("report", tmp_path / "result.json")
    assert r.code == 2 and "is not a results.csv or a run folder" in r.err, r


def test_malformed_runs_of_a_result_json_are_skipped_with_warnings(tmp_path, netc):
    runs = [
        GOOD_RUN,
        {},
        {**GOOD_RUN, "epochs": "20"},
        {**GOOD_RUN, "test_acc": ""},
        "x",
        {**GOOD_RUN, "seconds": None},
        {**GOOD_RUN, "epochs": True},
        {**GOOD_RUN, "seed": [1]},
        {**GOOD_RUN, "seed": 1, "test_acc": 0.8},
    ]
    text = json.dumps({"net": "n", "target": 0.85, "runs": runs})[:-2]
    text += ', {"epochs": 1e400, "test_acc": 0.9, "seconds": 1}, {"epochs": 20, "test_acc": NaN, "seconds": 1}]}'
    folder = run_folder(tmp_path / "run", text)
    r = netc("report", folder, "--markdown")
    assert r.code == 0, r
    assert r.out.strip().splitlines()[2] == "| n | 20 | 2 | 85.00% ± 7.07% | 1/2 ≥ 85.00% | 30.0 s |"
    where = f"{folder / 'result.json'}: warning: runs"
    assert r.err.splitlines() == [
        f"{where}[1] is not a valid run (epochs is missing); ignored",
        f"{where}[2] is not a valid run (epochs '20' is not a whole number from 1 to 100,000); ignored",
        f"{where}[3] is not a valid run (test_acc '' is not a number between 0 and 1); ignored",
        f"{where}[4] is not a valid run (a JSON object expected, not a string); ignored",
        f"{where}[5] is not a valid run (seconds null is not a number between 0 and 1e+09); ignored",
        f"{where}[6] is not a valid run (epochs true is not a whole number from 1 to 100,000); ignored",
        f"{where}[7] is not a valid run (seed a list is not a whole number); ignored",
        f"{where}[9] is not a valid run (epochs Infinity is not a whole number from 1 to 100,000); ignored",
        f"{where}[10] is not a valid run (test_acc NaN is not a number between 0 and 1); ignored",
    ]
    # nothing usable left: a clean error that says so
    only_bad = run_folder(tmp_path / "bad", {"net": "n", "runs": [{}]})
    r = netc("report", only_bad)
    assert r.code == 2 and "no usable runs in" in r.err and "runs[0] is not a valid run" in r.err, r


def test_odd_config_json_falls_back_to_the_folder_name(tmp_path, netc):
    """A result.json without net/target takes them from config.json; an odd one is ignored, said so."""
    result = {"runs": [GOOD_RUN]}
    for config, warning in (
        ([], "a JSON object expected, not a list"),
        ({"net": "x"}, "'net' is a string, not an object"),
        ({"settings": 5}, "'settings' is a number, not an object"),
        ({"settings": {"target": "high"}}, "settings.target 'high' is not a number"),
        ({}, None),
    ):
        folder = run_folder(tmp_path / "odd", result, config)
        r = netc("report", folder, "--markdown")
        assert r.code == 0, (config, r)
        assert r.out.strip().splitlines()[2] == "| odd | 20 | 1 | 90.00% | 0/1 ≥ 94.00% | 30.0 s |", (config, r)
        assert (warning in r.err and str(folder / "config.json") in r.err) if warning else r.err == "", (config, r)


# ----------------------------------------------------------------------------- names are data
def test_network_names_are_not_markup_in_the_table_or_the_plot(tmp_path, netc):
    from io import StringIO

    from rich.console import Console

    from dsl.search.report import collect_rows, group_rows, rich_table

    names = ["$\\notacommand$", "[/]closing", "esc\x1b[2J"]
    path = write_csv(
        tmp_path / "s", "".join([HEADER] + [line(i, variant=f'"{n}"' if "," in n else n) for i, n in enumerate(names)])
    )
    r = netc("report", path.parent, "--plot", tmp_path / "p.png")
    assert r.code == 0 and (tmp_path / "p.png").stat().st_size > 1000, r
    console = Console(file=StringIO(), force_terminal=True, width=200)
    console.print(rich_table(group_rows(collect_rows([path.parent])), title="[/] report"))
    text = console.file.getvalue()
    assert "[/]closing" in text and "[/] report" in text and "esc\\x1b[2J" in text and "\x1b[2J" not in text


def test_fractional_epochs_are_a_group_of_their_own(tmp_path, netc):
    """airbench94 trains 9.9 epochs: its rows read back, resume by their key and report as 9.9."""
    path = write_csv(tmp_path / "search", HEADER + line(0, epochs="9.9") + line(1, epochs="9.9") + line(2, epochs="10"))
    rf = ResultsFile(path.parent)
    assert rf.done_keys() == {("c", 9.9, 0), ("c", 9.9, 1), ("c", 10, 2)}
    r = netc("report", path.parent, "--markdown")
    assert r.code == 0 and r.err == "", r
    rows = r.out.strip().splitlines()[2:]
    assert sorted(rows) == [
        "| A | 10 | 1 | 50.00% | 0/1 ≥ 94.00% | 1.0 s |",
        "| A | 9.9 | 2 | 50.00% ± 0.00% | 0/2 ≥ 94.00% | 1.0 s |",
    ]


def test_rows_are_appended_not_the_file_rewritten(tmp_path, monkeypatch):
    from dsl.search import results

    rf = ResultsFile(tmp_path)
    rf.append(row(0))  # a new file is written whole (header and row)
    path = tmp_path / "results.csv"
    inode = path.stat().st_ino

    def no_rewrite(*a, **k):
        raise AssertionError("results.csv was rewritten whole")

    monkeypatch.setattr(results, "write_bytes", no_rewrite)
    for seed in range(1, 50):
        rf.append(row(seed))
    assert path.stat().st_ino == inode  # the same file: appended to, never replaced
    assert [r["seed"] for r in read_rows(path)] == list(range(50))
    assert ResultsFile(tmp_path).done_keys() == {("c", 2, s) for s in range(50)}
