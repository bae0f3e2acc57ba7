"""Helpers of the analysis tests: the scopes of a scenario and running the CLI.

The scopes are those of support.istio_data's releases: canary ``reviews-v2`` and
baseline ``reviews-v1`` in cluster ``east``; the CLI runs both as the installed console
script (a subprocess) and in-process through ``auspice.cli.main``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auspice import cli
from support.prometheus import IstioPrometheus

CLUSTER = "east"
HOUR = 3600.0


def scope_pairs(
    prom: IstioPrometheus, scenario: str, *, canary: bool, version: str | None = None
) -> dict[str, str]:
    """The --canary/--baseline values of one side of ``scenario``."""
    release = prom.scenarios[scenario]
    own = release.canary_version if canary else release.baseline_version
    return {
        "version": version or own,
        "workload": f"{release.workload}-{own}",
        "namespace": release.namespace,
        "cluster": CLUSTER,
    }


def _joined(pairs: dict[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in pairs.items())


def window_args(
    prom: IstioPrometheus,
    scenario: str,
    *,
    template: str = "istio",
    minutes: float = 60,
    canary_version: str | None = None,
) -> list[str]:
    """Arguments after the subcommand: template, URL, scopes, canary start to +minutes."""
    start = prom.scenarios[scenario].canary_start
    return [
        "--template",
        template,
        "--prometheus",
        prom.url,
        "--canary",
        _joined(scope_pairs(prom, scenario, canary=True, version=canary_version)),
        "--baseline",
        _joined(scope_pairs(prom, scenario, canary=False)),
        "--start",
        f"{start:.0f}",
        "--end",
        f"{start + minutes * 60:.0f}",
    ]


@dataclass
class CliResult:
    status: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def console_script() -> list[str]:
    """The installed ``auspice`` entry point of this interpreter's venv."""
    script = Path(sys.executable).with_name("auspice")
    return [str(script)] if script.exists() else [sys.executable, "-m", "auspice"]


def run_subprocess(
    args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> CliResult:
    done = subprocess.run(
        [*console_script(), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


def run_main(args: list[str], capsys: Any) -> CliResult:
    """``auspice.cli.main(args)`` in this process; argparse's SystemExit becomes the status."""
    capsys.readouterr()
    try:
        status = cli.main(args)
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else 2
    captured = capsys.readouterr()
    return CliResult(status, captured.out, captured.err)
