"""``auspice serve --config FILE``: the HTTP service (:mod:`auspice.webhooks.serve`)."""

from __future__ import annotations

import argparse

__all__ = ["add_parser"]


def add_parser(commands: argparse._SubParsersAction, name: str) -> None:
    parser = commands.add_parser(
        name, help="run the HTTP service: Argo Rollouts and Flagger webhooks, APIs",
        description="Serve the judgement webhook for Argo Rollouts' web provider, Flagger's "
        "webhooks, the Kayenta-compatible API, /healthz, /readyz, /metrics and the OpenAPI "
        "document, as configured in FILE (see docs/webhooks.md). Logs are JSON lines on "
        "stderr. SIGTERM stops it gracefully, letting running looks finish.")
    parser.add_argument("--config", required=True, metavar="FILE",
                        help="the serve configuration (YAML)")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from auspice.webhooks.serve import main

    return main(args.config)
