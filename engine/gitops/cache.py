"""One clean working copy per repository, cloned once and fetched before every use.

A GitOps config repository can be large and an abort must be fast, so Auspice keeps a
checkout under ``cache_dir`` and only fetches the one branch it needs. Nothing in the
cache is trusted between runs: every operation starts by throwing away whatever an
earlier run may have left (a crash mid-revert, a local commit that was never pushed,
a stale ``index.lock`` from a killed git) and detaching HEAD at the freshly fetched
remote branch. The remote is the only state; the cache is a disposable copy of it.

One process owns a cache directory; inside the process, :func:`repository_lock`
serialises operations on the same checkout.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import shutil
import weakref
from collections.abc import AsyncIterator
from pathlib import Path

from .errors import BranchNotFound, GitOpsError
from .process import GitResult, GitRunner, remote_failure
from .specs import RepoSpec

__all__ = ["CacheCheckout", "repository_lock"]

_LEFTOVER_STATE = (
    "rebase-merge",
    "rebase-apply",
    "sequencer",
    "REVERT_HEAD",
    "CHERRY_PICK_HEAD",
    "MERGE_HEAD",
)
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Path, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


@contextlib.asynccontextmanager
async def repository_lock(path: Path) -> AsyncIterator[None]:
    """Hold the in-process lock of one cache checkout (per event loop); ``path`` resolved."""
    loop = asyncio.get_running_loop()
    lock = _locks.setdefault(loop, {}).setdefault(path, asyncio.Lock())
    async with lock:
        yield


class CacheCheckout:
    """The cache working copy of ``repo`` under ``cache_dir``."""

    def __init__(self, *, runner: GitRunner, repo: RepoSpec, cache_dir: Path) -> None:
        self.runner = runner
        self.repo = repo
        self.path = cache_dir.resolve() / _directory_name(repo.url)
        self.tracking_ref = f"refs/remotes/origin/{repo.branch}"

    async def git(self, *args: str, check: bool = True, stdin: str | None = None,
                  what: str | None = None) -> GitResult:
        return await self.runner.run(*args, cwd=self.path, check=check, stdin=stdin, what=what)

    async def sync(self) -> str:
        """Make sure the clone exists, fetch, reset to the remote branch; return its sha."""
        if not await self._is_our_clone():
            await self._create()
        head = await self.fetch()
        await self.reset_clean()
        return head

    async def fetch(self) -> str:
        """Fetch the branch into its remote-tracking ref and return the remote head sha."""
        branch = self.repo.branch
        result = await self.git(
            "fetch", "--quiet", "--no-tags", "origin",
            f"+refs/heads/{branch}:{self.tracking_ref}",
            check=False, what=f"fetching {branch!r} from {self.repo.display_url}",
        )
        if not result.ok:
            if "couldn't find remote ref" in result.stderr.lower():
                raise BranchNotFound(
                    f"branch {branch!r} does not exist in {self.repo.display_url}",
                    hint="check the plan's repository branch (the one Argo CD / Flux deploys)",
                )
            raise remote_failure(
                result, action=f"fetching {branch!r} from", url=self.repo.display_url
            )
        return await self.rev_parse(self.tracking_ref)

    async def reset_clean(self) -> None:
        """Drop any half-done operation and local change; HEAD detached at the remote branch."""
        git_dir = self.path / ".git"
        (git_dir / "index.lock").unlink(missing_ok=True)
        if any((git_dir / name).exists() for name in _LEFTOVER_STATE):
            await self.git("rebase", "--quit", check=False)
            await self.git("revert", "--quit", check=False)
            await self.git("cherry-pick", "--quit", check=False)
            await self.git("merge", "--quit", check=False)
        tracked = await self.git("rev-parse", "--verify", "--quiet", self.tracking_ref, check=False)
        if tracked.ok:
            await self.git("checkout", "--quiet", "--force", "--detach", self.tracking_ref,
                           what="resetting the cache checkout")
        await self.git("clean", "-q", "-ffdx", what="cleaning the cache checkout")

    async def rev_parse(self, rev: str) -> str:
        result = await self.git("rev-parse", "--verify", "--quiet", rev, what=f"resolving {rev}")
        return result.stdout.strip()

    async def _is_our_clone(self) -> bool:
        if not (self.path / ".git").is_dir():
            return False
        top = await self.git("rev-parse", "--show-toplevel", check=False)
        if not top.ok or Path(top.stdout.strip()) != self.path:
            return False
        url = await self.git("config", "--get", "remote.origin.url", check=False)
        return url.ok and url.stdout.strip() == self.repo.url

    async def _create(self) -> None:
        try:
            if self.path.exists():
                await asyncio.to_thread(shutil.rmtree, self.path)
            self.path.mkdir(parents=True)
        except OSError as error:
            raise GitOpsError(
                f"cannot create the cache checkout {self.path}: {error.strerror}",
                hint="give Auspice a writable cache_dir (for Kubernetes: an emptyDir volume)",
            ) from None
        await self.git("init", "--quiet", what="creating the cache checkout")
        await self.git("config", "remote.origin.url", self.repo.url)
        # Lets a successful push move the remote-tracking ref too.
        await self.git("config", "remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*")
        # Auto-gc in the background would race the next command on this checkout.
        await self.git("config", "gc.autoDetach", "false")


def _directory_name(url: str) -> str:
    tail = re.sub(r"\.git$", "", url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1])
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", tail).strip(".-")[:40] or "repo"
    return f"{slug}-{hashlib.sha256(url.encode()).hexdigest()[:12]}"
