"""Reverting the release commit and pushing it: the whole operation, step by step.

    sync cache -> release on branch? -> already reverted? -> revert (or range) -> push
                                              ^                                   |
                                              +---- branch moved: back off, fetch, rebase

Each step is a small function; every failure raises the :mod:`errors` class that says
what a person should do, after putting the cache back to a clean copy of the remote.
The remote only ever changes through one fast-forward push of one new commit.

Idempotency does not depend on any local record: after a crash, the retried abort
fetches, finds the ``Reverts: <sha>`` trailer (or git's "This reverts commit") on the
branch and answers "already reverted" with that commit. The same check runs again
after every lost push race, so two Auspice replicas aborting the same rollout at once
still produce one revert.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from ..clock import Clock, RealClock
from ..errors import ClusterError, InputError
from .cache import CacheCheckout, repository_lock
from .credentials import git_environment
from .errors import TRAFFIC_STANDS, GitCommandFailed, GitOpsError, PushRejected, RevertConflict
from .history import ReleaseCommit, find_revert, range_commits, resolve_release
from .message import range_revert_message, revert_message
from .nudge import ControllerNudge, nudge_controllers
from .process import GitRunner
from .push import backoff_delay, push_head
from .specs import RepoSpec, RevertReason

__all__ = ["RevertOutcome", "RevertStatus", "revert_release"]

log = logging.getLogger("auspice.gitops")

Mode = Literal["single", "range"]
_Made = tuple[Mode, tuple[str, ...]]  # how the revert was made and what it undoes

_SHA = re.compile(r"^[0-9a-fA-F]{7,64}$")
_ROLLOUT_ID = re.compile(r"^[^\s]{1,200}$")


class RevertStatus(StrEnum):
    """How a release's revert ended. :func:`revert_release` answers with one of the first
    three; a caller that did not try (the plan says ``revert: false``) or gave up after
    its attempts records ``skipped`` or ``failed``."""

    PUSHED = "pushed"
    ALREADY_REVERTED = "already_reverted"
    NOTHING_TO_REVERT = "nothing_to_revert"
    SKIPPED = "skipped"
    FAILED = "failed"

    @property
    def done(self) -> bool:
        """The branch no longer carries the release: nothing is left to do."""
        return self in (RevertStatus.PUSHED, RevertStatus.ALREADY_REVERTED,
                        RevertStatus.NOTHING_TO_REVERT)


@dataclass(frozen=True)
class RevertOutcome:
    """What happened. ``revert_commit`` is the new commit, or the earlier one found."""

    status: RevertStatus
    repository: str
    branch: str
    release_commit: str
    revert_commit: str | None
    push_attempts: int
    mode: Mode | None = None
    reverted_commits: tuple[str, ...] = ()
    nudged: tuple[str, ...] = ()
    nudge_error: str | None = None

    @property
    def summary(self) -> str:
        where = f"{self.branch} of {self.repository}"
        if self.status is RevertStatus.PUSHED:
            what = "the range from " if self.mode == "range" else ""
            return (f"reverted {what}{self.release_commit[:12]} on {where} with "
                    f"{self.revert_commit}, pushed after {self.push_attempts} attempt(s)")
        if self.status is RevertStatus.ALREADY_REVERTED:
            return (f"nothing done: {self.release_commit[:12]} is already reverted on "
                    f"{where} by {self.revert_commit}")
        return (f"nothing done: reverting {self.release_commit[:12]} changes nothing at the "
                f"head of {where} (a later commit already undid it)")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status.value, "summary": self.summary}


@dataclass
class _Run:
    """One revert in progress: the inputs every step needs."""

    cache: CacheCheckout
    reason: RevertReason
    rollout_id: str
    allow_range_revert: bool
    release: ReleaseCommit = field(init=False)

    def outcome(self, status: RevertStatus, **fields: Any) -> RevertOutcome:
        return RevertOutcome(
            status=status, repository=self.cache.repo.display_url,
            branch=self.cache.repo.branch, release_commit=self.release.sha, **fields,
        )


async def revert_release(
    *,
    repo: RepoSpec,
    commit: str,
    reason: RevertReason,
    rollout_id: str,
    cache_dir: Path,
    allow_range_revert: bool = False,
    max_push_attempts: int = 5,
    clock: Clock | None = None,
    nudge: ControllerNudge | None = None,
) -> RevertOutcome:
    """Revert ``commit`` on ``repo.branch`` and push it, at most once.

    ``allow_range_revert``: when the release commit alone no longer reverts cleanly,
    restore the branch to its content before the release in one commit (undoing the
    later commits too) instead of raising :class:`RevertConflict`. ``clock`` paces
    the push retries. ``nudge``: annotate Argo CD / Flux objects after a push; a
    failed nudge is reported in the outcome, never raised (the revert did land).

    Raises :class:`NotOnBranch`, :class:`RevertConflict`, :class:`PushRejected`,
    :class:`CredentialError`, :class:`RepositoryUnreachable`, :class:`BranchNotFound`.
    """
    _check_inputs(commit=commit, rollout_id=rollout_id, max_push_attempts=max_push_attempts)
    clock = clock or RealClock()
    log.info("reverting %s on %s of %s for rollout %s (%s by %s)", commit, repo.branch,
             repo.display_url, rollout_id, reason.kind, reason.requested_by)
    with git_environment(repo) as environment:
        runner = GitRunner(env=environment.env, secrets=environment.secrets,
                           timeout=repo.timeout_seconds)
        cache = CacheCheckout(runner=runner, repo=repo, cache_dir=cache_dir)
        run = _Run(cache=cache, reason=reason, rollout_id=rollout_id,
                   allow_range_revert=allow_range_revert)
        async with repository_lock(cache.path):
            try:
                outcome = await _revert_and_push(run, commit=commit, clock=clock,
                                                 max_push_attempts=max_push_attempts)
            except GitOpsError as error:
                await _leave_clean(cache)
                log.warning("revert of %s for rollout %s failed: %s", commit, rollout_id, error)
                raise
    log.info("%s", outcome.summary)
    if nudge is not None and outcome.status is RevertStatus.PUSHED:
        outcome = await _nudge(outcome, nudge=nudge, clock=clock)
    return outcome


async def _revert_and_push(run: _Run, *, commit: str, clock: Clock,
                           max_push_attempts: int) -> RevertOutcome:
    cache = run.cache
    await cache.sync()
    run.release = await resolve_release(cache, commit)
    existing = await find_revert(cache, run.release.sha)
    if existing is not None:
        return run.outcome(RevertStatus.ALREADY_REVERTED, revert_commit=existing, push_attempts=0)
    made = await _make_revert(run)
    if made is None:
        return run.outcome(RevertStatus.NOTHING_TO_REVERT, revert_commit=None, push_attempts=0)
    return await _push_with_retries(run, made, clock=clock, max_push_attempts=max_push_attempts)


async def _push_with_retries(run: _Run, made: _Made, *, clock: Clock,
                             max_push_attempts: int) -> RevertOutcome:
    """Push; when the branch moved, back off, catch up and push again, a bounded number of times."""
    cache, (mode, reverted) = run.cache, made
    for attempt in range(1, max_push_attempts + 1):
        pushed = await push_head(cache)
        if pushed.pushed:
            head = await cache.rev_parse("HEAD")
            return run.outcome(RevertStatus.PUSHED, revert_commit=head, push_attempts=attempt,
                               mode=mode, reverted_commits=reverted)
        if not pushed.branch_moved:
            raise _rejected(cache, pushed.reason, pushed.remote_says, attempts=attempt)
        if attempt == max_push_attempts:
            break
        delay = backoff_delay(attempt)
        log.warning("push of the revert to %s lost a race (%s); retrying in %.2fs",
                    cache.repo.branch, pushed.reason, delay)
        await clock.sleep(delay)
        settled = await _catch_up(run, attempts=attempt)
        if settled is not None:
            return settled
    raise PushRejected(
        f"gave up pushing the revert of {run.release.sha} to {cache.repo.branch!r} of "
        f"{cache.repo.display_url} after {max_push_attempts} attempts: the branch kept "
        f"moving; {TRAFFIC_STANDS}",
        reason="branch kept moving", attempts=max_push_attempts,
        hint="call the revert again (it is idempotent) or raise max_push_attempts",
    )


async def _catch_up(run: _Run, *, attempts: int) -> RevertOutcome | None:
    """Fetch the moved branch; an outcome if nothing is left to push, else rebase onto it."""
    await run.cache.fetch()
    existing = await find_revert(run.cache, run.release.sha)
    if existing is not None:  # another replica (or a person) reverted it meanwhile
        await run.cache.reset_clean()
        return run.outcome(RevertStatus.ALREADY_REVERTED, revert_commit=existing,
                           push_attempts=attempts)
    if not await _rebase(run):
        return run.outcome(RevertStatus.NOTHING_TO_REVERT, revert_commit=None,
                           push_attempts=attempts)
    return None


async def _make_revert(run: _Run) -> _Made | None:
    """Create the revert commit on HEAD; None when it would change nothing."""
    cache, release = run.cache, run.release
    mainline = ["-m", "1"] if release.is_merge else []
    result = await cache.git("revert", "--no-edit", "--no-commit", *mainline, release.sha,
                             check=False)
    if not result.ok:
        files = await _conflicted_files(cache)
        if not files:
            raise GitCommandFailed(f"git revert of {release.sha} failed: {result.stderr.strip()}")
        await cache.reset_clean()
        if run.allow_range_revert:
            return await _make_range_revert(run)
        raise _conflict(run, files)
    message = revert_message(release=release, reason=run.reason, rollout_id=run.rollout_id,
                             branch=cache.repo.branch)
    if not await _commit_staged(cache, message):
        return None
    return "single", (release.sha,)


async def _make_range_revert(run: _Run) -> _Made | None:
    """One commit whose tree is the branch's tree from just before the release commit."""
    cache, release = run.cache, run.release
    base = release.parents[0] if release.parents else await _empty_tree(cache)
    commits = await range_commits(cache, release.parents[0] if release.parents else None)
    await cache.git("read-tree", "--reset", "-u", base, what="restoring the pre-release tree")
    message = range_revert_message(release=release, reason=run.reason, rollout_id=run.rollout_id,
                                   branch=cache.repo.branch, commits=commits, base=base)
    if not await _commit_staged(cache, message):
        return None
    log.warning("reverting %s alone conflicted; reverted the range of %d commit(s) instead",
                release.sha, len(commits))
    return "range", tuple(sha for sha, _ in commits)


