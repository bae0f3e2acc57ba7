"""How long reverting a release commit and pushing it takes on a 10,000-commit repository.

    python -m benchmarks.gitops_revert                  # 10,000 commits, 5 repetitions
    python -m benchmarks.gitops_revert --commits 2000   # a quick look

Writes ``benchmarks/results/gitops_revert.json`` and ``.md``. The repository is a local
bare repository built with ``git fast-import`` (a GitOps layout: 200 apps, one values
file each, every commit changing one app), so the numbers are git's and Auspice's own
work without network latency; over a real network add a few round trips per fetch and
push.

Scenarios, each timed around one ``revert_release`` call (the remote branch is put
back to its original head between repetitions, outside the timing):

- cold: empty cache, so it includes the first full fetch of the 10,000 commits;
- warm: the usual abort, the cache exists (fetch, checks, revert, push);
- already reverted: the retried abort that finds its own revert and does nothing;
- old release: the release commit 5,000 commits back, so the idempotency search
  reads 5,000 commit messages;
- one lost race: another clone pushes between Auspice's fetch and its push (a
  ``pre-push`` hook), so the revert is rebased and pushed twice; the backoff sleep is
  excluded (a clock that does not wait), it is the git work of a retry.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from auspice.gitops import RepoSpec, RevertOutcome, RevertReason, RevertStatus, revert_release

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
APPS = 200
REASON = RevertReason(kind="abort", summary="benchmark", requested_by="benchmarks.gitops_revert")


class NoWaitClock:
    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


def fast_import_stream(commits: int, *, recent: int, old: int) -> Iterator[bytes]:
    """Commit 1 adds every app; commit ``old`` and ``recent`` are the two releases."""

    def data(text: str) -> bytes:
        raw = text.encode()
        return b"data %d\n%s\n" % (len(raw), raw)

    for n in range(1, commits + 1):
        out = [b"commit refs/heads/main\n", b"mark :%d\n" % n,
               b"committer Bench <bench@example.invalid> %d +0000\n" % (1_600_000_000 + n)]
        if n == 1:
            out.append(data("Add all apps"))
            for app in range(APPS):
                out += [b"M 100644 inline apps/app-%03d/values.yaml\n" % app,
                        data(f"replicas: 2\nimage: app-{app}:1\n")]
            for name in ("checkout", "legacy"):
                out += [f"M 100644 inline apps/{name}/deployment.yaml\n".encode(),
                        data(f"image: {name}:1.0\n")]
        elif n in (recent, old):
            name = "checkout" if n == recent else "legacy"
            out += [data(f"{name}: release 2.0"), b"from :%d\n" % (n - 1),
                    f"M 100644 inline apps/{name}/deployment.yaml\n".encode(),
                    data(f"image: {name}:2.0\n")]
        else:
            app = n % APPS
            out += [data(f"app-{app:03d}: bump to {n}"), b"from :%d\n" % (n - 1),
                    b"M 100644 inline apps/app-%03d/values.yaml\n" % app,
                    data(f"replicas: 2\nimage: app-{app}:{n}\n")]
        yield b"".join(out)


def build_repository(bare: Path, commits: int) -> tuple[float, dict[str, str]]:
    recent, old = commits - 10, commits // 2
    git("init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    started = time.perf_counter()
    process = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=bare,
                               stdin=subprocess.PIPE)
    assert process.stdin is not None
    for chunk in fast_import_stream(commits, recent=recent, old=old):
        process.stdin.write(chunk)
    process.stdin.close()
    if process.wait() != 0:
        raise SystemExit("git fast-import failed")
    built = time.perf_counter() - started
    shas = {
        "recent": git("rev-parse", f"main~{commits - recent}", cwd=bare),
        "old": git("rev-parse", f"main~{commits - old}", cwd=bare),
        "head": git("rev-parse", "main", cwd=bare),
    }
    return built, shas


async def timed(call: Callable[[], Awaitable[RevertOutcome]]) -> tuple[float, RevertOutcome]:
    started = time.perf_counter()
    outcome = await call()
    return (time.perf_counter() - started) * 1000, outcome


async def run(commits: int, repetitions: int, work: Path) -> dict[str, Any]:
    bare = work / "config.git"
    build_seconds, shas = build_repository(bare, commits)
    repo = RepoSpec(url=str(bare), branch="main")
    samples: dict[str, list[float]] = {}
    pushes: dict[str, list[int]] = {}

    def reset_remote() -> None:
        git("update-ref", "refs/heads/main", shas["head"], cwd=bare)

    async def revert(commit: str, cache: Path, **extra: Any) -> RevertOutcome:
        return await revert_release(repo=repo, commit=commit, reason=REASON,
                                    rollout_id="bench", cache_dir=cache, **extra)

    async def measure(name: str, commit: str, cache: Path, expect: RevertStatus,
                      **extra: Any) -> None:
        millis, outcome = await timed(lambda: revert(commit, cache, **extra))
        if outcome.status is not expect:
            raise SystemExit(f"{name}: expected {expect}, got {outcome.status}")
        samples.setdefault(name, []).append(millis)
        pushes.setdefault(name, []).append(outcome.push_attempts)

    warm_cache = work / "warm-cache"
    await revert(shas["recent"], warm_cache)  # fill the warm cache, untimed
    for rep in range(repetitions):
        reset_remote()
        await measure("cold (first fetch of the whole history)", shas["recent"],
                      work / f"cold-{rep}", RevertStatus.PUSHED)
        shutil.rmtree(work / f"cold-{rep}")
        reset_remote()
        await measure("warm (cache exists)", shas["recent"], warm_cache, RevertStatus.PUSHED)
        await measure("already reverted (no-op)", shas["recent"], warm_cache,
                      RevertStatus.ALREADY_REVERTED)
        reset_remote()
        await measure(f"old release ({commits - commits // 2} commits after it)", shas["old"],
                      warm_cache, RevertStatus.PUSHED)
        reset_remote()
        with racing_pre_push(work, bare, rep):
            await measure("one lost push race (backoff sleep excluded)", shas["recent"],
                          warm_cache, RevertStatus.PUSHED, clock=NoWaitClock())
    reset_remote()
    return {
        "benchmark": "gitops_revert",
        "commits": commits,
        "apps": APPS,
        "repetitions": repetitions,
        "build_seconds_fast_import": round(build_seconds, 3),
        "scenarios": {
            name: {
                "median_ms": round(statistics.median(values), 1),
                "min_ms": round(min(values), 1),
                "max_ms": round(max(values), 1),
                "push_attempts": sorted(set(pushes[name])),
                "samples_ms": [round(v, 1) for v in values],
            }
            for name, values in samples.items()
        },
        "git": git("--version"),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared)",
    }


class racing_pre_push:
    """A global pre-push hook that pushes from another clone once (a real concurrent push)."""

    def __init__(self, work: Path, bare: Path, rep: int) -> None:
        self.hooks = work / f"hooks-{rep}"
        self.other = work / f"other-{rep}"
        self.bare = bare
        self.config = Path(os.environ["GIT_CONFIG_GLOBAL"])

    def __enter__(self) -> None:
        git("clone", "--quiet", str(self.bare), str(self.other))
        self.hooks.mkdir()
        marker = self.hooks / "done"
        hook = self.hooks / "pre-push"
        hook.write_text(
            "#!/bin/sh\n"
            f'[ -e "{marker}" ] && exit 0\ntouch "{marker}"\n'
            f'cd "{self.other}" && echo concurrent >> README && git add README && '
            'git commit --quiet -m concurrent && '
            "git push --quiet --no-verify origin HEAD:refs/heads/main\n"
        )
        hook.chmod(0o755)
        self.saved = self.config.read_text()
        self.config.write_text(self.saved + f"[core]\n\thooksPath = {self.hooks}\n")

    def __exit__(self, *exc: object) -> None:
        self.config.write_text(self.saved)
        shutil.rmtree(self.other)


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"# GitOps revert-and-push: {result['commits']:,} commits, local bare repository",
        "",
        "| scenario | median | min / max | push attempts |",
        "|---|---|---|---|",
    ]
    for name, s in result["scenarios"].items():
        attempts = ", ".join(str(a) for a in s["push_attempts"])
        lines.append(f"| {name} | {s['median_ms']:.0f} ms | {s['min_ms']:.0f} / "
                     f"{s['max_ms']:.0f} ms | {attempts} |")
    lines += [
        "",
        f"{result['repetitions']} repetitions each. Repository built with git fast-import in "
        f"{result['build_seconds_fast_import']:.2f} s ({result['apps']} apps, one app "
        "changed per commit). Each time is one `revert_release` call through real `git` "
        "subprocesses: fetch, checks, revert, commit, push; no network latency. "
        f"{result['git']}, Python {result['python']}, {result['machine']}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--commits", type=int, default=10_000)
    parser.add_argument("--repetitions", type=int, default=5)
    args = parser.parse_args(argv)
    logging.getLogger("auspice.gitops").setLevel(logging.ERROR)  # the race warns, by design
    with tempfile.TemporaryDirectory(prefix="auspice-bench-git-") as tmp:
        work = Path(tmp)
        config = work / "gitconfig"
        config.write_text("[user]\n\tname = Bench\n\temail = bench@example.invalid\n")
        os.environ.update(GIT_CONFIG_GLOBAL=str(config), GIT_CONFIG_NOSYSTEM="1")
        result = asyncio.run(run(args.commits, args.repetitions, work))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "gitops_revert.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "gitops_revert.md").write_text(markdown(result))
    sys.stdout.write(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
