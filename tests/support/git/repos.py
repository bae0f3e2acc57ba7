"""Helpers for the GitOps tests: bare remotes, helper clones, racing pushers, checks."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from auspice.gitops import RepoSpec

REAL_GIT = shutil.which("git") or "/usr/bin/git"


def git(*args: str, cwd: Path | None = None, check: bool = True,
        input_text: str | None = None) -> str:
    result = subprocess.run(
        [REAL_GIT, *args], cwd=cwd, capture_output=True, text=True, check=False,
        input=input_text,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr}")
    return result.stdout.strip()


class Remote:
    """A bare repository plus a working clone used to make commits on it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bare = root / "remote.git"
        git("init", "--quiet", "--bare", "--initial-branch=main", str(self.bare))
        self.work = self.clone("work")

    @property
    def url(self) -> str:
        return str(self.bare)

    def clone(self, name: str) -> Path:
        path = self.root / name
        git("clone", "--quiet", str(self.bare), str(path))
        return path

    def commit(self, files: dict[str, str | None], message: str, *, clone: Path | None = None,
               push: bool = True) -> str:
        """Write (or delete, for None) files in a clone, commit, push; return the sha."""
        where = clone or self.work
        git("pull", "--quiet", "--ff-only", cwd=where, check=False)
        for name, content in files.items():
            path = where / name
            if content is None:
                git("rm", "--quiet", name, cwd=where)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            git("add", name, cwd=where)
        git("commit", "--quiet", "-m", message, cwd=where)
        if push:
            git("push", "--quiet", "origin", "HEAD:refs/heads/main", cwd=where)
        return git("rev-parse", "HEAD", cwd=where)

    def head(self, ref: str = "main") -> str:
        return git("rev-parse", ref, cwd=self.bare)

    def show(self, path: str, ref: str = "main") -> str:
        return git("show", f"{ref}:{path}", cwd=self.bare)

    def message(self, ref: str = "main") -> str:
        return git("log", "-1", "--format=%B", ref, cwd=self.bare)

    def parents(self, ref: str = "main") -> list[str]:
        return git("log", "-1", "--format=%P", ref, cwd=self.bare).split()

    def count(self, ref: str = "main") -> int:
        return int(git("rev-list", "--count", ref, cwd=self.bare))

    def hook(self, name: str, script: str) -> None:
        path = self.bare / "hooks" / name
        path.write_text("#!/bin/sh\n" + script)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)


DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: checkout
spec:
  replicas: 4
  template:
    spec:
      containers:
        - name: checkout
          image: registry.example/checkout:{tag}
          env:
            - name: LOG_LEVEL
              value: info
"""


def spec(remote: Remote, **overrides: object) -> RepoSpec:
    return RepoSpec(url=remote.url, branch="main", **overrides)  # type: ignore[arg-type]


class RecordingClock:
    """A clock whose sleep returns at once and remembers what was asked."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self._now = 1_700_000_000.0

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self._now += seconds


class RacingGit:
    """A ``git`` first on PATH that runs a script before some of Auspice's pushes.

    The script runs as a separate process with the real git, in another clone of
    the remote: a genuine concurrent pusher landing between Auspice's fetch and its
    push. ``times`` limits how many pushes it precedes.
    """

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bin = root / "racing-bin"
        self.bin.mkdir()
        self.counter = root / "racing-count"
        self.counter.write_text("0")
        self.inject = root / "racing-inject.sh"
        self.inject.write_text("true\n")
        wrapper = self.bin / "git"
        wrapper.write_text(
            "#!/bin/sh\n"
            'if [ "$1" = "push" ]; then\n'
            f'  n=$(cat "{self.counter}")\n'
            '  if [ "$n" -gt 0 ]; then\n'
            f'    echo $((n - 1)) > "{self.counter}"\n'
            f'    sh "{self.inject}" >&2 || exit 97\n'
            "  fi\n"
            "fi\n"
            f'exec "{REAL_GIT}" "$@"\n'
        )
        wrapper.chmod(0o755)
        monkeypatch.setenv("PATH", f"{self.bin}{os.pathsep}{os.environ['PATH']}")

    def before_pushes(self, times: int, script: str) -> None:
        self.inject.write_text("set -e\n" + script)
        self.counter.write_text(str(times))

    @property
    def remaining(self) -> int:
        return int(self.counter.read_text())


#: The file the ``release`` fixture's release commit changed.
DEPLOYMENT_FILE = "apps/checkout/deployment.yaml"
#: A file a later commit touches beside it, so reverting the release conflicts.
FLAGS_FILE = "apps/checkout/flags.yaml"


def assert_release_reverted(remote: Remote, release: dict[str, str]) -> str:
    """The ``release`` fixture's release undone on the remote by one commit on top of the
    later one, which stays; returns that commit's message for the caller's checks."""
    assert remote.parents() == [release["later"]]
    assert remote.show(DEPLOYMENT_FILE) == DEPLOYMENT.format(tag="1.0").rstrip("\n")
    assert remote.show("apps/cart/values.yaml") == "replicas: 2"
    message = remote.message()
    assert message.startswith('Revert "checkout: release 1.1"')
    assert f"This reverts commit {release['release']}." in message
    return message


def cache_checkout(cache_dir: Path) -> Path:
    (path,) = [p for p in cache_dir.iterdir() if p.is_dir()]
    return path


def assert_cache_clean(cache_dir: Path, remote: Remote) -> None:
    path = cache_checkout(cache_dir)
    assert git("status", "--porcelain", "--untracked-files=all", cwd=path) == ""
    # HEAD is the last fetched remote head (the remote may have moved on since), with
    # no local commit on top of it.
    head = git("rev-parse", "HEAD", cwd=path)
    assert head == git("rev-parse", "refs/remotes/origin/main", cwd=path)
    git("merge-base", "--is-ancestor", head, remote.head(), cwd=remote.bare)
    for leftover in ("REVERT_HEAD", "rebase-merge", "rebase-apply", "sequencer", "MERGE_HEAD"):
        assert not (path / ".git" / leftover).exists(), leftover