async def _commit_staged(cache: CacheCheckout, message: str) -> bool:
    unchanged = await cache.git("diff", "--cached", "--quiet", check=False)
    if unchanged.ok:
        await cache.reset_clean()
        return False
    await cache.git("commit", "--quiet", "-F", "-", stdin=message, what="committing the revert")
    return True


async def _rebase(run: _Run) -> bool:
    """Replay the revert on the new remote head; False if it became empty there."""
    cache = run.cache
    result = await cache.git("rebase", "--quiet", cache.tracking_ref, check=False)
    if not result.ok:
        files = await _conflicted_files(cache)
        await cache.git("rebase", "--abort", check=False)
        raise _conflict(run, files, while_rebasing=True)
    head, remote = await cache.rev_parse("HEAD"), await cache.rev_parse(cache.tracking_ref)
    return head != remote


async def _conflicted_files(cache: CacheCheckout) -> list[str]:
    result = await cache.git("diff", "--name-only", "--diff-filter=U", check=False)
    return sorted({line for line in result.stdout.splitlines() if line})


async def _empty_tree(cache: CacheCheckout) -> str:
    result = await cache.git("hash-object", "-t", "tree", "--stdin", stdin="")
    return result.stdout.strip()


async def _leave_clean(cache: CacheCheckout) -> None:
    if not (cache.path / ".git").is_dir():
        return
    try:
        await cache.reset_clean()
    except GitOpsError as error:  # the next run resets again; keep the original error
        log.warning("could not reset the cache checkout %s: %s", cache.path, error)


