"""``auspice demo``: a whole multi-cluster rollout, in a simulated world, in seconds.

The demo runs the real orchestrator, judges, state file and Git revert code against a
world that needs no external service: five labelled clusters behind an in-memory
router, Istio-shaped request and error counts that follow the weights the orchestrator
sets, and a real temporary Git repository (a bare remote and the release commit). The
clock is virtual, so a rollout of about an hour of waves, holds and bakes takes a few
seconds.

Two releases go through the same three-wave plan. The healthy one is promoted
everywhere. The regressed one is fine in staging but raises the error rate in
``prod-eu``: the analysis fails in the second wave, traffic returns to stable in every
touched cluster at once, and the release commit is reverted in the Git repository. The
terminal shows each wave, cluster, weight and look (with its evidence) as it happens,
then a summary with the revert commit.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auspice.clock import VirtualClock
from auspice.metrics.simulated_source import (
    DEMO_TEMPLATE,
    SimulatedSource,
    WeightedRouter,
    WorldVersions,
)
from auspice.orchestrator import Orchestrator
from auspice.plan import RolloutPlan, plan_from_data
from auspice.rollout_run import GitReverter, World, library_templates
from auspice.rollout_store import RolloutRecord, RolloutStore
from auspice.specs import parse_template
from auspice.traffic.clusters import Cluster

__all__ = ["CLUSTERS", "demo_plan", "main", "run_release"]

CLUSTERS: dict[str, dict[str, str]] = {
    "staging-eu": {"env": "staging", "region": "eu"},
    "prod-eu": {"env": "prod", "region": "eu"},
    "prod-us-east": {"env": "prod", "region": "us"},
    "prod-us-west": {"env": "prod", "region": "us"},
    "prod-asia": {"env": "prod", "region": "asia"},
}
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z, so the printed times read as minutes


def demo_plan(*, repository: str, sha: str) -> RolloutPlan:
    """Three waves: staging, prod-eu, then the other prod regions two at a time."""
    steps = [{"weight": 10, "hold": "10m"}, {"weight": 50, "hold": "10m"},
             {"weight": 100, "hold": "2m"}]
    return plan_from_data({
        "apiVersion": "auspice.dev/v1alpha1", "kind": "RolloutPlan",
        "metadata": {"name": "checkout-v2"},
        "spec": {
            "service": {"namespace": "shop", "virtualService": "checkout",
                        "routes": ["primary"], "workload": "checkout",
                        "stable": {"host": "checkout", "subset": "stable"},
                        "canary": {"host": "checkout", "subset": "canary"}},
            "versions": {"canary": "v2", "baseline": "v1"},
            "release": {"repository": repository, "branch": "main", "sha": sha},
            "analyses": [{"template": "demo-error-rate"}],
            "waves": [
                {"name": "staging", "clusters": {"matchLabels": {"env": "staging"}},
                 "steps": [{"weight": 25, "hold": "10m"}, {"weight": 100, "hold": "2m"}]},
                {"name": "prod-eu", "clusters": {"matchLabels": {"env": "prod",
                                                                 "region": "eu"}},
                 "steps": steps},
                {"name": "prod-rest", "maxParallel": 2, "requireApproval": True,
                 "clusters": {"matchLabels": {"env": "prod"}}, "steps": steps},
            ],
            "options": {"bakeTime": "5m"},
        },
    }, source="demo plan")


# -- the Git repository ------------------------------------------------------------


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Release Bot", "GIT_AUTHOR_EMAIL": "bot@example",
           "GIT_COMMITTER_NAME": "Release Bot", "GIT_COMMITTER_EMAIL": "bot@example",
           "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(cwd)}
    done = subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True, timeout=30)
    return done.stdout.strip()


def make_repository(root: Path) -> tuple[str, str]:
    """A bare remote with a deploy of v1, then the release commit of v2: (url, sha)."""
    remote, work = root / "config.git", root / "work"
    _git(root, "init", "--bare", "--initial-branch=main", str(remote))
    _git(root, "clone", "--quiet", str(remote), str(work))
    values = work / "checkout" / "values.yaml"
    values.parent.mkdir(parents=True)
    values.write_text("image:\n  tag: v1\n")
    _git(work, "add", ".")
    _git(work, "commit", "--quiet", "-m", "checkout: deploy v1")
    values.write_text("image:\n  tag: v2\n")
    _git(work, "commit", "--quiet", "-am", "checkout: release v2")
    sha = _git(work, "rev-parse", "HEAD")
    _git(work, "push", "--quiet", "origin", "main")
    return f"file://{remote}", sha


def remote_log(url: str, root: Path) -> list[str]:
    path = url.removeprefix("file://")
    return _git(root, "--git-dir", path, "log", "--format=%h %s", "main").splitlines()


# -- the live view -----------------------------------------------------------------


@dataclass
class LiveView:
    """Prints what the orchestrator records, as it happens, one readable line each."""

    print_line: Callable[[str], None]
    clock: VirtualClock
    json_lines: bool = False
    weights: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLUSTERS, 0))

    def __call__(self, rollout: str, n: int, what: str, details: Mapping[str, Any]) -> None:
        minute = (self.clock.now() - START) / 60
        if self.json_lines:
            self.print_line(json.dumps({"minute": round(minute, 2), "rollout": rollout,
                                        "n": n, "event": what, **details}, default=str))
            return
        text = self._describe(what, details)
        if text:
            self.print_line(f"  {minute:5.1f}m  {text}")

    def _bar(self) -> str:
        return "  ".join(f"{name} {weight:3d}%" for name, weight in self.weights.items())

    def _describe(self, what: str, d: Mapping[str, Any]) -> str | None:
        if what == "wave.started":
            return f"== wave {d['wave'] + 1} '{d['name']}': {', '.join(d['clusters'])}"
        if what == "weights.set":
            self.weights[d["cluster"]] = d["weight"]
            return f"{d['cluster']:<13} canary -> {d['weight']:3d}%   [{self._bar()}]"
        if what == "look":
            return f"{d['cluster']:<13} look at {d['weight']:3d}%: {_evidence(d)}"
        if what in ("rollback", "rollback.retry"):
            for cluster, result in d["clusters"].items():
                if result["status"] != "failed":
                    self.weights[cluster] = 0
            return (f"ROLLBACK canary -> 0% in {', '.join(d['clusters'])} at once "
                    f"({len(d['unreachable'])} unreachable)   [{self._bar()}]")
        if what == "cluster.failed":
            return f"{d['cluster']:<13} FAILED: {d['reason']}"
        if what == "cluster.done":
            return f"{d['cluster']:<13} promoted"
        if what == "rollout.approved":
            return f"approval for wave {d['wave'] + 1} given"
        if what == "bake":
            return f"baking {d['remaining_seconds'] / 60:.0f}m before wave {d['wave'] + 1}"
        if what == "revert.started":
            return f"reverting release commit {d['commit'][:12]} (attempt {d['attempt']})"
        if what.startswith("state."):
            return f"-> {what.removeprefix('state.').upper()}"
        return None


def _evidence(d: Mapping[str, Any]) -> str:
    verdict = d["verdict"].upper()
    parts = []
    for analysis in d.get("analyses", {}).values():
        for metric in analysis.get("metrics", []):
            estimate, upper = metric.get("estimate"), metric.get("upper")
            e_value, threshold = metric.get("e_value"), metric.get("threshold")
            if isinstance(estimate, int | float) and isinstance(e_value, int | float):
                parts.append(f"{metric['name']} ratio {estimate:.2f} (upper {upper:.2f}), "
                             f"e-value {e_value:.2f}/{threshold:.0f}")
    return f"{verdict:8s} " + ("; ".join(parts) if parts else d.get("reason", ""))


# -- running -----------------------------------------------------------------------


async def run_release(*, regressed: bool, seed: int, root: Path, view: LiveView,
                      print_line: Callable[[str], None]) -> tuple[RolloutRecord, str]:
    """One release through the plan; returns the final record and the Git remote URL."""
    clock = view.clock
    url, sha = make_repository(root)
    router = WeightedRouter(CLUSTERS, clock=clock)
    versions = WorldVersions(error_rate=0.01, regressed_error_rate=0.03,
                             regressed_in={"prod-eu"} if regressed else set())
    source = SimulatedSource(router, versions, rpm=3000.0, seed=seed)
    world = World(clusters=[Cluster(n, labels) for n, labels in CLUSTERS.items()],
                  router_for=lambda _plan: router, source=source,
                  templates=library_templates({"demo-error-rate": parse_template(
                      DEMO_TEMPLATE)}),
                  reverter=GitReverter(cache_dir=root / "cache", clock=clock), clock=clock)
    store = await RolloutStore.open(root / "state.db")
    orchestrator = Orchestrator(store=store, world=world, listeners=[view])

    approvals: list[asyncio.Task[Any]] = []

    def approve(rollout: str, n: int, what: str, details: Mapping[str, Any]) -> None:
        if what == "state.awaiting_approval":
            approvals.append(asyncio.ensure_future(
                orchestrator.approve(rollout, who="demo-operator")))

    orchestrator.listeners.append(approve)
    try:
        rollout = await orchestrator.start(demo_plan(repository=url, sha=sha), who="demo")
        record = await orchestrator.wait(rollout)
    finally:
        await orchestrator.close()
        await store.close()
    return record, url


def _summary(name: str, record: RolloutRecord, url: str, root: Path) -> list[str]:
    lines = [f"{name}: {record.state.value.upper()}"]
    outcome = record.outcome or {}
    if outcome.get("failed_cluster"):
        lines.append(f"  failed in wave {outcome['wave'] + 1}, cluster "
                     f"{outcome['failed_cluster']}: {outcome['reason']}")
    weights = ", ".join(f"{row.cluster} {row.weight}%" for row in record.clusters)
    lines.append(f"  canary weights now: {weights}")
    if record.revert:
        lines.append(f"  revert: {record.revert.get('summary')}")
        lines.extend(f"    {line}" for line in remote_log(url, root)[:3])
    return lines


def main(*, regress: bool | None = None, seed: int = 7, json_lines: bool = False,
         print_line: Callable[[str], None] = print) -> int:
    """Run the healthy and/or the regressed release (``regress``: None both, True only
    the regressed one, False only the healthy one). Exit 0 when each ended as its
    story says (healthy promoted; regressed failed, rolled back and reverted)."""
    releases = [r for r in (False, True) if regress is None or r == regress]
    results = []
    for regressed in releases:
        name = "regressed release v2" if regressed else "healthy release v2"
        with tempfile.TemporaryDirectory(prefix="auspice-demo-") as directory:
            root = Path(directory)
            view = LiveView(print_line, VirtualClock(start=START), json_lines)
            if not json_lines:
                print_line(f"\n### {name}: 5 clusters, 3 waves (staging-eu | prod-eu | "
                           "prod-us-east, prod-us-west, prod-asia), virtual clock")
            record, url = asyncio.run(run_release(regressed=regressed, seed=seed, root=root,
                                                  view=view, print_line=print_line))
            summary = _summary(name, record, url, root)
            if json_lines:
                print_line(json.dumps({"summary": name, **record.to_dict()}, default=str))
            else:
                print_line("")
                for line in summary:
                    print_line(line)
            expected_ok = (record.state.value == "failed" and bool(record.revert)
                           and all(row.weight == 0 for row in record.clusters)
                           ) if regressed else record.state.value == "succeeded"
            results.append(expected_ok)
    return 0 if all(results) else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
