"""`netc report`: the recap table and the article's time-vs-accuracy plot.

Reads search folders (`results.csv`, written by `netc search`) and `netc train` run folders
(`result.json` + `config.json`), or folders holding either one level down (`netc report runs/`).
Runs are grouped by (network, epochs); each group gives runs, mean ± std test accuracy, the
fraction of runs at or above the target, and mean seconds per run. The table is sorted by time.

The plot is the article's: one point per network at its shortest training length (time on x,
accuracy on y), a line to its longer training lengths, labelled with the network name.
"""
from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from ..errors import NetError
from .results import FILENAME, read_rows


@dataclass
class Group:
    network: str
    epochs: int
    accs: list[float]
    seconds: list[float]
    target: float
    source: str = ""

    @property
    def runs(self) -> int:
        return len(self.accs)

    @property
    def mean_acc(self) -> float:
        return statistics.mean(self.accs)

    @property
    def std_acc(self) -> float:
        return statistics.stdev(self.accs) if len(self.accs) > 1 else 0.0

    @property
    def hits(self) -> int:
        return sum(a >= self.target - 1e-12 for a in self.accs)

    @property
    def fraction(self) -> float:
        return self.hits / len(self.accs)

    @property
    def mean_seconds(self) -> float:
        return statistics.mean(self.seconds)


# ----------------------------------------------------------------------------- reading
def _train_dir_rows(folder: Path) -> list[dict]:
    path = folder / "result.json"
    try:
        res = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise NetError(f"'{path}' is unreadable ({err})", file=str(path)) from None
    name = res.get("net")
    target = res.get("target")
    try:
        cfg = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        cfg = {}
    if not name:
        name = (cfg.get("net") or {}).get("name") or folder.name
    if target is None:
        target = (cfg.get("settings") or {}).get("target", 0.94)
    rows = []
    for r in res.get("runs") or []:
        try:
            rows.append(dict(variant=str(name), epochs=int(r["epochs"]), seed=int(r.get("seed", 0)),
                             test_acc=float(r["test_acc"]), seconds=float(r["seconds"]), target=float(target),
                             source=str(folder)))
        except (KeyError, TypeError, ValueError):
            continue
    return rows


def _search_rows(folder: Path) -> list[dict]:
    rows = read_rows(folder / FILENAME)
    for r in rows:
        r["source"] = str(folder)
        if r.get("target") in (None, ""):
            r["target"] = 0.94
    return rows


def collect_rows(paths) -> list[dict]:
    """Rows (variant, epochs, seed, test_acc, seconds, target) from every folder given."""
    rows: list[dict] = []
    if not paths:
        raise NetError("give at least one folder: a netc search --out folder or netc train run folders")
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise NetError(f"'{p}' does not exist", file=str(p),
                           hint="pass a netc search --out folder (with results.csv) or netc train run folders")
        if p.is_file():
            if p.name == FILENAME or p.suffix == ".csv":
                rows += _search_rows_file(p)
                continue
            if p.name == "result.json":
                rows += _train_dir_rows(p.parent)
                continue
            raise NetError(f"'{p}' is not a results.csv or a run folder", file=str(p))
        found = _folder_rows(p)
        if found is None:
            subs = [s for s in sorted(p.iterdir()) if s.is_dir()]
            found_any = False
            for s in subs:
                sub = _folder_rows(s)
                if sub is not None:
                    found_any = True
                    rows += sub
            if not found_any:
                raise NetError(f"'{p}' holds no netc results (no results.csv, no result.json, "
                               f"nor any in its sub-folders)", file=str(p),
                               hint="run netc search --out DIR or netc train first, then netc report DIR")
        else:
            rows += found
    if not rows:
        raise NetError(f"no finished runs in {', '.join(map(str, paths))} yet",
                       hint="results appear after the first run of a search (or netc train) finishes")
    return rows


def _search_rows_file(path: Path) -> list[dict]:
    rows = read_rows(path)
    for r in rows:
        r["source"] = str(path.parent)
        if r.get("target") in (None, ""):
            r["target"] = 0.94
    return rows


def _folder_rows(folder: Path) -> list[dict] | None:
    if (folder / FILENAME).is_file():
        return _search_rows(folder)
    if (folder / "result.json").is_file():
        return _train_dir_rows(folder)
    return None


