"""The ``auspice`` command.

One subcommand per job (``demo``, ``validate``, ...). Every subcommand has ``--help``,
``--json`` for machine-readable output where it prints results, and the exit statuses
of DESIGN.md: 0 success, 1 a failed verdict or invalid input, 2 a usage error (argparse's
own). Subcommands live in the modules that do the work; this file only wires them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from auspice import __version__
from auspice.errors import AuspiceError

Handler = Callable[[argparse.Namespace], int]


def _demo(args: argparse.Namespace) -> int:
    from auspice import demo

    return demo.main(seed=args.seed, json_lines=args.json)


def _add_demo(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "demo", help="simulate a healthy and a regressed canary, judged look by look",
        description="Simulate one canary against its baseline twice (a healthy release and "
        "one with an error-rate and latency regression) on a virtual clock, printing the "
        "e-values and the verdict as they evolve. Exit 0 when the healthy release passed "
        "and the regression failed.")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--json", action="store_true", help="one JSON verdict per look")
    parser.set_defaults(handler=_demo)


def _validate(args: argparse.Namespace) -> int:
    from auspice import validate

    return validate.run(args.paths, as_json=args.json)


def _add_validate(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "validate", help="check templates and plans; every problem with file:line and a fix",
        description="Check AnalysisTemplates (files or directories of YAML): unknown fields, "
        "wrong types, impossible settings, undefined placeholders, PromQL syntax. Each "
        "problem is shown as file:line:col with a fix. Exit 1 on any problem.")
    parser.add_argument("paths", nargs="+", metavar="FILE", help="files or directories")
    parser.add_argument("--json", action="store_true", help="machine-readable report")
    parser.set_defaults(handler=_validate)


def _add_analysis_commands(commands: argparse._SubParsersAction) -> None:
    from auspice import analyze_command

    analyze = commands.add_parser(
        "analyze", help="judge a canary against its baseline over a window",
        description="One judgement of a template for a canary and a baseline over a time "
        "window, against a Prometheus/Thanos URL: the verdict where the analysis would have "
        "stopped, with a table of metrics (effect and interval, e-value, counts). Exit 0 only "
        "for PASS.")
    analyze_command.add_arguments(analyze)
    analyze.set_defaults(handler=analyze_command.run_analyze)
    backtest = commands.add_parser(
        "backtest", help="replay a past window look by look and show when the verdict fired",
        description="Replay a template over a past canary window look by look, as the service "
        "would have, and chart how the evidence grew and at which look the verdict fired.")
    analyze_command.add_arguments(backtest)
    backtest.set_defaults(handler=analyze_command.run_backtest)


def _add_serve(commands: argparse._SubParsersAction) -> None:
    from auspice.webhooks.serve import add_serve_command

    add_serve_command(commands)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="auspice", description="Progressive-delivery analysis engine: anytime-valid "
        "canary judgements across many Kubernetes clusters.")
    parser.add_argument("--version", action="version", version=f"auspice {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in (_add_demo, _add_validate, _add_analysis_commands, _add_serve):
        add(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except AuspiceError as error:
        print(f"auspice {args.command}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
