"""Shared fixtures: the repo root, the nets/ files, and ways to run the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Cache compiled modules and pytest's rewritten tests even where the environment says not to
# (PYTHONDONTWRITEBYTECODE=1): recompiling netc and every test module in each process and each CLI
# subprocess costs seconds per process (__pycache__ is git-ignored).
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

# Under pytest-xdist (-n N) each worker process computes with one thread: N workers on N cores
# without oversubscription (torch reads this when first imported, after this file).
if "PYTEST_XDIST_WORKER" in os.environ:
    os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
NETS = sorted((ROOT / "nets").glob("*.net"))


@pytest.fixture
def root() -> Path:
    return ROOT


class CliResult:
    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err

    def __repr__(self):
        return f"CliResult(code={self.code}, out={self.out!r}, err={self.err!r})"


@pytest.fixture
def netc(capsys):
    """Run `netc ARGS...` in-process through the real entry point (exit code, stdout, stderr)."""
    from dsl.cli import main

    def run(*args) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        cap = capsys.readouterr()
        return CliResult(code, cap.out, cap.err)

    return run


@pytest.fixture
def netc_proc():
    """Run `netc ARGS...` as a separate process, as a user would."""

    def run(*args, cwd=None, env=None, timeout=120) -> CliResult:
        full_env = {**os.environ, **(env or {})}
        p = subprocess.run(
            [sys.executable, "-m", "dsl.cli", *map(str, args)],
            capture_output=True,
            text=True,
            cwd=cwd,
            env=full_env,
            timeout=timeout,
        )
        return CliResult(p.returncode, p.stdout, p.stderr)

    return run


@pytest.fixture
def write(tmp_path):
    """Write a file under tmp_path and return its path."""

    def w(name: str, text: str | bytes) -> Path:
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            p.write_bytes(text)
        else:
            p.write_text(text, encoding="utf-8")
        return p

    return w
