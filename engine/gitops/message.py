"""The revert commit message: readable by a person in ``git log``, parseable by tools.

The subject follows git's own ``Revert "<subject>"`` so the revert looks familiar in
every UI. The body says why (the failed verdict or the abort reason, and who asked),
which rollout, and that traffic was already moved back. It keeps git's standard
``This reverts commit <sha>.`` line and ends with trailers (``Reverts:``,
``Auspice-Rollout:``, ``Auspice-Reason:``) that ``git interpret-trailers`` and
:mod:`auspice.gitops.history` read back. Free text from the reason is indented, so it
can never forge a line that looks like one of those markers.
"""

from __future__ import annotations

from collections.abc import Sequence

from .history import ReleaseCommit
from .specs import RevertReason

__all__ = ["range_revert_message", "revert_message"]

_LISTED_COMMITS = 30
_MAX_TRAILERS = 200


def revert_message(*, release: ReleaseCommit, reason: RevertReason, rollout_id: str,
                   branch: str) -> str:
    """Message of a revert of the release commit alone."""
    lines = [
        f'Revert "{release.subject}"',
        "",
        f"Auspice reverted {release.sha} on {branch} {_because(reason)}.",
        *_reason_block(reason, rollout_id),
        "",
        f"This reverts commit {release.sha}.",
        "",
        *_trailers([release.sha], reason=reason, rollout_id=rollout_id),
    ]
    return "\n".join(lines) + "\n"


def range_revert_message(*, release: ReleaseCommit, reason: RevertReason, rollout_id: str,
                         branch: str, commits: Sequence[tuple[str, str]], base: str) -> str:
    """Message of one commit restoring the branch to its state before the release."""
    listed = [f"    {sha[:12]} {subject}" for sha, subject in commits[:_LISTED_COMMITS]]
    if len(commits) > _LISTED_COMMITS:
        listed.append(f"    ... and {len(commits) - _LISTED_COMMITS} more")
    lines = [
        f'Revert "{release.subject}" and the {len(commits) - 1} commit(s) after it',
        "",
        f"Auspice restored {branch} to its content before {release.sha} {_because(reason)}.",
        "Reverting the release commit alone conflicted with later changes, and the rollout",
        "plan allows reverting the whole range instead. This undoes, as one commit:",
        "",
        *listed,
        *_reason_block(reason, rollout_id),
        "",
        f"This reverts commit {release.sha}.",
        "",
        *_trailers([sha for sha, _ in commits], reason=reason, rollout_id=rollout_id),
        f"Auspice-Restored-To: {base}",
    ]
    return "\n".join(lines) + "\n"


def _because(reason: RevertReason) -> str:
    if reason.kind == "verdict":
        return "because the canary analysis failed"
    return f"because {reason.requested_by} aborted the rollout"


def _reason_block(reason: RevertReason, rollout_id: str) -> list[str]:
    summary = [f"    {line}".rstrip() for line in reason.summary.strip().splitlines()]
    return [
        "",
        "Verdict:" if reason.kind == "verdict" else "Abort reason:",
        *summary,
        "",
        f"Requested by: {reason.requested_by}",
        f"Rollout: {rollout_id}",
        "Traffic was already moved back to the stable version; this commit makes the",
        "rollback durable so the GitOps controller removes the release.",
    ]


def _trailers(reverted: Sequence[str], *, reason: RevertReason, rollout_id: str) -> list[str]:
    return [
        *(f"Reverts: {sha}" for sha in reverted[-_MAX_TRAILERS:]),
        f"Auspice-Rollout: {rollout_id}",
        f"Auspice-Reason: {reason.kind}",
    ]
