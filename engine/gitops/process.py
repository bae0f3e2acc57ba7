"""Running ``git`` as an asyncio subprocess: argument lists, a timeout, scrubbed output.

Everything git prints passes through :meth:`GitRunner.scrub` before it is logged or put
into an exception, so a token that reaches git's output (an odd server echoing it, a
user's trace setting) is replaced by ``***``. Each command runs in its own process
group, so a timeout or a cancelled abort kills git *and* its ssh / remote-https
helpers instead of leaving them holding a lock in the cache.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import re
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import (
    CredentialError,
    GitCommandFailed,
    GitOpsError,
    RepositoryUnreachable,
)

__all__ = ["GitResult", "GitRunner", "remote_failure"]

log = logging.getLogger("auspice.gitops")

_URL_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/@\s:]*:[^/@\s]*@", re.IGNORECASE)
_MAX_DETAIL = 1500

_CREDENTIAL_SIGNS = (
    "authentication failed",
    "could not read username",
    "could not read password",
    "permission denied (publickey",
    "permission denied, please try again",
    "http basic: access denied",
    "invalid username or password",
    "the requested url returned error: 401",
    "the requested url returned error: 403",
    "no more authentication methods",
    "load key",
)
_UNREACHABLE_SIGNS = (
    "could not resolve host",
    "could not resolve hostname",
    "connection refused",
    "connection timed out",
    "operation timed out",
    "no route to host",
    "network is unreachable",
    "does not appear to be a git repository",
    "repository not found",
    "not found",
    "unable to access",
    "could not read from remote repository",
    "failed to connect",
    "ssl certificate problem",
)


@dataclass(frozen=True)
class GitResult:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class GitRunner:
    """Runs git with one environment and one set of secrets to scrub from its output."""

    def __init__(
        self,
        *,
        env: Mapping[str, str],
        secrets: Sequence[str] = (),
        timeout: float,
        git: str = "git",
    ) -> None:
        self._env = dict(env)
        self._secrets = _secret_forms(secrets)
        self._timeout = timeout
        self._git = git

    def scrub(self, text: str) -> str:
        """``text`` with every secret (and URL passwords) replaced by ``***``."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return _URL_USERINFO.sub(r"\1***@", text)

    async def run(
        self,
        *args: str,
        cwd: Path | None = None,
        stdin: str | None = None,
        check: bool = True,
        what: str | None = None,
    ) -> GitResult:
        """Run ``git *args``; with ``check``, a non-zero exit raises :class:`GitCommandFailed`.

        ``what`` names the operation for messages ("fetching main from URL").
        """
        name = args[0] if args else "git"
        try:
            process = await asyncio.create_subprocess_exec(
                self._git,
                *args,
                cwd=cwd,
                env=self._env,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except FileNotFoundError as error:
            raise GitOpsError(
                f"the git executable {self._git!r} was not found",
                hint="install git >= 2.31 in the Auspice image or put it on PATH",
            ) from error
        try:
            async with asyncio.timeout(self._timeout):
                out, err = await process.communicate(
                    stdin.encode() if stdin is not None else None
                )
        except TimeoutError:
            await _kill(process)
            raise RepositoryUnreachable(
                f"git {name} did not finish within {self._timeout:g}s"
                + (f" while {what}" if what else ""),
                hint="check the network path to the repository or raise timeout_seconds",
            ) from None
        except BaseException:
            await _kill(process)
            raise
        result = GitResult(
            args=tuple(args),
            returncode=process.returncode if process.returncode is not None else -1,
            stdout=self.scrub(out.decode(errors="replace")),
            stderr=self.scrub(err.decode(errors="replace")),
        )
        log.debug(
            "git %s -> %d%s", self.scrub(" ".join(args)), result.returncode,
            f": {result.stderr.strip()[:_MAX_DETAIL]}" if result.stderr.strip() else "",
        )
        if check and not result.ok:
            raise GitCommandFailed(
                f"git {name} failed with exit status {result.returncode}"
                + (f" while {what}" if what else "")
                + f": {detail(result)}",
            )
        return result


def detail(result: GitResult) -> str:
    """The useful part of a failed command's (already scrubbed) output, on one line."""
    lines = [
        line.strip()
        for line in (result.stderr + "\n" + result.stdout).splitlines()
        if line.strip() and not line.lstrip().startswith("hint:")
    ]
    text = " | ".join(lines) or "no output"
    return text[:_MAX_DETAIL]


def remote_failure(result: GitResult, *, action: str, url: str) -> GitOpsError:
    """Turn a failed fetch/push/ls-remote into the error class that says what to do."""
    text = (result.stderr + "\n" + result.stdout).lower()
    message = f"{action} {url} failed: {detail(result)}"
    if "host key verification failed" in text:
        return CredentialError(
            message,
            hint="the server's SSH host key is not one Auspice trusts: put it in the "
            "knownHostsFile the repository's auth names (ssh-keyscan, checked out of band), "
            "or allow acceptNewHostKeys for a first contact",
        )
    if any(sign in text for sign in _CREDENTIAL_SIGNS):
        return CredentialError(
            message,
            hint="check the configured key or token, that it is readable by Auspice, "
            "and that it grants write access to the repository",
        )
    if any(sign in text for sign in _UNREACHABLE_SIGNS):
        return RepositoryUnreachable(
            message, hint="check the repository URL, DNS and the network path from Auspice"
        )
    return GitCommandFailed(message)


def _secret_forms(secrets: Sequence[str]) -> tuple[str, ...]:
    forms: set[str] = set()
    for secret in secrets:
        if len(secret) < 4:
            continue
        forms.add(secret)
        forms.add(base64.b64encode(secret.encode()).decode())
    # Longest first, so a secret containing another is replaced whole.
    return tuple(sorted(forms, key=len, reverse=True))


async def _kill(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        await process.wait()
