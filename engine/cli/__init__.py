"""The ``auspice`` command: one module per subcommand, imported only when it runs.

Every subcommand has ``--help``, ``--json`` for machine-readable output where it prints
results, and the exit statuses of docs/cli.md: 0 success, 1 a failed verdict or invalid
input, 2 a usage error (argparse's own). Every argparse definition and every line a
person reads is in this package; the library modules return values and raise
:class:`~auspice.errors.AuspiceError`.

An incident responder's ``auspice abort --help`` must answer at once, so the top-level
parser knows each subcommand only by name and one line of help (:data:`COMMANDS`); the
module that defines a subcommand's options, and whatever that module needs (numpy,
scipy, the Kubernetes client), is imported only when that subcommand is asked for.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from auspice import __version__
from auspice.errors import AuspiceError

__all__ = ["COMMANDS", "build_parser", "main"]

#: Subcommand -> (module that defines it, one line of help for ``auspice --help``).
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("auspice.cli.demo",
             "a multi-cluster rollout, healthy then regressed, in a simulated world"),
    "validate": ("auspice.cli.validate",
                 "check templates and plans; every problem with file:line and a fix"),
    "analyze": ("auspice.cli.analyze", "judge a canary against its baseline over a window"),
    "backtest": ("auspice.cli.analyze",
                 "replay a past window look by look and show when the verdict fired"),
    "serve": ("auspice.cli.serve",
              "run the HTTP service: Argo Rollouts and Flagger webhooks, APIs"),
    "rollout": ("auspice.cli.rollout", "start, follow and approve wave-by-wave rollouts"),
    "abort": ("auspice.cli.abort",
              "abort a rollout: traffic back to stable everywhere, revert the commit"),
}


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser for ``argv``: the full definition of the subcommand it names (imported
    now), every other subcommand by name and help only."""
    parser = argparse.ArgumentParser(
        prog="auspice", description="Progressive-delivery analysis engine: anytime-valid "
        "canary judgements across many Kubernetes clusters.")
    parser.add_argument("--version", action="version", version=f"auspice {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    wanted = _named_command(argv if argv is not None else sys.argv[1:])
    for name, (module, summary) in COMMANDS.items():
        if name == wanted:
            importlib.import_module(module).add_parser(commands, name)
        else:
            commands.add_parser(name, help=summary, add_help=False)
    return parser


def _named_command(argv: Sequence[str]) -> str | None:
    """The first argument that names a subcommand (options before it are the top
    level's: ``--version``, ``--help``)."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser(argv).parse_args(argv)
    try:
        return args.handler(args)
    except AuspiceError as error:
        print(f"auspice {args.command}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