def group_rows(rows: list[dict], target: float | None = None) -> list[Group]:
    """Groups by (network, epochs), sorted by mean time (then name)."""
    groups: dict[tuple[str, int], Group] = {}
    for r in rows:
        acc, sec = r.get("test_acc"), r.get("seconds")
        if not isinstance(acc, float) or not isinstance(sec, float) or math.isnan(acc):
            continue
        key = (str(r["variant"]), int(r["epochs"]))
        g = groups.get(key)
        if g is None:
            t = target if target is not None else float(r.get("target") or 0.94)
            g = groups[key] = Group(key[0], key[1], [], [], t, r.get("source", ""))
        g.accs.append(acc)
        g.seconds.append(sec)
    return sorted(groups.values(), key=lambda g: (g.mean_seconds, g.network, g.epochs))


# ----------------------------------------------------------------------------- the table
COLUMNS = ("network", "epochs", "runs", "test acc (mean ± std)", "≥ target", "time / run")


def _cells(g: Group) -> list[str]:
    acc = f"{g.mean_acc:.2%}" + (f" ± {g.std_acc:.2%}" if g.runs > 1 else "")
    return [g.network, str(g.epochs), str(g.runs), acc, f"{g.hits}/{g.runs} ≥ {g.target:.2%}",
            f"{g.mean_seconds:.1f} s"]


def markdown(groups: list[Group]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join([" --- "] + [" ---: "] * (len(COLUMNS) - 1)) + "|"]
    for g in groups:
        lines.append("| " + " | ".join(_cells(g)) + " |")
    return "\n".join(lines)


def rich_table(groups: list[Group], title: str = "netc report"):
    from rich.table import Table

    t = Table(title=title)
    for i, c in enumerate(COLUMNS):
        t.add_column(c, justify="left" if i == 0 else "right")
    for g in groups:
        t.add_row(*_cells(g))
    return t


def plain_table(groups: list[Group]) -> str:
    rows = [list(COLUMNS)] + [_cells(g) for g in groups]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    fmt = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([fmt(rows[0]), "  ".join("-" * w for w in widths)] + [fmt(r) for r in rows[1:]])


# ----------------------------------------------------------------------------- the plot
PLOT_FORMATS = {".png", ".svg", ".pdf"}


def _family(name: str) -> str:
    return name.split(":", 1)[0] if ":" in name else name


def plot(groups: list[Group], out: str | Path, title: str | None = None) -> Path:
    """The article's plot: a point per network at its shortest epochs, lines to its longer ones."""
    out = Path(out)
    if out.suffix.lower() not in PLOT_FORMATS:
        raise NetError(f"--plot '{out}' must end in .png, .svg or .pdf", file=str(out))
    if out.parent and not out.parent.exists():
        raise NetError(f"the folder of --plot '{out}' does not exist", file=str(out))
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    by_net: dict[str, list[Group]] = {}
    for g in groups:
        by_net.setdefault(g.network, []).append(g)
    families = sorted({_family(n) for n in by_net})
    colours = dict(zip(families, plt.get_cmap("tab10").colors))
    epochs_all = sorted({g.epochs for g in groups})
    fig, ax = plt.subplots(figsize=(9, 6), dpi=120)
    for name, gs in by_net.items():
        gs = sorted(gs, key=lambda g: g.epochs)
        xs, ys = [g.mean_seconds for g in gs], [g.mean_acc * 100 for g in gs]
        c = colours[_family(name)]
        if len(gs) > 1:
            ax.plot(xs, ys, "-", color=c, linewidth=1.5, alpha=0.8)
        ax.plot(xs[:1], ys[:1], "o", color=c, markersize=7,
                label=_family(name) if name == min((n for n in by_net if _family(n) == _family(name))) else None)
        if gs[0].runs > 1:
            ax.errorbar(xs[:1], ys[:1], yerr=[gs[0].std_acc * 100 / math.sqrt(gs[0].runs)], color=c, capsize=2,
                        linewidth=0.8)
        ax.annotate(name, (xs[0], ys[0]), textcoords="offset points", xytext=(5, -10), fontsize=8, color="0.15")
    ax.set_xlabel("training time per run (s)")
    ax.set_ylabel("test accuracy (%)")
    lengths = (f"points: {epochs_all[0]} epochs, lines to {', '.join(map(str, epochs_all[1:]))} epochs"
               if len(epochs_all) > 1 else f"{epochs_all[0]} epochs" if epochs_all else "")
    ax.set_title(title or f"time vs accuracy ({lengths})")
    ax.grid(True, alpha=0.3)
    if len(families) > 1:
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    try:
        fig.savefig(out)
    except OSError as err:
        raise NetError(f"cannot write the plot '{out}': {err.strerror or err}", file=str(out)) from None
    finally:
        plt.close(fig)
    return out
