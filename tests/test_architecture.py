"""The layers of docs/architecture.md hold, and the contracts that check them can fail.

``.ci/lint-imports`` runs import-linter over the package as an install lays it out; CI
runs it too. A contract that nothing could break would prove nothing, so the same check
is run on a copy of the tree with one forbidden import added, and must refuse it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    if not LINT_IMPORTS.exists():
        pytest.fail(f"{LINT_IMPORTS} is missing: install the test extra (pip install -e '.[test]')")
    return subprocess.run(["bash", str(root / ".ci" / "lint-imports")], capture_output=True,
                          text=True, timeout=300,
                          env={**os.environ, "LINT_IMPORTS": str(LINT_IMPORTS)})


def copy_of_the_tree(tmp_path: Path) -> Path:
    copy = tmp_path / "repo"
    for part in ("engine", "webhooks", "analyses", ".ci"):
        shutil.copytree(ROOT / part, copy / part,
                        ignore=shutil.ignore_patterns("__pycache__", "bin", "*-venv"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


def test_the_layers_hold() -> None:
    done = lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("engine/stats/count.py", "import aiohttp", "the judges are pure"),
    ("engine/rollouts/wave.py", "import auspice.webhooks.app", "engine never reaches up"),
    ("engine/specs/plan.py", "import kubernetes", "without the Kubernetes client"),
    ("engine/metrics/source.py", "import auspice.rollouts", "lower never imports higher"),
])
def test_a_forbidden_import_breaks_its_contract(tmp_path: Path, module: str, line: str,
                                                contract: str) -> None:
    copy = copy_of_the_tree(tmp_path)
    path = copy / module
    path.write_text(path.read_text() + f"\n{line}  # added by the test\n")
    done = lint(copy)
    assert done.returncode != 0
    broken = done.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, done.stdout
