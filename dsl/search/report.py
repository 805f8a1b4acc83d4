"""`netc report`: the recap table and the article's time-vs-accuracy plot.

Reads search folders (`results.csv`, written by `netc search`) and `netc train` run folders
(`result.json` + `config.json`), or folders holding either one level down (`netc report runs/`).
Runs are grouped by (network, epochs); each group gives runs, mean ± std test accuracy, the
fraction of runs at or above the target, and mean seconds per run. The table is sorted by time.

The plot is the article's: one point per network at its shortest training length (time on x,
accuracy on y), a line to its longer training lengths, labelled with the network name.

Nothing malformed is fatal while something usable is left: a bad line of results.csv, a bad run
of result.json, or a whole unreadable run folder among others is skipped with a warning naming
the file (and line or run); NetError only when nothing usable remains. Files are read with a size
cap (dsl.fileio); the plot is rendered in memory and written atomically.
"""

from __future__ import annotations

import io
import json
import math
import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dsl.errors import NetError, show_value
from dsl.fileio import check_plot_path, describe_os_error, read_text_limited, write_bytes
from dsl.records import MAX_EPOCHS, MAX_SECONDS
from dsl.search.results import FILENAME, read_results
from dsl.settings import DEFAULT_TARGET


@dataclass
class Group:
    """The runs of one network at one training length."""

    network: str
    epochs: int | float
    accs: list[float]
    seconds: list[float]
    target: float
    source: str = ""

    @property
    def runs(self) -> int:
        """How many runs."""
        return len(self.accs)

    @property
    def mean_acc(self) -> float:
        """Mean test accuracy."""
        return statistics.mean(self.accs)

    @property
    def std_acc(self) -> float:
        """Sample standard deviation of the test accuracy (0 for one run)."""
        return statistics.stdev(self.accs) if len(self.accs) > 1 else 0.0

    @property
    def hits(self) -> int:
        """Runs at or above the target."""
        return sum(a >= self.target - 1e-12 for a in self.accs)

    @property
    def fraction(self) -> float:
        """The fraction of runs at or above the target."""
        return self.hits / len(self.accs)

    @property
    def mean_seconds(self) -> float:
        """Mean seconds per run."""
        return statistics.mean(self.seconds)


# ----------------------------------------------------------------------------- reading
JSON_LIMIT = 64 << 20  # a result.json / config.json is a few kB; anything this big is not one


def _number(v: object) -> float | None:
    """`v` as a finite float, or None (JSON true/false are not numbers)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        f = float(v)
    except OverflowError:  # an int too big for a float
        return None
    return f if math.isfinite(f) else None


def _whole(v: object) -> int | None:
    """`v` as an int if it is a whole JSON number (20 or 20.0), else None; big ints stay exact."""
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    f = _number(v)
    return int(f) if f is not None and f.is_integer() else None


def _read_json(path: Path) -> object:
    """The parsed JSON of a file; NetError (clean) if it is too big, not a file, not UTF-8 or not JSON."""
    text = read_text_limited(path, JSON_LIMIT, "JSON file")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as err:  # RecursionError: '[[[[...' nested too deep
        raise NetError(f"'{path}' is not valid JSON ({str(err) or 'nested too deeply'})", file=str(path)) from None


def _fraction(v: object) -> float | None:
    f = _number(v)
    return f if f is not None and 0.0 <= f <= 1.0 else None


class _BadRun(Exception):
    """An entry of result.json's runs that is not a valid run (the message says why)."""


