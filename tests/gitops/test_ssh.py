"""revert_release over real SSH: a pinned host key, one deploy key, nothing else trusted.

The other SSH tests stop before a connection is made (missing key, key mode, refused
port). These run the whole revert against Debian's ``sshd`` (see ssh_server.py), so
the ``GIT_SSH_COMMAND`` Auspice builds is exercised by the real ssh client: a revert
lands once, an impostor host is refused before any key is offered to it, and a key
the server does not know fails as a credential problem without naming the key.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.git.repos import Remote, assert_cache_clean, assert_release_reverted
from support.git.sshd import SshServer, generate_key, key_fingerprint, public_key, start_sshd

from auspice.gitops import (
    CredentialError,
    RepoSpec,
    RevertReason,
    RevertStatus,
    SshKeyAuth,
    revert_release,
)


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[SshServer]:
    with start_sshd(tmp_path / "sshd") as server:
        yield server


def ssh_repo(sshd: SshServer, remote: Remote, *, key: Path | None = None,
             known_hosts: Path | None = None) -> RepoSpec:
    return RepoSpec(
        url=sshd.url(remote.bare),
        auth=SshKeyAuth(key_file=key or sshd.client_key,
                        known_hosts_file=known_hosts or sshd.known_hosts),
    )


async def revert(repo: RepoSpec, commit: str, cache_dir: Path, reason: RevertReason):
    return await revert_release(repo=repo, commit=commit, reason=reason,
                                rollout_id="checkout-ssh-1", cache_dir=cache_dir)


def assert_untouched(remote: Remote, release: dict[str, str]) -> None:
    assert remote.head() == release["later"]
    assert remote.count() == 3


async def test_a_revert_over_ssh_is_pushed_once_and_found_again_on_retry(
    sshd: SshServer, remote: Remote, release: dict[str, str], cache_dir: Path,
    reason: RevertReason,
) -> None:
    repo = ssh_repo(sshd, remote)

    outcome = await revert(repo, release["release"], cache_dir, reason)

    assert outcome.status is RevertStatus.PUSHED
    assert outcome.push_attempts == 1
    assert outcome.repository == sshd.url(remote.bare)
    assert remote.head() == outcome.revert_commit
    assert remote.count() == 4
    message = assert_release_reverted(remote, release)
    assert "Rollout: checkout-ssh-1" in message
    assert_cache_clean(cache_dir, remote)
    # It went through sshd, logged in with the configured key (a fetch and a push).
    logins = sshd.accepted_logins()
    assert len(logins) >= 2
    assert set(logins) == {key_fingerprint(sshd.client_key)}
    assert sshd.refused_keys() == []

    again = await revert(repo, release["release"], cache_dir, reason)

    assert again.status is RevertStatus.ALREADY_REVERTED
    assert again.revert_commit == outcome.revert_commit
    assert again.push_attempts == 0
    assert remote.head() == outcome.revert_commit
    assert remote.count() == 4
    assert len(sshd.accepted_logins()) > len(logins)  # the retry did fetch over SSH


@pytest.mark.parametrize("pinned", ["another host key", "no key for this host"])
async def test_a_host_key_that_is_not_the_pinned_one_is_refused_before_logging_in(
    pinned: str, sshd: SshServer, remote: Remote, release: dict[str, str], cache_dir: Path,
    reason: RevertReason, tmp_path: Path,
) -> None:
    known_hosts = tmp_path / "pinned_known_hosts"
    if pinned == "another host key":
        impostor = generate_key(tmp_path / "other_host_key", comment="other-host")
        known_hosts.write_text(sshd.known_hosts_line(impostor))
    else:
        known_hosts.write_text("")
    before = known_hosts.read_text()

    with pytest.raises(CredentialError) as caught:
        await revert(ssh_repo(sshd, remote, known_hosts=known_hosts), release["release"],
                     cache_dir, reason)

    text = str(caught.value)
    assert "Host key verification failed" in text
    assert "knownHostsFile" in (caught.value.hint or "")
    assert sshd.url(remote.bare) in text
    # ssh stopped at the host key: no key was even offered to the unverified server.
    assert sshd.accepted_logins() == []
    assert sshd.refused_keys() == []
    assert known_hosts.read_text() == before  # not "accept-new": nothing was learned
    assert_untouched(remote, release)


async def test_a_client_key_the_server_does_not_know_is_a_credential_error_naming_no_key(
    sshd: SshServer, remote: Remote, release: dict[str, str], cache_dir: Path,
    reason: RevertReason, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="auspice.gitops")
    (tmp_path / "keys").mkdir(mode=0o700)
    stranger = generate_key(tmp_path / "keys" / "stranger_ed25519", comment="stranger")

    with pytest.raises(CredentialError) as caught:
        await revert(ssh_repo(sshd, remote, key=stranger), release["release"], cache_dir,
                     reason)

    text = str(caught.value)
    assert "Permission denied (publickey)" in text
    assert "check the configured key" in text
    assert sshd.accepted_logins() == []
    assert sshd.refused_keys() == [key_fingerprint(stranger)]  # that key and no other
    assert_untouched(remote, release)
    private_lines = stranger.read_text().splitlines()[1:-1]  # the base64 body
    for leaked in (str(stranger), stranger.name, public_key(stranger).split()[1],
                   *private_lines):
        assert leaked not in text
        assert leaked not in caplog.text
