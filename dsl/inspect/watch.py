"""Redraw a network's diagram whenever its file, or a file it uses, changes (`netc watch`).

The drawing goes the way `netc draw` makes it (load, `to_dot`, `render.write`: atomic, so a
viewer never sees half a file). The watched files are the file and every file its `use` lines
reach, found again after each change, so adding a `use` line watches the new file; they are
found by parsing alone, so a file that does not load (a syntax error, a missing import) is
still watched and its fix is seen. A mistake is printed as `netc check` prints it and the
last good drawing stays. `watchfiles` does the waiting and the debouncing; the folders of
the files are watched (not recursively), so an editor that saves by renaming is seen too.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dsl.draw.render import Target
from dsl.errors import NetError, ToolError
from dsl.front.limits import Limits

# watchfiles wakes up this often without changes, to notice a folder that appeared (a `use`d
# file in a folder created later). The first wake-up also starts the first drawing: by then
# the watcher runs, so no change made after the first drawing can be missed.
WAKE_MS = 400
STEP_MS = 50  # changes are grouped until none came for this long (an editor's save is several)


@dataclass(frozen=True)
class DrawSpec:
    """What `netc draw` would be asked: the file, where the drawing goes and the view."""

    file: str
    target: Target
    level: str = "blocks"
    depth: int | None = None
    variant: str | None = None
    fold: bool = True
    direction: str = "LR"
    max_params: int = 10**9


def dot_source(spec: DrawSpec) -> str:
    """The DOT source of the file's drawing (raises NetError for a mistake in the files)."""
    from dsl.draw import to_dot
    from dsl.front.loader import load

    g = load(spec.file, variant=spec.variant, max_params=spec.max_params)
    return to_dot(
        g, level=spec.level, depth=spec.depth, fold=spec.fold, dashed=spec.variant is None, direction=spec.direction
    )


def used_files(file: str | os.PathLike[str], max_files: int = Limits().max_imports + 1) -> list[Path]:
    """`file` and every file its `use` lines reach, directly or not (paths as the loader forms
    them). A file that cannot be read or parsed is listed but not followed; at most `max_files`."""
    from dsl.front.parser import parse
    from dsl.front.source import read_source

    order = [Path(file)]
    seen = {os.path.abspath(file)}
    for path in order:  # grows while it is walked: breadth first, no recursion
        try:
            module = parse(read_source(path), str(path))
        except NetError:
            continue
        for use in module.uses:
            child = path.parent / use.path
            key = os.path.abspath(child)
            if key not in seen and len(order) < max_files:
                seen.add(key)
                order.append(child)
    return order


def _forms(path: Path) -> set[str]:
    """The names an event may give `path`: as written (absolute) and with links resolved."""
    return {os.path.abspath(path), os.path.realpath(path)}


class Watcher:
    """Draws `spec` now and after every change of its files; `say` gets the progress lines,
    `complain` the errors (the CLI passes stdout and stderr writers)."""

    def __init__(self, spec: DrawSpec, say: Callable[[str], None], complain: Callable[[str], None]):
        self.spec = spec
        self.say = say
        self.complain = complain
        self.files: list[Path] = used_files(spec.file)
        self.last_source: str | None = None  # the DOT of the drawing on disk, once drawn
        self.last_good = ""  # when it was drawn
        out = self.spec.target.path
        if out is not None and os.path.realpath(out) in self._watched():
            raise NetError(f"-o {out} would overwrite a file the network is read from", file=spec.file)

    def _watched(self) -> set[str]:
        return {name for f in self.files for name in _forms(f)}

    def _folders(self) -> set[str]:
        return {os.path.dirname(name) for name in self._watched() if os.path.isdir(os.path.dirname(name))}

    def redraw(self, first: bool = False) -> bool:
        """Draw again (unless the drawing is unchanged); True when the files loaded. A tool
        error (Graphviz missing) on the first drawing is raised: no later change can fix it."""
        self.files = used_files(self.spec.file)
        stamp = time.strftime("%H:%M:%S")
        try:
            source = dot_source(self.spec)
            if source == self.last_source and self.spec.target.path is not None and self.spec.target.path.exists():
                self.say(f"[{stamp}] {self.spec.file}: the drawing is unchanged")
                return True
            from dsl.draw.render import write

            written, warning = write(source, self.spec.target, self.spec.file)
        except ToolError:
            if first:
                raise
            return self._failed(stamp)
        except NetError as err:
            self.complain(str(err))
            return self._failed(stamp)
        self.last_source, self.last_good = source, stamp
        if warning:
            self.complain(f"{self.spec.file}: warning: {warning}")
        others = len(self.files) - 1
        uses = f", {others} used file{'s' if others != 1 else ''}" if others else ""
        self.say(f"[{stamp}] wrote {written} ({self.spec.level} view{uses})")
        return True

    def _failed(self, stamp: str) -> bool:
        kept = f"{self.spec.target.path} from {self.last_good}" if self.last_source else "no drawing yet"
        self.say(f"[{stamp}] {self.spec.file}: not drawn (the error above); kept {kept}")
        return False

    def run(self, stop_event: Any = None) -> None:
        """Watch until `stop_event` is set (Ctrl-C raises KeyboardInterrupt, as elsewhere in netc)."""
        import watchfiles

        first = True
        while True:
            folders = self._folders()
            if not folders:
                raise NetError(f"the folder of '{self.spec.file}' is gone; nothing left to watch", file=self.spec.file)
            fresh = True  # draw at the first wake-up of a new watcher (see WAKE_MS)
            try:
                for changes in watchfiles.watch(
                    *sorted(folders),
                    watch_filter=lambda _change, path: os.path.normpath(path) in self._watched(),
                    step=STEP_MS,
                    rust_timeout=WAKE_MS,
                    yield_on_timeout=True,
                    recursive=False,
                    stop_event=stop_event,
                ):
                    if changes or fresh:
                        self.redraw(first=first)
                        if first:
                            self._announce()
                        first = fresh = False
                    if self._folders() != folders:
                        break  # a file moved to another folder (or one appeared): watch anew
                else:
                    return  # stopped
            except FileNotFoundError:  # a folder went away while the watcher started
                continue

    def _announce(self) -> None:
        names = ", ".join(str(f) for f in self.files[1:4]) + (", ..." if len(self.files) > 4 else "")
        uses = f" and the files it uses ({names})" if len(self.files) > 1 else ""
        self.say(f"watching {self.spec.file}{uses}; Ctrl-C stops")
