"""Credentials reach git and nothing else: not ``ps``, not logs, not error messages."""

from __future__ import annotations

import base64
import logging
import shlex
import socket
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.git.repos import Remote
from support.git.smart_http import SmartHttpGit

from auspice.gitops import (
    CredentialError,
    HttpsTokenAuth,
    PushRejected,
    RepositoryUnreachable,
    RepoSpec,
    RevertReason,
    RevertStatus,
    SshKeyAuth,
    revert_release,
)
from auspice.gitops.credentials import git_environment
from auspice.gitops.process import GitRunner

TOKEN = "ghp_s3cr3tT0kenValue9f8e7d6c5b4a"
USER = "x-access-token"


@pytest.fixture
async def server(remote: Remote) -> AsyncIterator[SmartHttpGit]:
    http = SmartHttpGit(root=remote.bare.parent, username=USER, token=TOKEN)
    await http.start()
    yield http
    await http.stop()


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "secrets" / "token"
    path.parent.mkdir()
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    return path


def http_repo(server: SmartHttpGit, **auth: object) -> RepoSpec:
    return RepoSpec(url=f"{server.base_url}/remote.git", auth=HttpsTokenAuth(**auth))  # type: ignore[arg-type]


def assert_no_secret(text: str) -> None:
    assert TOKEN not in text
    assert base64.b64encode(f"{USER}:{TOKEN}".encode()).decode() not in text


def absent(path: Path) -> bool:
    return not path.exists()


def files_containing_token(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]


async def test_a_token_file_is_used_without_ever_showing_the_token(
    server: SmartHttpGit, remote: Remote, release: dict[str, str], token_file: Path,
    cache_dir: Path, reason: RevertReason, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="auspice.gitops")

    outcome = await revert_release(repo=http_repo(server, token_file=token_file),
                                   commit=release["release"], reason=reason,
                                   rollout_id="r-1", cache_dir=cache_dir)

    assert outcome.status is RevertStatus.PUSHED
    assert remote.head() == outcome.revert_commit
    assert server.refused >= 1 and server.authorised >= 2  # asked, then fetch and push
    assert server.on_command_lines == []
    assert server.in_environments == []
    assert "git fetch" in caplog.text and "git push" in caplog.text
    assert_no_secret(caplog.text)
    assert_no_secret(repr(outcome.to_dict()))
    assert files_containing_token(cache_dir) == []


async def test_a_token_from_the_environment_never_reaches_a_command_line(
    server: SmartHttpGit, remote: Remote, release: dict[str, str], cache_dir: Path,
    reason: RevertReason, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="auspice.gitops")
    monkeypatch.setenv("CONFIG_REPO_TOKEN", TOKEN)

    outcome = await revert_release(repo=http_repo(server, token_env="CONFIG_REPO_TOKEN"),
                                   commit=release["release"], reason=reason,
                                   rollout_id="r-1", cache_dir=cache_dir)

    assert outcome.status is RevertStatus.PUSHED
    assert server.on_command_lines == []
    assert_no_secret(caplog.text)


async def test_the_users_credential_helpers_neither_override_nor_store_the_token(
    server: SmartHttpGit, release: dict[str, str], token_file: Path, cache_dir: Path,
    reason: RevertReason, isolated_git: Path, tmp_path: Path,
) -> None:
    store = tmp_path / "git-credentials"
    store.write_text(f"http://{USER}:stale-wrong-token@127.0.0.1%3a{server.port}\n")
    with isolated_git.open("a") as config:
        config.write(f"[credential]\n\thelper = store --file {store}\n")

    outcome = await revert_release(repo=http_repo(server, token_file=token_file),
                                   commit=release["release"], reason=reason,
                                   rollout_id="r-1", cache_dir=cache_dir)

    assert outcome.status is RevertStatus.PUSHED
    assert TOKEN not in store.read_text()


async def test_a_wrong_token_is_a_credential_error_that_does_not_repeat_it(
    server: SmartHttpGit, release: dict[str, str], tmp_path: Path, cache_dir: Path,
    reason: RevertReason, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="auspice.gitops")
    wrong = tmp_path / "wrong-token"
    wrong_token = "glpat-WrongTokenButStillSecret42"
    wrong.write_text(wrong_token)

    with pytest.raises(CredentialError) as caught:
        await revert_release(repo=http_repo(server, token_file=wrong),
                             commit=release["release"], reason=reason, rollout_id="r-1",
                             cache_dir=cache_dir)

    text = str(caught.value)
    assert "Authentication failed" in text
    assert "check the configured key or token" in text
    assert server.authorised == 0
    for leaked in (wrong_token, TOKEN):
        assert leaked not in text and leaked not in caplog.text


