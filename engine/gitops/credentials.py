"""Handing credentials to git without putting them on a command line or in a log.

* SSH key: ``GIT_SSH_COMMAND`` names the key file (a path, not a secret) with
  ``IdentitiesOnly=yes`` so only that key is offered, and ``BatchMode=yes`` so ssh
  fails instead of prompting.
* HTTPS token: git asks the ``GIT_ASKPASS`` program for the user name and password.
  Auspice writes a tiny script into a private temporary directory (mode 0700) that
  prints the user name, and for the password either ``cat``s the token file or prints
  the environment variable that already holds the token. The token therefore never
  appears in any process's arguments (what ``ps`` shows), and with a token file it is
  not even in an environment. The user's credential helpers are switched off for that
  run (through ``GIT_CONFIG_*`` variables, again not the command line) so the token is
  neither overridden by a stale stored one nor stored anywhere by git.
* No auth configured: git runs as the user would run it (ssh-agent, ``~/.ssh/config``,
  credential helpers), only never interactively.

The token is read here once, to check it exists and to give the runner the exact text
to scrub from any output.
"""

from __future__ import annotations

import os
import shlex
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import CredentialError
from .specs import HttpsTokenAuth, RepoSpec, SshKeyAuth

__all__ = ["GitEnvironment", "git_environment"]

# Variables that would make git act on another repository, prompt, or trace secrets.
_DROPPED = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_TRACE",
    "GIT_TRACE_CURL",
    "GIT_TRACE_PACKET",
    "GIT_TRACE2",
    "GIT_TRACE2_EVENT",
    "GIT_CURL_VERBOSE",
)


@dataclass(frozen=True)
class GitEnvironment:
    env: dict[str, str]
    secrets: tuple[str, ...]


@contextmanager
def git_environment(repo: RepoSpec) -> Iterator[GitEnvironment]:
    """The environment git runs with for ``repo``; temporary files vanish on exit."""
    env = _base_env(repo)
    auth = repo.auth
    if isinstance(auth, SshKeyAuth):
        env["GIT_SSH_COMMAND"] = _ssh_command(auth, timeout=repo.timeout_seconds)
        yield GitEnvironment(env=env, secrets=())
    elif isinstance(auth, HttpsTokenAuth):
        token = _read_token(auth)
        with tempfile.TemporaryDirectory(prefix="auspice-askpass-") as private:
            env["GIT_ASKPASS"] = str(_write_askpass(Path(private), auth))
            _disable_credential_helpers(env)
            yield GitEnvironment(env=env, secrets=(token, f"{auth.username}:{token}"))
    else:
        yield GitEnvironment(env=env, secrets=())


def _base_env(repo: RepoSpec) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _DROPPED}
    env.update(
        LC_ALL="C",
        LANGUAGE="C",
        GIT_TERMINAL_PROMPT="0",
        GIT_AUTHOR_NAME=repo.author_name,
        GIT_AUTHOR_EMAIL=repo.author_email,
        GIT_COMMITTER_NAME=repo.author_name,
        GIT_COMMITTER_EMAIL=repo.author_email,
        # Abort a transfer that stalls below 1 KiB/s for 30 s, under the overall timeout.
        GIT_HTTP_LOW_SPEED_LIMIT="1024",
        GIT_HTTP_LOW_SPEED_TIME="30",
    )
    return env


def _ssh_command(auth: SshKeyAuth, *, timeout: float) -> str:
    key = auth.key_file.expanduser()
    _check_readable(key, what="SSH key file")
    mode = stat.S_IMODE(key.stat().st_mode)
    if mode & 0o077:
        raise CredentialError(
            f"SSH key file {key} has mode {mode:04o}; ssh refuses keys others can read",
            hint=f"run: chmod 600 {key}",
        )
    # -F /dev/null: no ssh_config is read (the user's ~/.ssh/config, found through the
    # passwd entry rather than $HOME, could add identities, hosts or proxies of its own).
    options = [
        "-F", "/dev/null",
        "-i", str(key),
        "-o", "IdentitiesOnly=yes",
        "-o", "BatchMode=yes",
        "-o", f"StrictHostKeyChecking={'accept-new' if auth.accept_new_host_keys else 'yes'}",
        "-o", f"ConnectTimeout={max(1, int(timeout))}",
    ]
    if auth.known_hosts_file is not None:
        known = auth.known_hosts_file.expanduser()
        _check_readable(known, what="known_hosts file")
        # a pinned file is the only trust: not the system-wide known hosts too
        options += ["-o", f"UserKnownHostsFile={known}", "-o", "GlobalKnownHostsFile=/dev/null"]
    # git runs this through the shell, so every piece is quoted.
    return shlex.join(["ssh", *options])


def _read_token(auth: HttpsTokenAuth) -> str:
    if auth.token_file is not None:
        path = auth.token_file.expanduser()
        _check_readable(path, what="token file")
        lines = path.read_text(errors="replace").splitlines()
        token = lines[0].strip() if lines else ""
        where = f"token file {path}"
    else:
        token = os.environ.get(auth.token_env or "", "").strip()
        where = f"environment variable {auth.token_env}"
        if auth.token_env not in os.environ:
            raise CredentialError(
                f"{where} is not set",
                hint="set it in Auspice's environment (for example from a Kubernetes Secret)",
            )
    if not token:
        raise CredentialError(f"{where} is empty", hint="put the access token in it")
    return token


def _check_readable(path: Path, *, what: str) -> None:
    if not path.is_file():
        raise CredentialError(
            f"{what} {path} does not exist or is not a file",
            hint="mount the secret there or fix the path in the plan's repository auth",
        )
    if not os.access(path, os.R_OK):
        raise CredentialError(
            f"{what} {path} is not readable by this process (uid {os.getuid()})",
            hint="fix the file's owner or mode (for Kubernetes: the Secret volume's "
            "defaultMode and the pod's fsGroup)",
        )


def _write_askpass(directory: Path, auth: HttpsTokenAuth) -> Path:
    if auth.token_file is not None:
        password = f"head -n 1 -- {shlex.quote(str(auth.token_file.expanduser()))}"
    else:
        password = f"printf '%s\\n' \"${{{auth.token_env}}}\""
    script = directory / "askpass"
    script.write_text(
        "#!/bin/sh\n"
        "# Written by Auspice for one git run; git calls it with the prompt as $1.\n"
        'case "$1" in\n'
        f"  Username*) printf '%s\\n' {shlex.quote(auth.username)} ;;\n"
        f"  *) {password} ;;\n"
        "esac\n"
    )
    directory.chmod(0o700)
    script.chmod(0o700)
    return script


def _disable_credential_helpers(env: dict[str, str]) -> None:
    # An empty credential.helper value resets the list of helpers from all config files;
    # appended after any GIT_CONFIG_* entries the user already passes in the environment.
    try:
        index = int(env.get("GIT_CONFIG_COUNT", "0"))
    except ValueError:
        index = 0
    env["GIT_CONFIG_COUNT"] = str(index + 1)
    env[f"GIT_CONFIG_KEY_{index}"] = "credential.helper"
    env[f"GIT_CONFIG_VALUE_{index}"] = ""
