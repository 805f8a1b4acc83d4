"""Saving a compiled network for runtimes without netc: ONNX and torch.export programs, and the
formatting of exported Python source. Both programs are inference graphs (eval mode: batch norm
uses its running statistics, dropout is off) with a dynamic batch dimension."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys

import torch

from dsl.errors import ExportError

MAX_BATCH = 1 << 16


def _example(model: torch.nn.Module, input_shape: tuple[int, ...]) -> tuple[torch.Tensor, ...]:
    model.eval()
    return (torch.randn(2, *input_shape),)  # batch 2: a batch of 1 could be specialised away


def pt2_bytes(model: torch.nn.Module, input_shape: tuple[int, ...], extra_files: dict[str, str]) -> bytes:
    """`torch.export` the model (eval mode, any batch size): the bytes `torch.export.save` writes,
    with `extra_files` inside (read back with `torch.export.load(path, extra_files=...)`)."""
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    try:
        program = torch.export.export(model.eval(), _example(model, input_shape), dynamic_shapes=({0: batch},))
    except Exception as err:  # torch's own message says which op could not be traced
        raise ExportError(f"torch.export could not trace the network: {err}") from None
    buf = io.BytesIO()
    torch.export.save(program, buf, extra_files=extra_files)
    return buf.getvalue()


def onnx_bytes(model: torch.nn.Module, input_shape: tuple[int, ...], metadata: dict[str, str]) -> bytes:
    """The model as ONNX bytes (eval mode; input `input`, output `output`, dynamic batch), with
    `metadata` in the model's metadata_props (onnxruntime: `get_modelmeta().custom_metadata_map`)."""
    for module in ("onnx", "onnxscript"):
        try:
            __import__(module)
        except ImportError:
            raise ExportError(
                f"ONNX export needs the '{module}' package, which is not installed",
                hint="pip install 'netc[onnx]' (onnx, onnxscript and onnxruntime)",
            ) from None
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    try:
        program = torch.onnx.export(
            model.eval(),
            _example(model, input_shape),
            dynamo=True,
            input_names=["input"],
            output_names=["output"],
            dynamic_shapes=({0: batch},),
            verbose=False,
        )
        assert program is not None
        proto = program.model_proto
    except Exception as err:
        raise ExportError(f"the ONNX exporter failed: {err}") from None
    for key, value in metadata.items():
        prop = proto.metadata_props.add()
        prop.key, prop.value = key, value
    return bytes(proto.SerializeToString())


def ruff_format(source: str) -> str:
    """`source` formatted by ruff's formatter when ruff is installed, else as it is."""
    ruff = shutil.which("ruff") or shutil.which("ruff", path=os.path.dirname(sys.executable))
    if ruff is None:
        return source
    try:
        done = subprocess.run(
            [ruff, "format", "--line-length", "100", "--stdin-filename", "exported.py", "-"],
            input=source,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return source
    return done.stdout if done.returncode == 0 and done.stdout else source
