#!/usr/bin/env python3
"""Check that tests/reference_resnet9.py is still a verbatim copy of ../shared/bench/ref_resnet9.py.

The step-for-step recipe test (tests/test_train_recipe.py) runs that copy so it works in a clean
clone; this script (which needs ../shared, so it is not a test) says whether the copy still matches:
each copied name has exactly the original's source text and every import of the copy is one of the
original's. Exit status 0 when it matches, 1 with the names that differ otherwise.

    .venv/bin/python bench/check_reference_copy.py [PATH_TO_ORIGINAL]
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPY = ROOT / "tests" / "reference_resnet9.py"
ORIGINAL = ROOT.parent / "shared" / "bench" / "ref_resnet9.py"


def top_level(path: Path) -> tuple[dict[str, str], set[str]]:
    """Source text of each top-level class, function and assigned name; the import statements."""
    src = path.read_text(encoding="utf-8")
    lines = src.splitlines()
    defs, imports = {}, set()
    for node in ast.parse(src).body:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        text = "\n".join(lines[first - 1 : node.end_lineno])  # whole lines, decorators and all
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defs[node.name] = text
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    defs[t.id] = text
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.add(text)
    return defs, imports


def main() -> int:
    original_path = Path(sys.argv[1]) if len(sys.argv) > 1 else ORIGINAL
    if not original_path.is_file():
        print(f"no original at {original_path}")
        return 1
    spec = importlib.util.spec_from_file_location("reference_resnet9", COPY)
    assert spec and spec.loader
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    original, original_imports = top_level(original_path)
    copy, copy_imports = top_level(COPY)
    problems = [f"{name} is gone from the original" for name in ref.COPIED if name not in original]
    problems += [
        f"{name} differs: copy it again" for name in ref.COPIED if name in original and copy.get(name) != original[name]
    ]
    problems += [f"import not in the original: {i}" for i in sorted(copy_imports - original_imports)]
    extra = set(copy) - {"COPIED"} - set(ref.COPIED)
    problems += [f"{name} is in the copy but not in COPIED" for name in sorted(extra)]
    for p in problems:
        print(p)
    print("the copy is verbatim" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
