"""``auspice rollout start|status|approve`` and ``auspice abort``: the rollouts API by hand.

The commands are thin clients of a running ``auspice serve`` (``--server``, default
``$AUSPICE_SERVER`` or ``http://127.0.0.1:8080``; the bearer token from
``$AUSPICE_TOKEN``): the service owns the rollouts, their state file and the cluster
credentials, so an incident responder needs only a URL and a token to abort. Each
command prints a short human summary, or the API's JSON with ``--json``. Exit status:
0 done, 1 refused or failed (the message says why), 2 usage.

``auspice abort ROLLOUT --reason TEXT`` waits for the rollback and the revert and prints
one line per cluster, naming the clusters that could not be reached (the service keeps
retrying them). Aborting a rollout that was already promoted exits 1: the service
records the refusal and rolls nothing back.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from auspice.errors import AuspiceError, InputError

__all__ = ["AbortIncomplete", "AbortRefused", "ApiCallError", "RolloutClient",
           "add_rollout_commands"]

DEFAULT_SERVER = "http://127.0.0.1:8080"


class ApiCallError(AuspiceError):
    """The service refused a call or could not be reached."""


class AbortRefused(AuspiceError):
    """An abort reached a rollout that had already been promoted; nothing was undone."""


class AbortIncomplete(AuspiceError):
    """The abort is recorded, but clusters are still being rolled back or the revert failed."""


#: The final states an abort does not undo (the orchestrator records ``abort_refused``).
PROMOTED = frozenset({"succeeded", "partially_succeeded"})


class RolloutClient:
    """The rollouts API over HTTP, with a timeout on every call."""

    def __init__(self, server: str, *, token: str | None, timeout: float = 300.0) -> None:
        self.server = server.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = f"{self.server}{path}"
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as session, \
                    session.request(method, url, json=body, headers=self.headers) as answer:
                text = await answer.text()
                data = json.loads(text) if text else {}
                if answer.status >= 400:
                    message = data.get("message", text) if isinstance(data, dict) else text
                    hint = data.get("hint") if isinstance(data, dict) else None
                    raise ApiCallError(f"{method} {url}: {answer.status} {message}", hint=hint)
                return data
        except (aiohttp.ClientError, TimeoutError) as error:
            raise ApiCallError(f"{method} {url}: {type(error).__name__}: {error}",
                               hint="check --server and that auspice serve is running") from None


def _client(args: argparse.Namespace) -> RolloutClient:
    return RolloutClient(args.server, token=os.environ.get("AUSPICE_TOKEN"))


def _run(work: Callable[[RolloutClient], Any], args: argparse.Namespace,
         show: Callable[[Any, TextIO], None], out: TextIO | None = None) -> Any:
    """Make the call, print its answer (the API's JSON with ``--json``), return it."""
    out = out or sys.stdout
    data = asyncio.run(work(_client(args)))
    if args.json:
        out.write(json.dumps(data, indent=2, default=str) + "\n")
    else:
        show(data, out)
    return data


def _start(args: argparse.Namespace) -> int:
    path = Path(args.plan)
    if not path.is_file():
        raise InputError(f"{path}: no such file", hint="give the path of a RolloutPlan YAML")
    from auspice.plan import load_plan

    load_plan(str(path))  # every problem at file:line before anything is sent
    body = {"planYaml": path.read_text()}
    _run(lambda c: c.call("POST", "/api/v1/rollouts", body), args, _show_rollout)
    return 0


def _status(args: argparse.Namespace) -> int:
    if args.rollout is None:
        _run(lambda c: c.call("GET", "/api/v1/rollouts"), args, _show_list)
    else:
        _run(lambda c: c.call("GET", f"/api/v1/rollouts/{args.rollout}"), args,
             _show_rollout)
    return 0


def _approve(args: argparse.Namespace) -> int:
    _run(lambda c: c.call("POST", f"/api/v1/rollouts/{args.rollout}/approve", {}),
         args, _show_rollout)
    return 0


def _abort(args: argparse.Namespace) -> int:
    """Exit 1 when the service refused to roll back a promoted rollout: the answer is a
    200 (the refusal is recorded), but a responder's script must not read it as done."""
    body = {"reason": args.reason}
    data = _run(lambda c: c.call("POST", f"/api/v1/rollouts/{args.rollout}/abort", body),
                args, _show_abort)
    if data.get("state") in PROMOTED:
        raise AbortRefused(f"rollout {args.rollout} was already promoted ({data['state']}): "
                           "nothing was rolled back and no commit reverted",
                           hint="start a rollout of the previous version, or revert the "
                           "release commit by hand")
    unfinished = _unfinished_abort(data)
    if unfinished:
        raise AbortIncomplete(f"rollout {args.rollout} is aborted but not finished: "
                              + "; ".join(unfinished),
                              hint="the service keeps retrying unreachable clusters; follow "
                              f"with 'auspice rollout status {args.rollout}'")
    return 0


def _unfinished_abort(data: Mapping[str, Any]) -> list[str]:
    """What an abort answer leaves for a person: clusters not yet at 0, a failed revert."""
    left = []
    if data.get("pending_rollback"):
        left.append("not yet rolled back: " + ", ".join(data["pending_rollback"]))
    if (data.get("revert") or {}).get("status") == "failed":
        left.append("the release commit is NOT reverted")
    return left


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


def _show_abort(data: Any, out: TextIO) -> None:
    note = " (it was already over or rolling back)" if data.get("already") else ""
    out.write(f"rollout {data['rollout']}: {data['state']}{note}\n")
    for cluster, result in ((data.get("rollback") or {}).get("clusters") or {}).items():
        reason = f": {result['reason']}" if result.get("reason") else ""
        out.write(f"  {cluster:<24} {result['status']}{reason}\n")
    if data.get("pending_rollback"):
        out.write(f"  UNREACHABLE, still retrying: {', '.join(data['pending_rollback'])}\n")
    revert = data.get("revert") or {}
    if revert:
        out.write(f"  revert: {revert.get('summary') or revert.get('status')}\n")


def add_rollout_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``rollout start|status|approve`` and ``abort`` on the CLI's subparsers."""
    rollout = commands.add_parser(
        "rollout", help="start, follow and approve wave-by-wave rollouts",
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
    abort = commands.add_parser(
        "abort", help="abort a rollout: traffic back to stable everywhere, revert the commit",
        description="Cancel the rollout's running steps, set canary weight 0 in every "
        "cluster it touched, revert the release commit, and print each cluster's outcome "
        "(operator role). Safe to repeat.")
    abort.add_argument("rollout", metavar="ROLLOUT", help="rollout id")
    abort.add_argument("--reason", required=True, help="why (audit log and revert commit)")
    abort.set_defaults(handler=_abort)
    for parser in (start, status, approve, abort):
        parser.add_argument("--server", default=os.environ.get("AUSPICE_SERVER",
                                                               DEFAULT_SERVER),
                            help="auspice serve URL (default $AUSPICE_SERVER or "
                            f"{DEFAULT_SERVER})")
        parser.add_argument("--json", action="store_true", help="print the API's JSON answer")