def _train_run(r: object) -> tuple[int, int, float, float]:
    """(epochs, seed, test_acc, seconds) of one entry of result.json's runs; _BadRun says what is wrong."""
    if not isinstance(r, dict):
        raise _BadRun(f"a JSON object expected, not {_json_type(r)}")
    for k in ("epochs", "test_acc", "seconds"):
        if k not in r:
            raise _BadRun(f"{k} is missing")
    epochs, seed = _whole(r["epochs"]), _whole(r.get("seed", 0))
    acc, sec = _fraction(r["test_acc"]), _number(r["seconds"])
    if epochs is None or not 1 <= epochs <= MAX_EPOCHS:
        raise _BadRun(f"epochs {_shown(r['epochs'])} is not a whole number from 1 to {MAX_EPOCHS:,}")
    if seed is None:
        raise _BadRun(f"seed {_shown(r.get('seed'))} is not a whole number")
    if acc is None:
        raise _BadRun(f"test_acc {_shown(r['test_acc'])} is not a number between 0 and 1")
    if sec is None or not 0 <= sec <= MAX_SECONDS:
        raise _BadRun(f"seconds {_shown(r['seconds'])} is not a number between 0 and {MAX_SECONDS:.0e}")
    return epochs, seed, acc, sec


def _json_type(v: object) -> str:
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        type(None): "null",
        int: "a number",
        float: "a number",
    }.get(type(v), type(v).__name__)


def _shown(v: object) -> str:
    """A JSON value in a warning, as the file spells it (NaN, true, null), or its type for a container."""
    return _json_type(v) if isinstance(v, (dict, list)) else show_value(v, 43)


def _train_dir_rows(folder: Path, warnings: list[str], seen: dict[str, str]) -> list[dict]:
    """The runs of a netc train run folder; a malformed run is skipped with a warning.

    NetError if result.json itself is unusable (missing, too big, not JSON, not netc's)."""
    path = folder / "result.json"
    if _read_before(path, seen, warnings):
        return []
    res = _read_json(path)
    if not isinstance(res, dict):
        raise NetError(
            f"'{path}' is not a netc train result (a JSON object expected, not {_json_type(res)})", file=str(path)
        )
    runs = res.get("runs")
    if not isinstance(runs, list):
        raise NetError(
            f"'{path}' is not a netc train result ('runs' is {_json_type(runs)}, not a list)", file=str(path)
        )
    net = res.get("net")
    name = net if isinstance(net, str) and net.strip() else None
    target = _fraction(res.get("target"))
    if res.get("target") is not None and target is None:
        warnings.append(f"{path}: warning: target {_shown(res.get('target'))} is not a number between 0 and 1; ignored")
    cfg_name, cfg_target, identity = _train_config(folder, warnings)
    if name is None or target is None:  # config.json has the rest (older result.json lacks them)
        name = name or cfg_name or folder.name
        target = target if target is not None else cfg_target if cfg_target is not None else DEFAULT_TARGET
    rows = []
    for i, r in enumerate(runs):
        try:
            epochs, seed, acc, sec = _train_run(r)
        except _BadRun as err:
            warnings.append(f"{path}: warning: runs[{i}] is not a valid run ({err}); ignored")
            continue
        rows.append(
            {
                "variant": name,
                "epochs": epochs,
                "seed": seed,
                "test_acc": acc,
                "seconds": sec,
                "target": target,
                "source": str(folder),
                "key": None if identity is None else ("train", identity, epochs, seed),
            }
        )
    return rows


def _train_config(folder: Path, warnings: list[str]) -> tuple[str | None, float | None, str | None]:
    """(net name, target, identity) from a run folder's config.json; None where it does not say.
    The identity covers what makes two runs of one seed the same run: the network's fingerprint,
    the settings (less the reporting-only target), the data's digest and the precision."""
    path = folder / "config.json"
    if not path.exists():
        return None, None, None
    try:
        cfg = _read_json(path)
    except NetError as err:
        warnings.append(f"{path}: warning: {err.message}; ignored")
        return None, None, None
    if not isinstance(cfg, dict):
        warnings.append(f"{path}: warning: a JSON object expected, not {_json_type(cfg)}; ignored")
        return None, None, None
    net, settings = cfg.get("net"), cfg.get("settings")
    for key, value in (("net", net), ("settings", settings)):
        if value is not None and not isinstance(value, dict):
            warnings.append(f"{path}: warning: '{key}' is {_json_type(value)}, not an object; ignored")
    name = net.get("name") if isinstance(net, dict) else None
    name = name if isinstance(name, str) and name.strip() else None
    target = None
    if isinstance(settings, dict) and settings.get("target") is not None:
        target = _fraction(settings["target"])
        if target is None:
            warnings.append(
                f"{path}: warning: settings.target {_shown(settings['target'])} is not a number "
                f"between 0 and 1; ignored"
            )
    return name, target, _identity(cfg)


