"""Making a rollback durable: reverting the release commit in the GitOps repository.

Pulling traffic back is the immediate rollback; it lasts only until Argo CD or Flux
next syncs the config repository, which still says "deploy the canary". Reverting the
commit that introduced the release makes the rollback stick and leaves a record of
why. This package does that with the real ``git`` command, safely (never a force
push, never a credential on a command line or in a log, a clean cache after any
failure) and idempotently (a retried abort finds its earlier revert on the branch).

The whole interface is :func:`revert_release`; see docs/gitops.md.
"""

from .errors import (
    BranchNotFound,
    CredentialError,
    GitCommandFailed,
    GitOpsError,
    NotOnBranch,
    PushRejected,
    RepositoryUnreachable,
    RevertConflict,
)
from .nudge import ControllerNudge, nudge_controllers, nudge_patch
from .revert import RevertOutcome, RevertStatus, revert_release
from .specs import HttpsTokenAuth, RepoSpec, RevertReason, SshKeyAuth

__all__ = [
    "BranchNotFound",
    "ControllerNudge",
    "CredentialError",
    "GitCommandFailed",
    "GitOpsError",
    "HttpsTokenAuth",
    "NotOnBranch",
    "PushRejected",
    "RepoSpec",
    "RepositoryUnreachable",
    "RevertConflict",
    "RevertOutcome",
    "RevertReason",
    "RevertStatus",
    "SshKeyAuth",
    "nudge_controllers",
    "nudge_patch",
    "revert_release",
]