def _conflict(run: _Run, files: list[str], *, while_rebasing: bool = False) -> RevertConflict:
    release, repo = run.release, run.cache.repo
    when = "after the branch moved during the push" if while_rebasing else "with later commits"
    listed = ", ".join(files) if files else "(git named no file)"
    return RevertConflict(
        f"reverting {release.sha} ({release.subject!r}) on {repo.branch!r} of "
        f"{repo.display_url} conflicts {when} in: {listed}. Nothing was pushed; "
        f"{TRAFFIC_STANDS}",
        commit=release.sha, files=files,
        hint="revert it by hand and resolve the conflict in those files, or allow the "
        "plan to revert the whole range from the release to the branch head "
        "(allow_range_revert) and abort again",
    )


def _rejected(cache: CacheCheckout, reason: str, remote_says: tuple[str, ...],
              *, attempts: int) -> PushRejected:
    said = f"; the remote said: {' / '.join(remote_says)}" if remote_says else ""
    return PushRejected(
        f"{cache.repo.display_url} refused the push of the revert to {cache.repo.branch!r}: "
        f"{reason}{said}. Nothing was pushed; {TRAFFIC_STANDS}",
        reason=reason, attempts=attempts,
        hint="if the branch is protected, let Auspice's identity push to it or revert "
        "through a pull request by hand",
    )


async def _nudge(outcome: RevertOutcome, *, nudge: ControllerNudge, clock: Clock) -> RevertOutcome:
    try:
        nudged = await nudge_controllers(nudge, clock=clock)
    except ClusterError as error:
        log.warning("%s", error)
        return replace(outcome, nudge_error=str(error))
    return replace(outcome, nudged=tuple(nudged))


def _check_inputs(*, commit: str, rollout_id: str, max_push_attempts: int) -> None:
    if not _SHA.match(commit):
        raise InputError(f"release commit {commit!r} is not a hexadecimal commit id (7-64 digits)")
    if not _ROLLOUT_ID.match(rollout_id):
        raise InputError(f"rollout id {rollout_id!r} must be 1-200 characters without spaces")
    if max_push_attempts < 1:
        raise InputError(f"max_push_attempts must be at least 1, got {max_push_attempts}")
