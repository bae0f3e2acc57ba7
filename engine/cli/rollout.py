"""``auspice rollout start|status|approve``: the rollouts API by hand.

The commands are thin clients of a running ``auspice serve`` (:mod:`.client`). Each
prints a short human summary, or the API's JSON with ``--json``. Exit status: 0 done, 1
refused or failed (the message says why), 2 usage. ``auspice abort`` is its own command
(:mod:`.abort`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, TextIO

from auspice.cli.client import add_server_options, call
from auspice.errors import InputError

__all__ = ["add_parser"]


def _start(args: argparse.Namespace) -> int:
    path = Path(args.plan)
    if not path.is_file():
        raise InputError(f"{path}: no such file", hint="give the path of a RolloutPlan YAML")
    from auspice.specs.plan import load_plan

    load_plan(str(path))  # every problem at file:line before anything is sent
    body = {"planYaml": path.read_text()}
    call(lambda c: c.call("POST", "/api/v1/rollouts", body), args, _show_rollout)
    return 0


def _status(args: argparse.Namespace) -> int:
    if args.rollout is None:
        call(lambda c: c.call("GET", "/api/v1/rollouts"), args, _show_list)
    else:
        call(lambda c: c.call("GET", f"/api/v1/rollouts/{args.rollout}"), args,
             _show_rollout)
    return 0


def _approve(args: argparse.Namespace) -> int:
    call(lambda c: c.call("POST", f"/api/v1/rollouts/{args.rollout}/approve", {}),
         args, _show_rollout)
    return 0


def _show_rollout(data: Any, out: TextIO) -> None:
    out.write(f"rollout {data['id']} ({data['name']}): {data['state']}, wave "
              f"{data['wave'] + 1}\n")
    for row in data.get("clusters", []):
        verdict = f", last look {row['last_verdict']}" if row.get("last_verdict") else ""
        out.write(f"  {row['cluster']:<24} wave {row['wave'] + 1}  step {row['step'] + 1}  "
                  f"canary {row['weight']:3d}%  {row['status']}{verdict}\n")
    if data.get("outcome"):
        out.write(f"  outcome: {json.dumps(data['outcome'], default=str)}\n")
    if data.get("pending_rollback"):
        out.write(f"  NOT YET ROLLED BACK (retrying): {', '.join(data['pending_rollback'])}\n")


def _show_list(data: Any, out: TextIO) -> None:
    for row in data["rollouts"]:
        out.write(f"{row['id']:<48} {row['state']:<20} wave {row['wave'] + 1}\n")


def add_parser(commands: argparse._SubParsersAction, name: str) -> None:
    """Register ``rollout start|status|approve``."""
    rollout = commands.add_parser(
        name, help="start, follow and approve wave-by-wave rollouts",
        description="Drive rollouts on a running auspice serve (token from $AUSPICE_TOKEN).")
    actions = rollout.add_subparsers(dest="action", metavar="ACTION", required=True)
    start = actions.add_parser("start", help="start a rollout of a RolloutPlan file",
                               description="Validate the plan, send it, print the rollout.")
    start.add_argument("plan", metavar="PLAN", help="RolloutPlan YAML file")
    start.set_defaults(handler=_start)
    status = actions.add_parser("status", help="one rollout's state, or the list",
                                description="Waves, clusters, weights and the last looks.")
    status.add_argument("rollout", metavar="ROLLOUT", nargs="?", help="rollout id")
    status.set_defaults(handler=_status)
    approve = actions.add_parser("approve", help="let the wave that waits for approval start",
                                 description="Approve the next wave (operator role).")
    approve.add_argument("rollout", metavar="ROLLOUT", help="rollout id")
    approve.set_defaults(handler=_approve)
    for parser in (start, status, approve):
        add_server_options(parser)