def _identity(cfg: dict) -> str | None:
    """The run configuration's identity in a config.json (None when it lacks the fingerprint)."""
    net, settings, data, device = (cfg.get(k) for k in ("net", "settings", "data", "device"))
    fingerprint = net.get("fingerprint") if isinstance(net, dict) else None
    if not isinstance(fingerprint, str) or not fingerprint:
        return None
    recipe = {k: v for k, v in settings.items() if k != "target"} if isinstance(settings, dict) else None
    parts = [
        fingerprint,
        recipe,
        data.get("digest") if isinstance(data, dict) else None,
        device.get("precision") if isinstance(device, dict) else None,
    ]
    return json.dumps(parts, sort_keys=True, default=str)


def _read_before(path: Path, seen: dict[str, str], warnings: list[str]) -> bool:
    """True (with a note) when the file at `path` was already read under this or another name."""
    try:
        real = str(path.resolve())
    except (OSError, RuntimeError):  # a link loop: the read itself reports it
        return False
    first = seen.get(real)
    if first is not None:
        same = "" if first == str(path) else f" (as '{first}')"
        warnings.append(f"{path}: note: already read{same}; its runs are counted once")
        return True
    seen[real] = str(path)
    return False


def _search_rows(path: Path, warnings: list[str], seen: dict[str, str]) -> list[dict]:
    if _read_before(path, seen, warnings):
        return []
    res = read_results(path)
    warnings += res.warnings
    for r in res.rows:
        r["source"] = str(path.parent)
        if not isinstance(r.get("target"), float):
            r["target"] = DEFAULT_TARGET
        config = r.get("config_hash")
        r["key"] = ("search", config, r["epochs"], r["seed"]) if isinstance(config, str) and config else None
    return res.rows


def _folder_rows(folder: Path, warnings: list[str], seen: dict[str, str]) -> list[dict] | None:
    """The rows of a search or run folder, None if it is neither."""
    if (folder / FILENAME).is_file():
        return _search_rows(folder / FILENAME, warnings, seen)
    if (folder / "result.json").is_file():
        return _train_dir_rows(folder, warnings, seen)
    return None


def _source_rows(p: Path, warnings: list[str], seen: dict[str, str]) -> list[dict]:
    """The rows of one path given on the command line; NetError if it holds no netc results."""
    if not p.exists():
        raise NetError(
            f"'{p}' does not exist",
            file=str(p),
            hint="pass a netc search --out folder (with results.csv) or netc train run folders",
        )
    if p.is_file():
        if p.name == FILENAME or p.suffix == ".csv":
            return _search_rows(p, warnings, seen)
        if p.name == "result.json":
            return _train_dir_rows(p.parent, warnings, seen)
        raise NetError(f"'{p}' is not a results.csv or a run folder", file=str(p))
    if not p.is_dir():
        raise NetError(f"'{p}' is not a results.csv or a run folder (it is not a plain file or folder)", file=str(p))
    found = _folder_rows(p, warnings, seen)
    if found is not None:
        return found
    try:
        subs = [s for s in sorted(p.iterdir()) if s.is_dir()]
    except OSError as err:
        raise NetError(f"cannot list '{p}': {describe_os_error(err)}", file=str(p)) from None
    rows, found_any = [], False
    for s in subs:
        try:
            sub = _folder_rows(s, warnings, seen)
        except (NetError, OSError) as err:  # one broken run folder among many: skip it, say so
            problem = _as_net_error(err, s)
            warnings.append(f"{problem.file or s}: warning: {problem.message}; skipped")
            found_any = True
            continue
        if sub is not None:
            found_any = True
            rows += sub
    if not found_any:
        raise NetError(
            f"'{p}' holds no netc results (no results.csv, no result.json, nor any in its sub-folders)",
            file=str(p),
            hint="run netc search --out DIR or netc train first, then netc report DIR",
        )
    return rows


