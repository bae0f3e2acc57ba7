"""``auspice validate FILE...``: every problem of every document, each with file:line:col.

Paths may be files or directories (searched recursively for ``*.yaml`` and ``*.yml``);
the checking is :mod:`auspice.specs.validate`. Exit 0 when everything is valid, 1 when
anything is not (a path that does not exist, or a directory without YAML, is itself a
problem: a validation that checked nothing must not look like one that passed).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from auspice.specs.validate import format_problems, validate_report

__all__ = ["add_parser", "run"]


def add_parser(commands: argparse._SubParsersAction, name: str) -> None:
    parser = commands.add_parser(
        name, help="check templates and plans; every problem with file:line and a fix",
        description="Check AnalysisTemplates and RolloutPlans (files or directories of "
        "YAML): unknown fields, wrong types, impossible settings, undefined placeholders, "
        "PromQL syntax. Each problem is shown as file:line:col with a fix. Exit 1 on any "
        "problem.")
    parser.add_argument("paths", nargs="+", metavar="FILE", help="files or directories")
    parser.add_argument("--json", action="store_true", help="machine-readable report")
    parser.set_defaults(handler=lambda args: run(args.paths, as_json=args.json))


def run(paths: Iterable[str | Path], *, as_json: bool = False, out: TextIO | None = None) -> int:
    """What ``auspice validate`` does: print the report, return the exit status (0 or 1)."""
    out = out or sys.stdout
    report = validate_report(paths)
    if as_json:
        out.write(json.dumps(report.as_dict(), indent=2) + "\n")
        return 0 if report.ok else 1
    if report.problems:
        out.write(format_problems(report.problems) + "\n")
    documents = len(report.documents)
    failed = sum(not d.ok for d in report.documents)
    summary = f"{documents} document{'s' if documents != 1 else ''} checked"
    if report.ok:
        out.write(f"{summary}, all valid\n")
    else:
        count = len(report.problems)
        out.write(f"{summary}, {failed} invalid; {count} problem{'s' if count != 1 else ''}\n")
    return 0 if report.ok else 1
