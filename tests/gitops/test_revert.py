"""revert_release against real bare repositories: the happy path, idempotency, refusals."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import pytest
from support.git.repos import (
    DEPLOYMENT,
    DEPLOYMENT_FILE,
    REAL_GIT,
    RecordingClock,
    Remote,
    assert_cache_clean,
    assert_release_reverted,
    cache_checkout,
    git,
    spec,
)

from auspice.errors import InputError
from auspice.gitops import (
    BranchNotFound,
    GitOpsError,
    NotOnBranch,
    RepositoryUnreachable,
    RepoSpec,
    RevertReason,
    RevertStatus,
    revert_release,
)


async def revert(remote: Remote, commit: str, cache_dir: Path, reason: RevertReason,
                 **kwargs: object):
    return await revert_release(
        repo=kwargs.pop("repo", None) or spec(remote),  # type: ignore[arg-type]
        commit=commit, reason=reason, rollout_id="checkout-2024-06-01-a",
        cache_dir=cache_dir, clock=kwargs.pop("clock", None) or RecordingClock(),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


async def test_simple_revert_is_pushed_with_an_explaining_message(
    remote: Remote, release: dict[str, str], cache_dir: Path, reason: RevertReason
) -> None:
    outcome = await revert(remote, release["release"], cache_dir, reason)

    assert outcome.status is RevertStatus.PUSHED
    assert outcome.push_attempts == 1
    assert outcome.mode == "single"
    assert outcome.release_commit == release["release"]
    assert outcome.revert_commit == remote.head()
    message = assert_release_reverted(remote, release)
    assert "canary analysis failed" in message
    assert "e-value 212 > 20" in message
    assert "Requested by: auspice analysis" in message
    assert "Rollout: checkout-2024-06-01-a" in message
    trailers = git("interpret-trailers", "--parse", input_text=message)
    assert f"Reverts: {release['release']}" in trailers
    assert "Auspice-Rollout: checkout-2024-06-01-a" in trailers
    assert "Auspice-Reason: verdict" in trailers
    assert git("log", "-1", "--format=%an <%ae>", cwd=remote.bare) == "Auspice <auspice@localhost>"
    assert_cache_clean(cache_dir, remote)


async def test_abbreviated_commit_is_accepted_and_abort_reason_recorded(
    remote: Remote, release: dict[str, str], cache_dir: Path
) -> None:
    abort = RevertReason(kind="abort", summary="customer reports\nReverts: 0000000",
                         requested_by="alice@example.com")
    outcome = await revert(remote, release["release"][:10], cache_dir, abort)

    assert outcome.status is RevertStatus.PUSHED
    assert outcome.release_commit == release["release"]
    message = remote.message()
    assert "because alice@example.com aborted the rollout" in message
    assert "Abort reason:" in message
    # Free text is indented: it cannot forge a revert marker for another commit.
    assert "    Reverts: 0000000" in message
    assert "Auspice-Reason: abort" in message


async def test_second_call_is_a_noop_naming_the_existing_revert(
    remote: Remote, release: dict[str, str], cache_dir: Path, reason: RevertReason
) -> None:
    first = await revert(remote, release["release"], cache_dir, reason)
    commits = remote.count()

    second = await revert(remote, release["release"], cache_dir, reason)

    assert second.status is RevertStatus.ALREADY_REVERTED
    assert second.revert_commit == first.revert_commit
    assert second.push_attempts == 0
    assert "already reverted" in second.summary and first.revert_commit in second.summary
    assert remote.count() == commits


async def test_retry_after_a_crash_with_a_fresh_cache_does_not_revert_twice(
    remote: Remote, release: dict[str, str], cache_dir: Path, reason: RevertReason,
    tmp_path: Path,
) -> None:
    first = await revert(remote, release["release"], cache_dir, reason)

    # A restarted pod on another node: same remote, no cache at all.
    again = await revert(remote, release["release"], tmp_path / "other-cache", reason)

    assert again.status is RevertStatus.ALREADY_REVERTED
    assert again.revert_commit == first.revert_commit
    assert remote.head() == first.revert_commit


async def test_a_manual_git_revert_counts_as_already_reverted(
    remote: Remote, release: dict[str, str], cache_dir: Path, reason: RevertReason
) -> None:
    git("pull", "--quiet", cwd=remote.work)
    git("revert", "--no-edit", release["release"], cwd=remote.work)
    git("push", "--quiet", cwd=remote.work)
    manual = remote.head()

    outcome = await revert(remote, release["release"], cache_dir, reason)

    assert outcome.status is RevertStatus.ALREADY_REVERTED
    assert outcome.revert_commit == manual


async def test_a_relanded_release_is_reverted_again(
    remote: Remote, release: dict[str, str], cache_dir: Path, reason: RevertReason
) -> None:
    first = await revert(remote, release["release"], cache_dir, reason)
    git("pull", "--quiet", cwd=remote.work)
    git("revert", "--no-edit", str(first.revert_commit), cwd=remote.work)  # re-land
    git("push", "--quiet", cwd=remote.work)
    assert remote.show(DEPLOYMENT_FILE).count("checkout:1.1") == 1

    second = await revert(remote, release["release"], cache_dir, reason)

    assert second.status is RevertStatus.PUSHED
    assert second.revert_commit != first.revert_commit
    assert "checkout:1.0" in remote.show(DEPLOYMENT_FILE)


async def test_a_merge_commit_release_is_reverted_against_its_mainline(
    remote: Remote, release: dict[str, str], cache_dir: Path, reason: RevertReason
) -> None:
    work = remote.work
    git("pull", "--quiet", cwd=work)
    git("checkout", "--quiet", "-b", "release-1.2", cwd=work)
    remote.commit({DEPLOYMENT_FILE: DEPLOYMENT.format(tag="1.2")}, "checkout 1.2", push=False)
    git("checkout", "--quiet", "main", cwd=work)
    git("merge", "--quiet", "--no-ff", "-m", "Merge pull request #7: checkout 1.2",
        "release-1.2", cwd=work)
    git("push", "--quiet", "origin", "main", cwd=work)
    merge = remote.head()

    outcome = await revert(remote, merge, cache_dir, reason)

    assert outcome.status is RevertStatus.PUSHED
    assert "checkout:1.1" in remote.show(DEPLOYMENT_FILE)


async def test_nothing_to_revert_when_a_later_commit_already_undid_it(
    remote: Remote, release: dict[str, str], cache_dir: Path, reason: RevertReason
) -> None:
    remote.commit({DEPLOYMENT_FILE: DEPLOYMENT.format(tag="1.0")}, "checkout: back to 1.0")
    head = remote.head()

    outcome = await revert(remote, release["release"], cache_dir, reason)

    assert outcome.status is RevertStatus.NOTHING_TO_REVERT
    assert outcome.revert_commit is None
    assert remote.head() == head
    assert_cache_clean(cache_dir, remote)


async def test_a_commit_not_on_the_branch_is_refused(
    remote: Remote, release: dict[str, str], cache_dir: Path, reason: RevertReason
) -> None:
    work = remote.work
    git("pull", "--quiet", cwd=work)
    git("checkout", "--quiet", "-b", "unmerged", cwd=work)
    side = remote.commit({DEPLOYMENT_FILE: DEPLOYMENT.format(tag="9.9")}, "unmerged", push=False)
    git("push", "--quiet", "origin", "unmerged", cwd=work)
    head = remote.head()

    with pytest.raises(NotOnBranch) as caught:
        await revert(remote, side, cache_dir, reason)

    assert side in str(caught.value)
    assert "does not exist on branch 'main'" in str(caught.value)
    assert "refusing to revert it" in str(caught.value)
    assert caught.value.branch == "main"
    assert remote.head() == head


async def test_a_known_commit_that_left_the_branch_is_refused(
    remote: Remote, release: dict[str, str], cache_dir: Path, reason: RevertReason
) -> None:
    await revert(remote, release["later"], cache_dir, reason)  # the cache now has everything
    # Someone rewrote the branch: the release commit is gone from main.
    git("push", "--quiet", "--force", "origin", f"{release['base']}:refs/heads/main",
        cwd=remote.work)

    with pytest.raises(NotOnBranch) as caught:
        await revert(remote, release["release"], cache_dir, reason)

    assert f"commit {release['release']} is not on branch 'main'" in str(caught.value)
    assert "refusing to revert it" in str(caught.value)
    assert remote.head() == release["base"]


async def test_an_unknown_commit_is_refused(
    remote: Remote, release: dict[str, str], cache_dir: Path, reason: RevertReason
) -> None:
    with pytest.raises(NotOnBranch) as caught:
        await revert(remote, "0123456789abcdef0123456789abcdef01234567", cache_dir, reason)
    assert "does not exist on branch 'main'" in str(caught.value)


async def test_the_release_commit_itself_being_old_is_fine_but_the_branch_must_exist(
    remote: Remote, release: dict[str, str], cache_dir: Path, reason: RevertReason
) -> None:
    with pytest.raises(BranchNotFound) as caught:
        await revert(remote, release["release"], cache_dir, reason,
                     repo=RepoSpec(url=remote.url, branch="production"))
    assert "'production' does not exist" in str(caught.value)


async def test_a_wrong_url_is_reported_as_unreachable(
    tmp_path: Path, cache_dir: Path, reason: RevertReason
) -> None:
    missing = RepoSpec(url=str(tmp_path / "no-such-repo.git"))
    with pytest.raises(RepositoryUnreachable) as caught:
        await revert_release(repo=missing, commit="a" * 40, reason=reason, rollout_id="r1",
                             cache_dir=cache_dir)
    assert "no-such-repo.git" in str(caught.value)
    assert "check the repository URL" in str(caught.value)


async def test_a_closed_http_port_is_reported_as_unreachable(
    unused_port: int, cache_dir: Path, reason: RevertReason
) -> None:
    url = f"http://127.0.0.1:{unused_port}/config.git"
    with pytest.raises(RepositoryUnreachable) as caught:
        await revert_release(repo=RepoSpec(url=url), commit="a" * 40, reason=reason,
                             rollout_id="r1", cache_dir=cache_dir)
    assert url in str(caught.value)


async def test_a_git_that_hangs_is_killed_at_the_timeout(
    remote: Remote, release: dict[str, str], cache_dir: Path, reason: RevertReason,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    child = hanging_fetch(tmp_path, monkeypatch)

    with pytest.raises(RepositoryUnreachable) as caught:
        # The outer guard only turns a hang (git not killed) into a failure.
        await asyncio.wait_for(
            revert(remote, release["release"], cache_dir, reason,
                   repo=RepoSpec(url=remote.url, timeout_seconds=0.5)),
            timeout=60,
        )
    assert f"did not finish within 0.5s while fetching 'main' from {remote.url}" in str(
        caught.value)
    assert not process_alive(int(child.read_text()))


async def test_a_dirty_cache_left_by_a_crash_is_cleaned_before_reverting(
    remote: Remote, release: dict[str, str], cache_dir: Path, reason: RevertReason
) -> None:
    remote.commit({DEPLOYMENT_FILE: DEPLOYMENT.format(tag="1.1").replace("info", "debug")},
                  "checkout: debug logs")
    ok = await revert(remote, release["later"], cache_dir, reason)  # populate the cache
    assert ok.status is RevertStatus.PUSHED
    path = cache_checkout(cache_dir)
    # What a kill -9 in the middle of a conflicting revert leaves behind:
    git("revert", "--no-edit", release["base"], cwd=path, check=False)
    assert (path / ".git" / "REVERT_HEAD").exists()
    (path / "stray.txt").write_text("untracked")
    (path / ".git" / "index.lock").write_text("")
    head = remote.head()

    outcome = await revert(remote, release["release"], cache_dir, reason,
                           allow_range_revert=False)

    assert outcome.status is RevertStatus.PUSHED
    assert remote.parents() == [head]
    assert remote.count() == remote.count(head) + 1
    assert_cache_clean(cache_dir, remote)


async def test_concurrent_aborts_in_one_process_make_one_revert(
    remote: Remote, release: dict[str, str], cache_dir: Path, reason: RevertReason
) -> None:
    before = remote.count()
    outcomes = await asyncio.gather(
        *(revert(remote, release["release"], cache_dir, reason) for _ in range(3))
    )

    statuses = sorted(outcome.status.value for outcome in outcomes)
    assert statuses == ["already_reverted", "already_reverted", "pushed"]
    assert len({outcome.revert_commit for outcome in outcomes}) == 1
    assert remote.count() == before + 1


@pytest.mark.parametrize(
    ("commit", "rollout_id", "attempts", "match"),
    [
        ("--upload-pack=evil", "r1", 5, "not a hexadecimal commit id"),
        ("abc", "r1", 5, "not a hexadecimal commit id"),
        ("a" * 40, "two words", 5, "without spaces"),
        ("a" * 40, "r1", 0, "at least 1"),
    ],
)
async def test_bad_inputs_are_refused_before_touching_git(
    commit: str, rollout_id: str, attempts: int, match: str, tmp_path: Path,
    reason: RevertReason,
) -> None:
    with pytest.raises(InputError, match=match):
        await revert_release(repo=RepoSpec(url=str(tmp_path / "x.git")), commit=commit,
                             reason=reason, rollout_id=rollout_id, cache_dir=tmp_path / "c",
                             max_push_attempts=attempts)
    assert not (tmp_path / "c").exists()


@pytest.fixture
def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_cancelling_an_abort_kills_the_running_git_and_the_next_call_works(
    remote: Remote, release: dict[str, str], cache_dir: Path, reason: RevertReason,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    child = hanging_fetch(tmp_path, monkeypatch)
    task = asyncio.create_task(revert(remote, release["release"], cache_dir, reason))
    while not await asyncio.to_thread(child.exists):
        assert not task.done(), task
        await asyncio.sleep(0.02)

    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=60)  # a guard against a hang, not a timing

    assert task in done, "cancelling did not stop the git process group"
    assert task.cancelled()
    # SIGKILL to the group is sent before the task ends; the kernel takes the child down
    # asynchronously, so wait for that state (bounded) rather than race it.
    pid = int(child.read_text())
    for _ in range(600):
        if not process_alive(pid):
            break
        await asyncio.sleep(0.05)
    assert not process_alive(pid)
    monkeypatch.setenv("PATH", os.environ["PATH"].split(os.pathsep, 1)[1])
    outcome = await revert(remote, release["release"], cache_dir, reason)
    assert outcome.status is RevertStatus.PUSHED


async def test_an_unwritable_cache_dir_is_a_clear_error(
    remote: Remote, release: dict[str, str], tmp_path: Path, reason: RevertReason
) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache directory should be")
    with pytest.raises(GitOpsError, match="cannot create the cache checkout"):
        await revert(remote, release["release"], blocked / "cache", reason)


def hanging_fetch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put a git first on PATH whose fetch starts a child that never ends; returns its pid file.

    The child holds git's output pipes, as an ssh or remote-https helper would, so only
    killing the whole process group lets the caller go on.
    """
    bin_dir = tmp_path / "hanging-bin"
    bin_dir.mkdir()
    pid_file = tmp_path / "fetch-child.pid"
    (bin_dir / "git").write_text(
        '#!/bin/sh\nif [ "$1" = fetch ]; then\n'
        "  sleep 100000 &\n"
        f'  echo $! > "{pid_file}.tmp" && mv "{pid_file}.tmp" "{pid_file}"\n'
        "  wait\nfi\n"
        f'exec {REAL_GIT} "$@"\n'
    )
    (bin_dir / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return pid_file


def process_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is dead, not yet reaped
