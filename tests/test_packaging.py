"""The wheel ships every subpackage, the grammar and the prelude."""

from __future__ import annotations

import tomllib
from conftest import ROOT


def test_every_subpackage_is_listed_in_pyproject():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    on_disk = {"dsl"} | {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "dsl").rglob("__init__.py")
        if p.parent.name != "dsl"
    }
    assert on_disk <= listed
    assert cfg["package-dir"]["dsl.grammar"] == "grammar" and (ROOT / "grammar/net.lark").is_file()
    assert "*.net" in cfg["package-data"]["dsl.front"] and (ROOT / "dsl/front/prelude.net").is_file()


def test_the_main_job_installs_no_test_tools_or_optional_extras():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {d.split(">")[0].split("=")[0].split("[")[0].strip().lower() for d in project["dependencies"]}
    heavy = {"pytest", "hypothesis", "ruff", "mypy", "ray", "onnx", "onnxruntime", "onnxscript", "transformers"}
    assert not core & heavy, core & heavy
    extras = project["optional-dependencies"]
    assert {"pytest", "hypothesis"} <= {d.split(">")[0].split("=")[0] for d in extras["test"]}


def test_setup_installs_the_extras_only_for_the_tests():
    import subprocess

    script = (ROOT / ".ci/setup").read_text()
    main_branch = script.split('if [ "$what" = test ]; then', 1)[1].split("else", 1)[1].split("fi", 1)[0]
    assert "pip install -q -e . " in main_branch and "[test" not in main_branch
    assert "bash .ci/setup test" in (ROOT / ".ci/run").read_text()
    r = subprocess.run(["bash", str(ROOT / ".ci/setup"), "nonsense"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "usage" in r.stderr
