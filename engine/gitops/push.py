"""Pushing one commit without force, and telling "someone else pushed first" from "no".

``git push --porcelain`` gives one status line per ref. Two kinds of rejection mean
the branch moved under us and a fetch-rebase-retry will help: the client saw a newer
remote head (``[rejected] (fetch first)`` / ``(non-fast-forward)``), or the server lost
the race to update the ref (``[remote rejected] (failed to update ref)``, "cannot lock
ref"). Everything else the server says no to (a pre-receive hook, a protected
branch, a missing permission) will say no again, so it is not retried.

The push is never forced: a plain push can only fast-forward, so whatever anyone else
pushed in the meantime survives.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .cache import CacheCheckout
from .process import remote_failure

__all__ = ["PushAttempt", "backoff_delay", "push_head"]

_RACE_SIGNS = (
    "fetch first",
    "non-fast-forward",
    "stale info",
    "failed to update ref",
    "cannot lock ref",
    "incorrect old value",
    "failed to lock",
)


@dataclass(frozen=True)
class PushAttempt:
    pushed: bool
    branch_moved: bool = False
    reason: str = ""
    remote_says: tuple[str, ...] = ()


async def push_head(cache: CacheCheckout) -> PushAttempt:
    """Push HEAD to the branch once; network and credential failures raise."""
    ref = f"refs/heads/{cache.repo.branch}"
    result = await cache.git("push", "--porcelain", "origin", f"HEAD:{ref}", check=False,
                             what=f"pushing to {cache.repo.display_url}")
    remote_says = tuple(
        line.removeprefix("remote:").strip()
        for line in result.stderr.splitlines()
        if line.startswith("remote:") and line.removeprefix("remote:").strip()
    )
    status = _ref_status(result.stdout, ref)
    if result.ok and status is not None and not status.startswith("!"):
        return PushAttempt(pushed=True, remote_says=remote_says)
    if status is None:
        raise remote_failure(result, action="pushing to", url=cache.repo.display_url)
    reason = status.split("\t")[-1].strip()
    moved = any(sign in reason.lower() for sign in _RACE_SIGNS)
    return PushAttempt(pushed=False, branch_moved=moved, reason=reason, remote_says=remote_says)


def backoff_delay(attempt: int, *, first: float = 0.5, cap: float = 8.0,
                  rng: random.Random | None = None) -> float:
    """Seconds to wait before retry ``attempt`` (1-based): doubling, capped, with jitter.

    The jitter (down to half the delay) keeps two Auspice replicas that lost the same
    race from colliding again on the next try.
    """
    base = min(cap, first * 2 ** (attempt - 1))
    return base * (0.5 + 0.5 * (rng or random).random())


def _ref_status(porcelain: str, ref: str) -> str | None:
    for line in porcelain.splitlines():
        if line[:1] in "!= *+-" and f":{ref}\t" in line:
            return line
    return None