def _as_net_error(err: NetError | OSError, path: Path) -> NetError:
    """An OSError met while looking at `path` (a folder without permission, say) as a NetError."""
    if isinstance(err, NetError):
        return err
    where = err.filename or path
    return NetError(f"cannot read '{where}': {describe_os_error(err)}", file=str(where))


def collect_rows(paths: Sequence[str | os.PathLike[str]], warnings: list[str] | None = None) -> list[dict[str, Any]]:
    """Rows (variant, epochs, seed, test_acc, seconds, target) from every path given.

    Lines, runs and folders that cannot be used are skipped with a warning added to `warnings`;
    NetError only when nothing usable is left (saying why)."""
    warnings = [] if warnings is None else warnings
    if not paths:
        raise NetError("give at least one folder: a netc search --out folder or netc train run folders")
    rows: list[dict] = []
    errors: list[NetError] = []
    warned_before = len(warnings)
    seen: dict[str, str] = {}  # every results file read (resolved) -> the name it was first read as
    for p in paths:
        try:
            rows += _source_rows(Path(p), warnings, seen)
        except (NetError, OSError) as err:
            errors.append(_as_net_error(err, Path(p)))
    if len(paths) == 1 and errors:
        raise errors[0]  # the one thing asked for is unusable: that is the error
    for problem in errors:  # the others are still reported
        warnings.append(f"{problem.file or 'netc report'}: warning: {problem.message}; skipped")
    if not rows:
        if errors:
            raise NetError("nothing to report: " + "; ".join(e.message for e in errors))
        if len(warnings) > warned_before:
            raise NetError(f"no usable runs in {', '.join(map(str, paths))} (see the warnings above)")
        raise NetError(
            f"no finished runs in {', '.join(map(str, paths))} yet",
            hint="results appear after the first run of a search (or netc train) finishes",
        )
    return count_once(rows, warnings)


def count_once(rows: list[dict], warnings: list[str]) -> list[dict]:
    """Each run once: rows of one run (the same configuration, epochs and seed; by network name,
    epochs and seed for a row that records no configuration) are merged into the last one read,
    and `warnings` says how many were merged and an example. Drops the rows' internal `key`."""
    keyed: dict[tuple, int] = {}  # key -> index in `out`
    named: dict[tuple, int] = {}  # (network, epochs, seed) -> index of a row of that run
    out: list[dict] = []
    merged: list[tuple[dict, dict]] = []  # (the row dropped, the row kept)
    for r in sorted(rows, key=lambda r: r.get("key") is None):  # rows with a configuration first
        key = r.pop("key", None)
        name = (str(r["variant"]), r["epochs"], r["seed"])
        at = keyed.get(key) if key is not None else named.get(name)
        if at is None:
            if key is not None:
                keyed[key] = len(out)
            named.setdefault(name, len(out))
            out.append(r)
            continue
        if key is not None:  # the same run read twice: the later row stands
            merged.append((out[at], r))
            out[at] = r
        else:  # no configuration recorded: a row of a run already counted
            merged.append((r, out[at]))
    if merged:
        dropped, kept = merged[0]
        where = dropped.get("source", "")
        also = f" and {kept.get('source', '')}" if kept.get("source", "") != where else ""
        warnings.append(
            f"netc report: note: {len(merged)} row(s) repeat runs already counted (same network, configuration, "
            f"epochs and seed), each run counted once; e.g. {_printable(str(dropped['variant']))}, "
            f"{dropped['epochs']} epochs, seed {dropped['seed']} in {_printable(where)}{_printable(also)}"
        )
    return out


