"""When later commits touched the same lines: a clear stop, or the opt-in range revert."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.git.repos import (
    DEPLOYMENT_FILE,
    FLAGS_FILE,
    REAL_GIT,
    RacingGit,
    RecordingClock,
    Remote,
    assert_cache_clean,
    git,
    spec,
)

from auspice.gitops import RevertConflict, RevertReason, RevertStatus, revert_release


async def test_a_conflict_names_the_files_and_pushes_nothing(
    remote: Remote, conflicting: dict[str, str], cache_dir: Path, reason: RevertReason,
) -> None:
    head = remote.head()

    with pytest.raises(RevertConflict) as caught:
        await revert_release(repo=spec(remote), commit=conflicting["release2"], reason=reason,
                             rollout_id="r-7", cache_dir=cache_dir, clock=RecordingClock())

    error = caught.value
    assert error.files == (DEPLOYMENT_FILE, FLAGS_FILE)
    assert error.commit == conflicting["release2"]
    text = str(error)
    assert f"in: {DEPLOYMENT_FILE}, {FLAGS_FILE}" in text
    assert "Nothing was pushed" in text
    assert "traffic rollback still stands" in text
    assert "a person must act" in text
    assert "allow_range_revert" in text
    assert remote.head() == head
    assert_cache_clean(cache_dir, remote)


async def test_the_range_revert_restores_the_pre_release_content_in_one_commit(
    remote: Remote, conflicting: dict[str, str], cache_dir: Path, reason: RevertReason,
) -> None:
    head = remote.head()

    outcome = await revert_release(repo=spec(remote), commit=conflicting["release2"],
                                   reason=reason, rollout_id="r-7", cache_dir=cache_dir,
                                   clock=RecordingClock(), allow_range_revert=True)

    assert outcome.status is RevertStatus.PUSHED
    assert outcome.mode == "range"
    assert outcome.reverted_commits == (conflicting["hotfix"], conflicting["release2"])
    assert remote.parents() == [head]
    before_release = f"{conflicting['release2']}^"
    assert git("rev-parse", "main^{tree}", cwd=remote.bare) == git(
        "rev-parse", f"{before_release}^{{tree}}", cwd=remote.bare
    )
    message = remote.message()
    assert "and the 1 commit(s) after it" in message
    assert "checkout: hotfix 2.0.1, new cart off" in message
    trailers = git("interpret-trailers", "--parse", input_text=message)
    assert f"Reverts: {conflicting['release2']}" in trailers
    assert f"Reverts: {conflicting['hotfix']}" in trailers
    assert f"Auspice-Restored-To: {git('rev-parse', before_release, cwd=remote.bare)}" in trailers
    assert_cache_clean(cache_dir, remote)

    again = await revert_release(repo=spec(remote), commit=conflicting["release2"],
                                 reason=reason, rollout_id="r-7", cache_dir=cache_dir,
                                 allow_range_revert=True)
    assert again.status is RevertStatus.ALREADY_REVERTED
    assert again.revert_commit == outcome.revert_commit


async def test_a_clean_revert_does_not_use_the_range_even_when_allowed(
    remote: Remote, release: dict[str, str], cache_dir: Path, reason: RevertReason,
) -> None:
    outcome = await revert_release(repo=spec(remote), commit=release["release"], reason=reason,
                                   rollout_id="r-7", cache_dir=cache_dir,
                                   allow_range_revert=True)
    assert outcome.mode == "single"
    assert remote.show("apps/cart/values.yaml") == "replicas: 2"


async def test_a_concurrent_push_that_conflicts_stops_without_pushing(
    remote: Remote, release: dict[str, str], cache_dir: Path, reason: RevertReason,
    racing_git: RacingGit,
) -> None:
    other = remote.clone("other")
    racing_git.before_pushes(
        1,
        f'cd "{other}"\n"{REAL_GIT}" pull --quiet --ff-only\n'
        f"sed -i 's/checkout:1.1/checkout:1.1-patched/' {DEPLOYMENT_FILE}\n"
        f'"{REAL_GIT}" commit --quiet -am "checkout: patch 1.1"\n'
        f'"{REAL_GIT}" push --quiet origin HEAD:refs/heads/main\n',
    )

    with pytest.raises(RevertConflict) as caught:
        await revert_release(repo=spec(remote), commit=release["release"], reason=reason,
                             rollout_id="r-7", cache_dir=cache_dir, clock=RecordingClock())

    assert caught.value.files == (DEPLOYMENT_FILE,)
    assert "after the branch moved during the push" in str(caught.value)
    assert remote.message() == "checkout: patch 1.1"
    assert_cache_clean(cache_dir, remote)
