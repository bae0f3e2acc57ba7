"""The commands a responder types at 3 a.m. start without the heavy libraries.

``auspice abort --help`` and ``auspice --help`` must not import scipy, numpy or the
Kubernetes client (their import alone takes seconds on a loaded machine), and
``auspice validate`` must not need scipy or the Kubernetes client. Checked with
``python -X importtime``, which lists every module a process imported.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported(*argv: str) -> set[str]:
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "auspice", *argv],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    names = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    assert names, done.stderr[-2000:]
    return names


@pytest.mark.parametrize("argv", [("abort", "--help"), ("--help",), ("rollout", "--help")])
def test_help_imports_no_heavy_library(argv: tuple[str, ...]) -> None:
    assert not imported(*argv) & {"scipy", "numpy", "kubernetes", "pydantic"}


def test_validate_imports_neither_scipy_nor_kubernetes() -> None:
    names = imported("validate", str(ROOT / "analyses"))
    assert "auspice" in names
    assert not names & {"scipy", "kubernetes"}