def group_rows(rows: list[dict], target: float | None = None) -> list[Group]:
    """Groups by (network, epochs), sorted by mean time (then name)."""
    groups: dict[tuple[str, int], Group] = {}
    for r in rows:
        acc, sec = r.get("test_acc"), r.get("seconds")
        if r.get("state") == "pruned":
            continue  # stopped early: its figures are not a finished run's
        if not isinstance(acc, float) or not isinstance(sec, float) or not math.isfinite(acc) or not math.isfinite(sec):
            continue  # the readers keep only finite values; rows from elsewhere may not
        key = (str(r["variant"]), r["epochs"])  # a whole number, or a fraction (9.9)
        g = groups.get(key)
        if g is None:
            own = r.get("target")
            t = target if target is not None else own if isinstance(own, float) else DEFAULT_TARGET
            g = groups[key] = Group(key[0], key[1], [], [], t, r.get("source", ""))
        g.accs.append(acc)
        g.seconds.append(sec)
    return sorted(groups.values(), key=lambda g: (g.mean_seconds, g.network, g.epochs))


# ----------------------------------------------------------------------------- the table
COLUMNS = ("network", "epochs", "runs", "test acc (mean ± std)", "≥ target", "time / run")


def _printable(name: str) -> str:
    """`name` with control characters escaped: a results file must not drive the terminal."""
    if name.isprintable():
        return name
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in name)


def _cells(g: Group) -> list[str]:
    acc = f"{g.mean_acc:.2%}" + (f" ± {g.std_acc:.2%}" if g.runs > 1 else "")
    return [
        _printable(g.network),
        str(g.epochs),
        str(g.runs),
        acc,
        f"{g.hits}/{g.runs} ≥ {g.target:.2%}",
        f"{g.mean_seconds:.1f} s",
    ]


