"""What a user asks `netc train FILE` for: the file and every flag (no torch here)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ResumeRequest:
    """One `netc train --resume RUN_DIR`: the run folder and the flags a resume takes again."""

    run_dir: str
    file: str | None = None  # the .net file, when it moved (else the run's own)
    data: str | None = None  # another copy of the same data (else the run's own)
    device: str = "auto"
    compile: bool | None = None  # None: as the run started
    max_params: int = 1_000_000_000
    workers: int | None = None  # DataLoader worker processes of the streamed path


@dataclass(frozen=True)
class TrainRequest:
    """One `netc train` invocation: the file and every flag (None keeps the file's value)."""

    file: str
    data: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    runs: int = 1
    seed: int = 0
    variant: str | None = None
    out: str | None = None
    device: str = "auto"
    precision: str = "auto"
    compile: bool = False
    limit: int | None = None
    limit_test: int | None = None
    checkpoint: bool = True
    max_params: int = 1_000_000_000
    sets: tuple[str, ...] = ()  # `--set key=value` flags, applied after the file's train { } section
    workers: int | None = None  # DataLoader worker processes of the streamed path (None: stream.default_workers())
    input_shape: tuple[int, ...] | None = None  # `--input`: the network at another input size
    classes: int | None = None  # `--classes`: the network for another class count
    decisions: list[list[int]] | None = None  # a variant a search drew, by its decisions (see NetRecord)
