"""``auspice abort ROLLOUT --reason TEXT``: traffic back to stable everywhere, then the revert.

It waits for the rollback and the revert and prints one line per cluster, naming the
clusters that could not be reached (the service keeps retrying them). Exit 0 when every
touched cluster is back at weight 0 and the revert is done or not wanted; 1 when the
rollout was already promoted (the service records the refusal and rolls nothing back),
when a cluster is not yet rolled back, or when the revert failed.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any, TextIO

from auspice.cli.client import add_server_options, call
from auspice.errors import AuspiceError

__all__ = ["AbortIncomplete", "AbortRefused", "add_parser", "run"]

class AbortRefused(AuspiceError):
    """An abort reached a rollout that had already been promoted; nothing was undone."""


class AbortIncomplete(AuspiceError):
    """The abort is recorded, but clusters are still being rolled back or the revert failed."""


#: The final states an abort does not undo (the orchestrator records ``abort_refused``).
PROMOTED = frozenset({"succeeded", "partially_succeeded"})


def run(args: argparse.Namespace) -> int:
    """Exit 1 when the service refused to roll back a promoted rollout: the answer is a
    200 (the refusal is recorded), but a responder's script must not read it as done."""
    body = {"reason": args.reason}
    data = call(lambda c: c.call("POST", f"/api/v1/rollouts/{args.rollout}/abort", body),
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


def add_parser(commands: argparse._SubParsersAction, name: str) -> None:
    abort = commands.add_parser(
        name, help="abort a rollout: traffic back to stable everywhere, revert the commit",
        description="Cancel the rollout's running steps, set canary weight 0 in every "
        "cluster it touched, revert the release commit, and print each cluster's outcome "
        "(operator role). Safe to repeat.")
    abort.add_argument("rollout", metavar="ROLLOUT", help="rollout id")
    abort.add_argument("--reason", required=True, help="why (audit log and revert commit)")
    abort.set_defaults(handler=run)
    add_server_options(abort)