async def test_a_server_echoing_the_token_is_scrubbed_from_errors_and_logs(
    server: SmartHttpGit, remote: Remote, release: dict[str, str], token_file: Path,
    cache_dir: Path, reason: RevertReason, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="auspice.gitops")
    remote.hook("pre-receive", f'echo "denied for token {TOKEN}" >&2\nexit 1\n')

    with pytest.raises(PushRejected) as caught:
        await revert_release(repo=http_repo(server, token_file=token_file),
                             commit=release["release"], reason=reason, rollout_id="r-1",
                             cache_dir=cache_dir)

    text = str(caught.value)
    assert "denied for token ***" in text
    assert_no_secret(text)
    assert "denied for token ***" in caplog.text
    assert_no_secret(caplog.text)


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        ({"token_file": "missing/token"}, "token file {tmp}/missing/token does not exist"),
        ({"token_env": "NO_SUCH_TOKEN_VARIABLE"},
         "environment variable NO_SUCH_TOKEN_VARIABLE is not set"),
        ({"token_file": "empty"}, "token file {tmp}/empty is empty"),
    ],
)
async def test_a_missing_or_empty_token_is_a_credential_error_before_any_git_runs(
    auth: dict[str, str], expected: str, tmp_path: Path, cache_dir: Path, reason: RevertReason,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NO_SUCH_TOKEN_VARIABLE", raising=False)
    (tmp_path / "empty").write_text("")
    if "token_file" in auth:
        auth = {"token_file": str(tmp_path / auth["token_file"])}
    repo = RepoSpec(url="https://git.example.invalid/config.git", auth=HttpsTokenAuth(**auth))  # type: ignore[arg-type]

    with pytest.raises(CredentialError) as caught:
        await revert_release(repo=repo, commit="a" * 40, reason=reason, rollout_id="r-1",
                             cache_dir=cache_dir)

    assert expected.format(tmp=tmp_path) in str(caught.value)
    assert absent(cache_dir)


async def test_a_missing_ssh_key_file_is_a_credential_error(
    tmp_path: Path, cache_dir: Path, reason: RevertReason
) -> None:
    repo = RepoSpec(url="git@git.example.invalid:platform/config.git",
                    auth=SshKeyAuth(key_file=tmp_path / "id_ed25519"))
    with pytest.raises(CredentialError) as caught:
        await revert_release(repo=repo, commit="a" * 40, reason=reason, rollout_id="r-1",
                             cache_dir=cache_dir)
    assert f"SSH key file {tmp_path / 'id_ed25519'} does not exist" in str(caught.value)
    assert "mount the secret there" in str(caught.value)


async def test_an_ssh_key_readable_by_others_is_refused_with_the_fix(
    tmp_path: Path, cache_dir: Path, reason: RevertReason
) -> None:
    key = tmp_path / "id_ed25519"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    key.chmod(0o644)
    repo = RepoSpec(url="ssh://git@git.example.invalid/platform/config.git",
                    auth=SshKeyAuth(key_file=key))
    with pytest.raises(CredentialError, match=r"mode 0644.*chmod 600"):
        await revert_release(repo=repo, commit="a" * 40, reason=reason, rollout_id="r-1",
                             cache_dir=cache_dir)


def test_the_ssh_command_offers_only_the_configured_key_and_never_prompts(
    tmp_path: Path,
) -> None:
    key = tmp_path / "deploy key"
    key.write_text("key")
    key.chmod(0o600)
    known = tmp_path / "known_hosts"
    known.write_text("")
    repo = RepoSpec(url="git@github.com:org/config.git",
                    auth=SshKeyAuth(key_file=key, known_hosts_file=known))

    with git_environment(repo) as environment:
        argv = shlex.split(environment.env["GIT_SSH_COMMAND"])

    assert argv[:5] == ["ssh", "-F", "/dev/null", "-i", str(key)]  # no ~/.ssh/config
    options = [argv[i + 1] for i, arg in enumerate(argv) if arg == "-o"]
    assert "IdentitiesOnly=yes" in options
    assert "BatchMode=yes" in options
    assert "StrictHostKeyChecking=yes" in options
    assert f"UserKnownHostsFile={known}" in options
    assert "GlobalKnownHostsFile=/dev/null" in options  # the pinned file is the only trust
    assert environment.env["GIT_TERMINAL_PROMPT"] == "0"
    assert environment.secrets == ()


async def test_an_ssh_remote_that_refuses_connections_is_unreachable(
    tmp_path: Path, cache_dir: Path, reason: RevertReason
) -> None:
    key = tmp_path / "id_ed25519"
    key.write_text("not really a key")
    key.chmod(0o600)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    repo = RepoSpec(url=f"ssh://git@127.0.0.1:{port}/config.git", auth=SshKeyAuth(key_file=key))

    with pytest.raises(RepositoryUnreachable) as caught:
        await revert_release(repo=repo, commit="a" * 40, reason=reason, rollout_id="r-1",
                             cache_dir=cache_dir)
    assert "Connection refused" in str(caught.value)


def test_the_askpass_helper_is_private_and_gone_afterwards(token_file: Path) -> None:
    repo = RepoSpec(url="https://git.example.invalid/config.git",
                    auth=HttpsTokenAuth(token_file=token_file))
    with git_environment(repo) as environment:
        askpass = Path(environment.env["GIT_ASKPASS"])
        assert askpass.stat().st_mode & 0o077 == 0
        assert askpass.parent.stat().st_mode & 0o077 == 0
        assert TOKEN not in askpass.read_text()
        assert all(TOKEN not in value for value in environment.env.values())
    assert not askpass.exists()


def test_the_process_scan_would_see_a_leaked_token(tmp_path: Path) -> None:
    # The "never on a command line / in an environment" assertions above rely on this.
    scan = SmartHttpGit(root=tmp_path, username=USER, token=TOKEN)
    leaky = subprocess.Popen(["sh", "-c", 'read line; echo "$line"', "sh", TOKEN],
                             env={"LEAKED": TOKEN}, stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):  # until the exec has replaced the forked copy of pytest
            scan.on_command_lines.clear()
            scan.in_environments.clear()
            scan._scan_processes()
            if scan.on_command_lines and scan.in_environments:
                break
    finally:
        leaky.communicate(b"done\n")
    assert any(f"pid {leaky.pid} cmdline" in hit for hit in scan.on_command_lines)
    assert any(f"pid {leaky.pid} environ" in hit for hit in scan.in_environments)


def test_scrub_removes_tokens_their_basic_auth_form_and_url_passwords() -> None:
    runner = GitRunner(env={}, secrets=(TOKEN, f"{USER}:{TOKEN}"), timeout=1)
    basic = base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()
    text = (f"token {TOKEN}; header Authorization: Basic {basic}; "
            "url https://bob:hunter2@git.example/x.git and ssh://git@host/x")

    scrubbed = runner.scrub(text)

    assert scrubbed == ("token ***; header Authorization: Basic ***; "
                        "url https://***@git.example/x.git and ssh://git@host/x")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"url": "https://bob:ghp_abc@github.com/org/config.git"}, "contains a password"),
        ({"url": "-oProxyCommand=evil"}, "cannot start with '-'"),
        ({"url": "https://github.com/org/c.git", "auth": {"type": "ssh-key", "key_file": "k"}},
         "ssh-key needs an ssh URL"),
        ({"url": "git@github.com:org/c.git", "auth": {"type": "https-token", "token_env": "T"}},
         "https-token needs an https URL"),
        ({"url": "https://github.com/org/c.git",
          "auth": {"type": "https-token", "token_env": "T", "token_file": "f"}},
         "exactly one of token_file or token_env"),
        ({"url": "https://github.com/org/c.git", "branch": "refs/heads/main"},
         "without refs/heads"),
        ({"url": "https://github.com/org/c.git", "branch": "a..b"}, "not a valid git branch"),
        ({"url": "https://github.com/org/c.git", "brnch": "main"}, "Extra inputs"),
    ],
)
def test_repo_spec_refuses_unsafe_or_inconsistent_settings(
    fields: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        RepoSpec.model_validate(fields)


async def test_no_configured_auth_against_a_server_that_wants_it_fails_without_prompting(
    server: SmartHttpGit, release: dict[str, str], cache_dir: Path, reason: RevertReason,
) -> None:
    repo = RepoSpec(url=f"{server.base_url}/remote.git")

    with pytest.raises(CredentialError) as caught:
        await revert_release(repo=repo, commit=release["release"], reason=reason,
                             rollout_id="r-1", cache_dir=cache_dir)

    assert "could not read Username" in str(caught.value)
    assert server.refused >= 1 and server.authorised == 0
