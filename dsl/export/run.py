"""`netc export` as a library call: one network (a .net file's, or a trained run's) to the files of
one format, with how its inputs are prepared carried inside them.

Every output path is checked before any work (a FIFO or device is refused, nothing is touched),
a search space needs a variant, and the files of one export (`model.py` with its `model.pt`) are
written together: if one cannot be written, none is left behind (`dsl.fileio.write_together`).
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dsl.core.graph import Graph
from dsl.errors import NetError
from dsl.export.preprocessing import Preprocessing
from dsl.fileio import output_path, write_together

FORMATS = ("py", "onnx", "pt2")
METADATA_KEY = "netc"  # the ONNX metadata key, and the pt2 extra file netc.json


@dataclass(frozen=True)
class ExportRequest:
    """What to export, in which format, to where."""

    source: str  # a .net file or a `netc train` run folder
    fmt: str  # one of FORMATS
    out: str
    variant: str | None = None
    run: int = 0
    seed: int = 0  # the untrained weights of a .net file's onnx / pt2 export
    format_source: bool = True  # py: run ruff's formatter on the source
    max_params: int = 1_000_000_000


@dataclass
class _Network:
    graph: Graph
    model: torch.nn.Module
    trained: bool
    preprocessing: Preprocessing


def export(req: ExportRequest) -> str:
    """Write the export `req` asks for; returns the line saying what was written."""
    if req.fmt not in FORMATS:
        raise NetError(f"unknown export format '{req.fmt}' (known: {', '.join(FORMATS)})")
    is_run = os.path.isdir(req.source)
    weights_out = os.path.splitext(req.out)[0] + ".pt"
    output_path(req.out)  # before any work: a FIFO, a device or a folder is refused here
    if req.fmt == "py" and is_run:
        if os.path.abspath(weights_out) == os.path.abspath(req.out):
            raise NetError(f"-o {req.out}: the source and its weights would be the same file; name it .py")
        output_path(weights_out)
    net = _network(req, is_run)
    pre = net.preprocessing
    if req.fmt == "py":
        from dsl.export import to_python
        from dsl.export.formats import ruff_format

        origin = f"run {req.run} of {req.source}" if net.trained else req.source
        text = to_python(net.graph, net.model, origin=origin, weights=os.path.basename(weights_out), preprocessing=pre)
        files: list[tuple[str, bytes]] = [(req.out, (ruff_format(text) if req.format_source else text).encode())]
        if net.trained:
            buf = io.BytesIO()
            torch.save({k: v.detach().cpu().contiguous() for k, v in net.model.state_dict().items()}, buf)
            files.append((weights_out, buf.getvalue()))
        write_together(files)
        if net.trained:
            return f"wrote {req.out} and its trained weights {weights_out}"
    else:
        from dsl.export.formats import onnx_bytes, pt2_bytes

        meta = json.dumps(pre.to_json())
        if req.fmt == "onnx":
            data = onnx_bytes(net.model, net.graph.input_shape, {METADATA_KEY: meta})
        else:
            data = pt2_bytes(net.model, net.graph.input_shape, {METADATA_KEY + ".json": meta})
        write_together([(req.out, data)])
    what = (
        "trained weights" if net.trained else f"untrained weights, seed {req.seed}" if req.fmt != "py" else "no weights"
    )
    return f"wrote {req.out} ({req.fmt}: {net.graph.name}, {net.graph.params:,} parameters, {what})"


def _network(req: ExportRequest, is_run: bool) -> _Network:
    """The network to export: a trained run's (weights checked), or a .net file's (seeded)."""
    if is_run:
        if req.variant is not None:
            raise NetError("--variant applies to a .net file; a run folder holds one trained network", file=req.source)
        from dsl.train.trained import load_run

        trained = load_run(req.source, req.run, max_params=req.max_params)
        named = trained.config.data.classes
        classes = list(named) if len(named) == trained.graph.output_shape[0] else None  # only names the data gave
        pre = Preprocessing.of(trained.graph, trained.settings, classes)
        return _Network(trained.graph, trained.model, True, pre)
    from dsl.front.loader import load_job
    from dsl.nn.compile import build

    job = load_job(req.source, variant=req.variant, max_params=req.max_params)
    torch.manual_seed(req.seed)
    return _Network(job.graph, build(job.graph), False, Preprocessing.of(job.graph, job.settings, None))


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The preprocessing record of an exported ONNX or pt2 file (for tests and users with netc)."""
    p = Path(path)
    if p.suffix == ".onnx":
        import onnx

        props = {m.key: m.value for m in onnx.load(str(p), load_external_data=False).metadata_props}
        return dict(json.loads(props[METADATA_KEY]))
    extra = {METADATA_KEY + ".json": ""}
    torch.export.load(str(p), extra_files=extra)
    return dict(json.loads(extra[METADATA_KEY + ".json"]))
