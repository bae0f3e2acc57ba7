"""Pushing against other pushers and refusing servers, with real processes racing."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from support.git.repos import (
    REAL_GIT,
    RacingGit,
    RecordingClock,
    Remote,
    assert_cache_clean,
    git,
    spec,
)

from auspice.gitops import PushRejected, RevertReason, RevertStatus, revert_release


def concurrent_commit(clone: Path, file: str, line: str) -> str:
    """Shell for another clone that commits one line to ``file`` and pushes it."""
    return (
        f'cd "{clone}"\n'
        f'"{REAL_GIT}" pull --quiet --ff-only\n'
        f'echo "{line}" >> "{file}"\n'
        f'"{REAL_GIT}" add "{file}"\n'
        f'"{REAL_GIT}" commit --quiet -m "concurrent: {line}"\n'
        f'"{REAL_GIT}" push --quiet --no-verify origin HEAD:refs/heads/main\n'
    )


async def test_a_push_from_another_clone_between_fetch_and_push_is_rebased_over(
    remote: Remote, release: dict[str, str], cache_dir: Path, reason: RevertReason,
    racing_git: RacingGit, clock: RecordingClock, caplog: pytest.LogCaptureFixture,
) -> None:
    other = remote.clone("other")
    racing_git.before_pushes(1, concurrent_commit(other, "apps/cart/values.yaml", "zone: b"))
    caplog.set_level(logging.WARNING, logger="auspice.gitops")

    outcome = await revert_release(
        repo=spec(remote), commit=release["release"], reason=reason, rollout_id="r-42",
        cache_dir=cache_dir, clock=clock,
    )

    assert racing_git.remaining == 0
    assert outcome.status is RevertStatus.PUSHED
    assert outcome.push_attempts == 2
    assert outcome.revert_commit == remote.head()
    concurrent = remote.parents()[0]
    assert git("log", "-1", "--format=%s", concurrent, cwd=remote.bare) == "concurrent: zone: b"
    assert remote.show("apps/cart/values.yaml") == "replicas: 2\nzone: b"
    assert "checkout:1.0" in remote.show("apps/checkout/deployment.yaml")
    assert len(clock.sleeps) == 1 and 0.25 <= clock.sleeps[0] <= 0.5
    assert "lost a race ([rejected] (fetch first))" in caplog.text
    assert_cache_clean(cache_dir, remote)


async def test_a_server_side_race_during_the_push_is_retried(
    remote: Remote, release: dict[str, str], cache_dir: Path, reason: RevertReason,
    clock: RecordingClock, isolated_git: Path, tmp_path: Path,
) -> None:
    # A pre-push hook runs after git has read the remote's refs and before it sends:
    # the other clone's push lands in between and the server refuses the stale update.
    other = remote.clone("other")
    hooks = tmp_path / "client-hooks"
    hooks.mkdir()
    marker = tmp_path / "raced"
    (hooks / "pre-push").write_text(
        "#!/bin/sh\n"
        f'[ -e "{marker}" ] && exit 0\n'
        f'touch "{marker}"\n'
        + concurrent_commit(other, "README.md", "edited concurrently")
    )
    (hooks / "pre-push").chmod(0o755)
    with isolated_git.open("a") as config:
        config.write(f"[core]\n\thooksPath = {hooks}\n")

    outcome = await revert_release(
        repo=spec(remote), commit=release["release"], reason=reason, rollout_id="r-42",
        cache_dir=cache_dir, clock=clock,
    )

    assert marker.exists()
    assert outcome.status is RevertStatus.PUSHED
    assert outcome.push_attempts == 2
    assert remote.show("README.md") == "config\nedited concurrently"
    assert "checkout:1.0" in remote.show("apps/checkout/deployment.yaml")


async def test_another_replica_reverting_first_makes_this_one_a_noop(
    remote: Remote, release: dict[str, str], cache_dir: Path, reason: RevertReason,
    racing_git: RacingGit, clock: RecordingClock,
) -> None:
    other = remote.clone("other")
    racing_git.before_pushes(
        1,
        f'cd "{other}"\n"{REAL_GIT}" pull --quiet --ff-only\n'
        f'"{REAL_GIT}" revert --no-edit {release["release"]}\n'
        f'"{REAL_GIT}" push --quiet --no-verify origin HEAD:refs/heads/main\n',
    )

    outcome = await revert_release(
        repo=spec(remote), commit=release["release"], reason=reason, rollout_id="r-42",
        cache_dir=cache_dir, clock=clock,
    )

    assert outcome.status is RevertStatus.ALREADY_REVERTED
    assert outcome.revert_commit == remote.head()
    assert "This reverts commit" in remote.message()
    assert remote.parents() == [release["later"]]
    assert_cache_clean(cache_dir, remote)


async def test_a_branch_that_keeps_moving_gives_up_after_the_bounded_attempts(
    remote: Remote, release: dict[str, str], cache_dir: Path, reason: RevertReason,
    racing_git: RacingGit, clock: RecordingClock,
) -> None:
    other = remote.clone("other")
    racing_git.before_pushes(10, concurrent_commit(other, "busy.txt", "tick"))

    with pytest.raises(PushRejected) as caught:
        await revert_release(
            repo=spec(remote), commit=release["release"], reason=reason, rollout_id="r-42",
            cache_dir=cache_dir, clock=clock, max_push_attempts=3,
        )

    assert racing_git.remaining == 7
    assert caught.value.attempts == 3
    assert "after 3 attempts" in str(caught.value)
    assert "traffic rollback still stands" in str(caught.value)
    assert len(clock.sleeps) == 2
    assert 0.25 <= clock.sleeps[0] <= 0.5 and 0.5 <= clock.sleeps[1] <= 1.0
    assert "checkout:1.1" in remote.show("apps/checkout/deployment.yaml")
    assert "Reverts:" not in git("log", "--format=%B", cwd=remote.bare)
    assert_cache_clean(cache_dir, remote)


async def test_a_refusing_pre_receive_hook_is_reported_and_not_retried(
    remote: Remote, release: dict[str, str], cache_dir: Path, reason: RevertReason,
    clock: RecordingClock,
) -> None:
    remote.hook("pre-receive", 'echo "main is protected: open a pull request" >&2\nexit 1\n')
    head = remote.head()

    with pytest.raises(PushRejected) as caught:
        await revert_release(
            repo=spec(remote), commit=release["release"], reason=reason, rollout_id="r-42",
            cache_dir=cache_dir, clock=clock,
        )

    text = str(caught.value)
    assert "refused the push" in text
    assert "pre-receive hook declined" in text
    assert "main is protected: open a pull request" in text
    assert "traffic rollback still stands" in text and "a person must act" in text
    assert caught.value.attempts == 1
    assert clock.sleeps == []
    assert remote.head() == head
    assert_cache_clean(cache_dir, remote)


async def test_a_concurrent_push_that_undoes_the_release_by_hand_leaves_nothing_to_push(
    remote: Remote, release: dict[str, str], cache_dir: Path, reason: RevertReason,
    racing_git: RacingGit, clock: RecordingClock,
) -> None:
    other = remote.clone("other")
    racing_git.before_pushes(
        1,
        f'cd "{other}"\n"{REAL_GIT}" pull --quiet --ff-only\n'
        "sed -i 's/checkout:1.1/checkout:1.0/' apps/checkout/deployment.yaml\n"
        f'"{REAL_GIT}" commit --quiet -am "checkout: back to 1.0 by hand"\n'
        f'"{REAL_GIT}" push --quiet origin HEAD:refs/heads/main\n',
    )

    outcome = await revert_release(
        repo=spec(remote), commit=release["release"], reason=reason, rollout_id="r-42",
        cache_dir=cache_dir, clock=clock,
    )

    assert outcome.status is RevertStatus.NOTHING_TO_REVERT
    assert outcome.push_attempts == 1
    assert remote.message() == "checkout: back to 1.0 by hand"
    assert_cache_clean(cache_dir, remote)
