"""What can go wrong while reverting a release commit, one class per thing a person does next.

A revert runs after traffic has already been pulled back, so every failure here leaves
the service safe but the rollback not yet durable: the GitOps controller may put the
release back on its next sync. The classes are split by the action they call for
(fix a credential, fix a URL, resolve a conflict by hand, ask for a protected branch
exception) so the orchestrator and the CLI can say exactly that. Messages never
contain a credential: they are built from scrubbed git output only.
"""

from __future__ import annotations

from collections.abc import Sequence

from auspice.errors import GitOpsError

__all__ = [
    "BranchNotFound",
    "CredentialError",
    "GitCommandFailed",
    "GitOpsError",
    "NotOnBranch",
    "PushRejected",
    "RepositoryUnreachable",
    "RevertConflict",
]

TRAFFIC_STANDS = (
    "traffic rollback still stands; the release commit is NOT reverted, so the GitOps "
    "controller may re-deploy it: a person must act"
)


class CredentialError(GitOpsError):
    """A credential is missing, unreadable, or was refused by the remote."""


class RepositoryUnreachable(GitOpsError):
    """The remote could not be reached, or does not exist at that URL."""


class BranchNotFound(GitOpsError):
    """The remote has no branch of that name."""


class NotOnBranch(GitOpsError):
    """The release commit is unknown, or not reachable from the branch: refusing to revert."""

    def __init__(self, message: str, *, commit: str, branch: str, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.commit = commit
        self.branch = branch


class RevertConflict(GitOpsError):
    """Later commits changed the same lines; nothing was pushed and the cache is clean."""

    def __init__(
        self, message: str, *, commit: str, files: Sequence[str], hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.commit = commit
        self.files = tuple(files)


class PushRejected(GitOpsError):
    """The remote refused the push (protected branch, hook) or it kept moving too long."""

    def __init__(
        self, message: str, *, reason: str, attempts: int, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason
        self.attempts = attempts


class GitCommandFailed(GitOpsError):
    """A git command failed in a way none of the other classes describes."""
