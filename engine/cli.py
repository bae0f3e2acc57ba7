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
    """The rollout story by default; the single-canary judge demo of the judges' issue
    stays reachable (``--judges-only``): it shows the e-values look by look, which the
    rollout's view condenses to one number per cluster."""
    if args.judges_only:
        from auspice import demo

        return demo.main(seed=args.seed, json_lines=args.json)
    from auspice import rollout_demo

    return rollout_demo.main(regress=args.regress, seed=args.seed, json_lines=args.json)


def _add_demo(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "demo", help="a multi-cluster rollout, healthy then regressed, in a simulated world",
        description="Run the real orchestrator, judges, state file and Git revert against a "
        "simulated world on a virtual clock: five clusters (staging-eu, prod-eu, "
        "prod-us-east, prod-us-west, prod-asia), three waves, and a temporary Git "
        "repository holding the release commit. A healthy release is promoted everywhere; "
        "a regressed one fails in wave 2 (prod-eu), traffic returns to stable in every "
        "touched cluster and the release commit is reverted. On a terminal a status block "
        "shows waves, weights and the latest evidence as they change. Exit 0 when each "
        "release ended as expected.")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--regress", dest="regress", action="store_const", const=True,
                       default=None, help="run only the regressed release")
    which.add_argument("--healthy", dest="regress", action="store_const", const=False,
                       help="run only the healthy release")
    which.add_argument("--judges-only", action="store_true",
                       help="instead, one canary against its baseline judged look by look "
                       "(the judges' e-values at every look, no clusters or Git)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per audit entry (with --judges-only: per look)")
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


def _add_rollout(commands: argparse._SubParsersAction) -> None:
    from auspice.rollout_command import add_rollout_commands

    add_rollout_commands(commands)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="auspice", description="Progressive-delivery analysis engine: anytime-valid "
        "canary judgements across many Kubernetes clusters.")
    parser.add_argument("--version", action="version", version=f"auspice {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in (_add_demo, _add_validate, _add_analysis_commands, _add_serve,
                _add_rollout):
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
