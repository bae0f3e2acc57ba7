"""Reading the branch: is the release on it, and has it already been reverted?

Idempotency lives here. A revert is recognised by what it says, not by who wrote it:
Auspice's own ``Reverts: <sha>`` trailer, or the ``This reverts commit <sha>.`` line
that ``git revert`` writes by default (so a person's manual revert counts too). Only
commits after the release commit are searched. A revert that was itself reverted
(the release was deliberately re-landed) does not count, so aborting the re-landed
release reverts it again instead of claiming it is already gone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .cache import CacheCheckout
from .errors import GitCommandFailed, NotOnBranch

__all__ = ["ReleaseCommit", "find_revert", "range_commits", "resolve_release"]

_REVERT_LINE = re.compile(
    r"^(?:This reverts commit|Reverts:)[ \t]*([0-9a-f]{7,64})\b", re.IGNORECASE | re.MULTILINE
)
_MAX_REVERT_CHAIN = 20


@dataclass(frozen=True)
class ReleaseCommit:
    sha: str
    subject: str
    parents: tuple[str, ...]

    @property
    def is_merge(self) -> bool:
        return len(self.parents) > 1


async def resolve_release(cache: CacheCheckout, commit: str) -> ReleaseCommit:
    """The full commit, or :class:`NotOnBranch` if it is unknown or not on the branch."""
    branch, url = cache.repo.branch, cache.repo.display_url
    found = await cache.git("rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}", check=False)
    if not found.ok:
        raise NotOnBranch(
            f"commit {commit} does not exist on branch {branch!r} of {url}; refusing to revert it",
            commit=commit, branch=branch,
            hint="check the release commit recorded for this rollout; "
            "it may belong to another repository or to an unmerged branch",
        )
    sha = found.stdout.strip()
    ancestor = await cache.git("merge-base", "--is-ancestor", sha, cache.tracking_ref, check=False)
    if ancestor.returncode == 1:
        raise NotOnBranch(
            f"commit {sha} is not on branch {branch!r} of {url}; refusing to revert it",
            commit=sha, branch=branch,
            hint="the release was never merged to the deployed branch, or the branch was "
            "rewritten; nothing to revert there, check what the controller deploys",
        )
    if not ancestor.ok:
        raise GitCommandFailed(f"could not tell whether {sha} is on {branch!r}: {ancestor.stderr}")
    shown = await cache.git("show", "-s", "--format=%H%x00%P%x00%s", sha)
    full, parents, subject = shown.stdout.rstrip("\n").split("\x00", 2)
    return ReleaseCommit(sha=full, subject=subject, parents=tuple(parents.split()))


async def find_revert(cache: CacheCheckout, release: str) -> str | None:
    """The commit after ``release`` on the branch that reverts it and still stands, if any."""
    result = await cache.git(
        "log", "--format=%H%x00%B%x1e", "--regexp-ignore-case", "--extended-regexp",
        "--grep=reverts commit|reverts:", f"{release}..{cache.tracking_ref}",
        what="searching the branch for an earlier revert",
    )
    reverts: list[tuple[str, tuple[str, ...]]] = []
    for record in result.stdout.split("\x1e"):
        if "\x00" not in record:
            continue
        sha, message = record.strip("\n").split("\x00", 1)
        targets = tuple(match.lower() for match in _REVERT_LINE.findall(message))
        if targets:
            reverts.append((sha, targets))
    return _standing_revert(release, reverts, depth=0)


def _standing_revert(
    sha: str, reverts: list[tuple[str, tuple[str, ...]]], *, depth: int
) -> str | None:
    if depth > _MAX_REVERT_CHAIN:
        return None
    for revert_sha, targets in reverts:
        if any(sha.startswith(target) for target in targets) and (
            _standing_revert(revert_sha, reverts, depth=depth + 1) is None
        ):
            return revert_sha
    return None


async def range_commits(cache: CacheCheckout, base: str | None) -> list[tuple[str, str]]:
    """``(sha, subject)`` of every commit between ``base`` (excluded) and the branch head."""
    selection = f"{base}..{cache.tracking_ref}" if base else cache.tracking_ref
    result = await cache.git("log", "--format=%H %s", selection)
    pairs = (line.split(" ", 1) for line in result.stdout.splitlines() if line)
    return [(parts[0], parts[1] if len(parts) > 1 else "") for parts in pairs]