def markdown(groups: list[Group]) -> str:
    """The recap table as GitHub markdown."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join([" --- "] + [" ---: "] * (len(COLUMNS) - 1)) + "|"]
    for g in groups:
        lines.append("| " + " | ".join(_cells(g)) + " |")
    return "\n".join(lines)


def rich_table(groups: list[Group], title: str = "netc report") -> Any:
    """The recap table for a terminal (a rich Table)."""
    from rich.table import Table
    from rich.text import Text

    # Text, not str: rich would read a network named '[bold]x' or '[/]' as markup (and fail on the latter)
    t = Table(title=Text(title))
    for i, c in enumerate(COLUMNS):
        t.add_column(c, justify="left" if i == 0 else "right")
    for g in groups:
        t.add_row(*map(Text, _cells(g)))
    return t


def plain_table(groups: list[Group]) -> str:
    """The recap table as aligned plain text."""
    rows = [list(COLUMNS)] + [_cells(g) for g in groups]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]

    def fmt(r: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))

    return "\n".join([fmt(rows[0]), "  ".join("-" * w for w in widths)] + [fmt(r) for r in rows[1:]])


# ----------------------------------------------------------------------------- the plot


def _family(name: str) -> str:
    return name.split(":", 1)[0] if ":" in name else name


def _label(text: str, limit: int = 60) -> str:
    """`text` for matplotlib: shortened, control characters escaped, '$' literal (not mathtext)."""
    text = _printable(text if len(text) <= limit else text[: limit - 1] + "…")
    return text.replace("$", r"\$")


def _epochs(n: float) -> str:
    """`1 epoch`, `20 epochs`, `9.9 epochs`."""
    return f"{n} epoch" + ("" if n == 1 else "s")


# where a label may sit, in points from its marker, in the order tried: right, left, above, below, diagonals
_OFFSETS = [(6, -3), (-6, -3), (0, 7), (0, -12), (6, 6), (-6, 6), (6, -12), (-6, -12)]


def place_labels(ax: Any, labels: list[tuple[str, float, float]]) -> list[Any]:
    """Annotate each (text, x, y) next to its point, inside the axes, where it overlaps no label placed
    before it (the first free place of _OFFSETS, then further out); returns the Text objects."""
    fig = ax.figure
    fig.canvas.draw()  # a renderer to measure text with; the axes' limits are final by now
    renderer = fig.canvas.get_renderer()
    area = ax.bbox  # a label must stay inside the axes (one at the right edge goes to the left of its point)
    placed: list[Any] = []
    boxes: list[Any] = []
    for text, x, y in sorted(labels, key=lambda t: (t[1], t[2])):
        chosen = None
        for scale in (1, 2, 3):
            for dx, dy in _OFFSETS:
                ha = "left" if dx > 0 else "right" if dx < 0 else "center"
                t = ax.annotate(
                    text,
                    (x, y),
                    textcoords="offset points",
                    xytext=(dx * scale, dy * scale),
                    fontsize=8,
                    color="0.15",
                    ha=ha,
                )
                box = t.get_window_extent(renderer).expanded(1.05, 1.1)
                inside = area.contains(box.x0, box.y0) and area.contains(box.x1, box.y1)
                if inside and not any(box.overlaps(b) for b in boxes):
                    chosen = (t, box)
                    break
                t.remove()
            if chosen:
                break
        if chosen is None:  # crowded beyond every place tried: keep the first, overlapping
            t = ax.annotate(text, (x, y), textcoords="offset points", xytext=_OFFSETS[0], fontsize=8, color="0.15")
            chosen = (t, t.get_window_extent(renderer))
        placed.append(chosen[0])
        boxes.append(chosen[1])
    return placed


def plot(groups: list[Group], out: str | Path, title: str | None = None) -> Path:
    """The article's plot: a point per network at its shortest epochs, lines to its longer ones."""
    out = check_plot_path(out)
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    by_net: dict[str, list[Group]] = {}
    for g in groups:
        by_net.setdefault(g.network, []).append(g)
    families = sorted({_family(n) for n in by_net})
    colours = dict(zip(families, plt.get_cmap("tab10").colors))  # type: ignore[attr-defined]  # a ListedColormap
    epochs_all = sorted({g.epochs for g in groups})
    fig, ax = plt.subplots(figsize=(9, 6), dpi=120)
    labels: list[tuple[str, float, float]] = []
    for name, gs in by_net.items():
        gs = sorted(gs, key=lambda g: g.epochs)
        xs, ys = [g.mean_seconds for g in gs], [g.mean_acc * 100 for g in gs]
        c = colours[_family(name)]
        if len(gs) > 1:
            ax.plot(xs, ys, "-", color=c, linewidth=1.5, alpha=0.8)
        ax.plot(
            xs[:1],
            ys[:1],
            "o",
            color=c,
            markersize=7,
            label=_label(_family(name)) if name == min(n for n in by_net if _family(n) == _family(name)) else None,
        )
        several = [g for g in gs if g.runs > 1]
        if several:  # mean ± std of the runs, at every length that has several
            ax.errorbar(
                [g.mean_seconds for g in several],
                [g.mean_acc * 100 for g in several],
                yerr=[g.std_acc * 100 for g in several],
                fmt="none",
                ecolor=c,
                capsize=2,
                linewidth=0.8,
            )
        labels.append((_label(name), xs[0], ys[0]))
    ax.set_xlabel("training time per run (s)")
    ax.set_ylabel("test accuracy (%)")
    lengths = (
        f"points: {_epochs(epochs_all[0])}, lines to {', '.join(map(str, epochs_all[1:]))} epochs"
        if len(epochs_all) > 1
        else _epochs(epochs_all[0])
        if epochs_all
        else ""
    )
    ax.set_title(_label(title, 200) if title else f"time vs accuracy ({lengths})")
    ax.grid(True, alpha=0.3)
    if len(families) > 1:
        # outside the axes, to their right: inside, it could cover a point or its label
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8)
    fig.tight_layout()
    place_labels(ax, labels)  # after the layout: the distances between points are final
    # rendered in memory, then written atomically: a full disk leaves the previous plot (or none),
    # never a truncated file, and the error says why (dsl.fileio.FileWriteError)
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format=out.suffix.lower()[1:])
    finally:
        plt.close(fig)
    write_bytes(out, buf.getvalue())
    return out
