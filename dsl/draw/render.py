"""Where a drawing goes and how it gets there: the output path and format, running
Graphviz `dot` through the `graphviz` binding (and what to do when `dot` is missing), and
writing the result atomically (`dsl.fileio`: a failed write never leaves a truncated file)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from dsl.errors import NetError, ToolError
from dsl.fileio import output_path, write_bytes, write_error

FORMATS = ("svg", "png", "pdf", "dot")
INSTALL = "install Graphviz to render it: apt-get install graphviz (Debian/Ubuntu) or brew install graphviz (macOS)"


@dataclass(frozen=True)
class Target:
    """Where the drawing goes and in which format."""

    path: Path | None  # None: standard output
    format: str
    explicit: bool  # the user asked for this format (--format, or -o with its extension)


def target(file: str, out: str | None, fmt: str | None) -> Target:
    """`nets/x.net` -> `x.svg` in the current folder (never beside the .net file: a drawing of a
    file in someone else's folder is yours); `-o OUT` picks the format from its extension unless
    --format says."""
    if out == "-":
        if fmt not in (None, "dot"):
            raise NetError(f"-o - writes DOT source to standard output; use -o FILE.{fmt} for {fmt}", file=file)
        return Target(None, "dot", True)
    if out is None:
        f = fmt or "svg"
        p = Path(Path(file).with_suffix("." + f).name)
        output_path(p, folder_must_exist=False)  # a FIFO or a device is refused before any work
        return Target(p, f, fmt is not None)
    p = Path(out)
    output_path(p, folder_must_exist=False)
    ext = p.suffix[1:].lower()
    if ext in FORMATS:
        if fmt is not None and fmt != ext:
            raise NetError(
                f"-o {out} asks for {ext} but --format says {fmt}",
                file=file,
                hint=f"drop one of them, or name the file {p.with_suffix('.' + fmt)}",
            )
        return Target(p, ext, True)
    if fmt is None:
        raise NetError(
            f"cannot tell the format from '{out}'",
            file=file,
            hint="end the name with .svg, .png, .pdf or .dot, or pass --format",
        )
    return Target(p, fmt, True)


def with_dpi(source: str, dpi: int) -> str:
    """The DOT `source` with its graph's resolution set to `dpi` (pixels per inch of a PNG)."""
    head, brace, rest = source.partition("{")
    return f"{head}{brace}\n\tdpi={dpi}{rest}"


def write(source: str, t: Target, file: str, dpi: int | None = None) -> tuple[str, str | None]:
    """Write the drawing (a PNG at `dpi` when given). Returns (what was written, a warning line or
    None); raises ToolError when an explicitly requested image could not be made."""
    if dpi is not None:
        if t.format != "png":
            raise NetError(f"--dpi sets a PNG's resolution; {t.format} has none to set", file=file)
        source = with_dpi(source, dpi)
    if t.format == "dot":
        if t.path is None:
            sys.stdout.write(source)
            return "-", None
        _save(t.path, source.encode("utf-8"))
        return str(t.path), None
    assert t.path is not None  # only `-o -` has no path, and it always means DOT
    import graphviz

    try:
        image = graphviz.pipe("dot", t.format, source.encode("utf-8"))
    except graphviz.ExecutableNotFound:
        dot_path = t.path.with_suffix(".dot")
        _save(dot_path, source.encode("utf-8"))
        line = f"Graphviz `dot` was not found; wrote the DOT source to {dot_path}; {INSTALL}"
        if t.explicit:
            raise ToolError(line, file=file) from None
        return str(dot_path), line
    except graphviz.CalledProcessError as err:
        detail = (err.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        raise ToolError(
            f"Graphviz `dot` failed: {detail[-1] if detail else err}",
            file=file,
            hint="run with --format dot to inspect the source",
        ) from None
    _save(t.path, image)
    return str(t.path), None


def _save(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically (the old file survives any failure, e.g. a full
    disk), creating its folder if needed; raises FileWriteError ("could not write 'x.svg':
    no space left on device")."""
    if path.parent and not path.parent.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise write_error(path.parent, err, "create the folder") from None
    write_bytes(path, data)
