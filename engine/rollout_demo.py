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
touched cluster at once, and the release commit is reverted in the Git repository.

On a terminal the demo keeps a status block at the bottom, redrawn in place: the state,
the wave, the virtual minutes spent against the plan's, and per cluster its weight, step
and latest verdict with its e-value; the events that change the story (waves, weights,
verdict changes, rollback, revert) scroll above it. Anywhere else (pipes, CI logs) it
prints plain lines, every look included, and no escape codes; ``json_lines`` prints one
JSON object per audit entry instead. Each release ends with a summary and, for the
regressed one, the revert commit on the remote.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

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

__all__ = ["CLUSTERS", "LiveScreen", "Screen", "demo_plan", "main", "make_screen", "run_release"]

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


# -- the screen --------------------------------------------------------------------


class Screen:
    """Scrolling lines only: what pipes and CI logs get, with no escape codes.

    A reader that goes away (``auspice demo | head``) ends the output quietly: the
    orchestrator logs a listener's exception on every event, and one traceback per
    event would bury the only thing that happened (the reader had seen enough).
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.closed = False

    def line(self, text: str) -> None:
        self._write(text + "\n")

    def event(self, text: str | None, *, routine: bool, block: Sequence[str]) -> None:
        """One recorded event: every described line scrolls, the block is for terminals."""
        if text is not None:
            self.line(text)

    def keep_block(self) -> None:
        """Leave the last status block where it is (a plain screen has none)."""

    def _write(self, text: str) -> None:
        if self.closed:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except BrokenPipeError:
            self.closed = True
            with contextlib.suppress(OSError, ValueError):  # so the exit's flush is quiet
                os.dup2(os.open(os.devnull, os.O_WRONLY), self.stream.fileno())


class LiveScreen(Screen):
    """A terminal: scrolling lines above a status block that is redrawn in place.

    A look whose verdict did not change only updates the block, so the scrollback keeps
    the story (waves, weights, verdict changes, rollback, revert) and the block the
    latest numbers. Redrawing uses two sequences every terminal emulator knows: go to
    the start of the line N rows up (CSI N F) and erase to the end of the screen
    (CSI J). Block lines are cut to the terminal's width: a wrapped line would make N
    wrong and leave copies of the block in the scrollback.
    """

    def __init__(self, stream: TextIO, *, width: int | None = None) -> None:
        super().__init__(stream)
        self.width = width or _columns(stream)
        self.drawn = 0  # rows of the block now on the screen, above the cursor

    def line(self, text: str) -> None:
        self._redraw(text, [])

    def event(self, text: str | None, *, routine: bool, block: Sequence[str]) -> None:
        self._redraw(None if routine else text, block)

    def keep_block(self) -> None:
        self.drawn = 0

    def _redraw(self, text: str | None, block: Sequence[str]) -> None:
        erase = f"\x1b[{self.drawn}F\x1b[J" if self.drawn else ""
        scrolled = "" if text is None else text + "\n"
        rows = [row[: self.width - 1] for row in block]
        self._write(erase + scrolled + "".join(row + "\n" for row in rows))
        self.drawn = len(rows)


def _columns(stream: TextIO) -> int:
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):  # not a file descriptor (tests, wrappers)
        columns = 0
    return columns if columns > 0 else 80  # a new pty reports 0 columns until resized


def make_screen(stream: TextIO, *, json_lines: bool) -> Screen:
    """A live screen only for a person at a terminal: JSON lines are for programs, and a
    ``TERM=dumb`` terminal (editor shells, some CI runners) cannot move the cursor."""
    isatty = getattr(stream, "isatty", None)
    live = (not json_lines and callable(isatty) and isatty()
            and os.environ.get("TERM") != "dumb")
    return LiveScreen(stream) if live else Screen(stream)


# -- the live view -----------------------------------------------------------------


@dataclass
class ClusterRow:
    """One cluster as the status block shows it."""

    wave: int
    weight: int = 0
    status: str = "waiting"
    verdict: str | None = None  # of the last look
    evidence: str = ""  # the last look's verdict and e-value, short


def planned_seconds(plan: RolloutPlan, members: Mapping[str, int]) -> float:
    """How long the plan takes when every hold runs its full time and each approval
    comes at once: a wave moves its clusters ``maxParallel`` at a time, and a bake comes
    between two waves. The progress bar is measured against this."""
    total = (plan.spec.options.bake_time or 0.0) * (len(plan.spec.waves) - 1)
    for index, wave in enumerate(plan.spec.waves):
        count = sum(1 for w in members.values() if w == index)
        rounds = math.ceil(count / (wave.max_parallel or count))
        total += rounds * sum(step.hold for step in wave.steps)
    return total


@dataclass
class LiveView:
    """Turns what the orchestrator records into scrolling lines and a status block."""

    screen: Screen
    clock: VirtualClock
    plan: RolloutPlan
    members: Mapping[str, int]  # cluster -> index of its wave
    json_lines: bool = False
    state: str = "pending"
    wave: int = 0
    rows: dict[str, ClusterRow] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rows = {name: ClusterRow(wave=wave) for name, wave in self.members.items()}
        self.planned = planned_seconds(self.plan, self.members)

    def minutes(self) -> float:
        return (self.clock.now() - START) / 60

    def __call__(self, rollout: str, n: int, what: str, details: Mapping[str, Any]) -> None:
        if self.json_lines:
            self.screen.line(json.dumps({"rollout": rollout, "n": n,
                                         "minute": round(self.minutes(), 2), "what": what,
                                         "details": details}, default=str))
            return
        routine = (what == "look"
                   and self.rows[details["cluster"]].verdict == details["verdict"])
        text = self._describe(what, details)
        self.screen.event(None if text is None else f"  {self.minutes():5.1f}m  {text}",
                          routine=routine, block=self.block())

    def block(self) -> list[str]:
        """The status block: state, wave and progress, then one row per cluster."""
        waves = self.plan.spec.waves
        share = min(1.0, self.minutes() * 60 / self.planned) if self.planned else 1.0
        filled = round(share * 30)
        lines = [f"  {self.state.upper()}, wave {self.wave + 1}/{len(waves)} "
                 f"'{waves[self.wave].name}'",
                 f"  [{'#' * filled}{'.' * (30 - filled)}] {self.minutes():.0f} of "
                 f"{self.planned / 60:.0f} planned minutes"]
        for name, row in self.rows.items():
            bar = "#" * (row.weight // 10)
            lines.append(f"    {name:<13} [{bar:.<10}] {row.weight:3d}%  {row.status:<12}"
                         f"{row.evidence}")
        return lines

    def _bar(self) -> str:
        return "  ".join(f"{name} {row.weight:3d}%" for name, row in self.rows.items())

    def _describe(self, what: str, d: Mapping[str, Any]) -> str | None:
        """The scrolling line of an event (None: not worth a line), updating the rows."""
        if what == "wave.started":
            self.wave = d["wave"]
            return f"== wave {d['wave'] + 1} '{d['name']}': {', '.join(d['clusters'])}"
        if what == "weights.set":
            steps = len(self.plan.spec.waves[d["wave"]].steps)
            self._set(d["cluster"], weight=d["weight"], status=f"step {d['step'] + 1}/{steps}")
            return f"{d['cluster']:<13} canary -> {d['weight']:3d}%   [{self._bar()}]"
        if what == "look":
            self._set(d["cluster"], verdict=d["verdict"], evidence=_short_evidence(d))
            return f"{d['cluster']:<13} look at {d['weight']:3d}%: {_evidence(d)}"
        if what in ("rollback", "rollback.retry"):
            for cluster, result in d["clusters"].items():
                if result["status"] != "failed":
                    self._set(cluster, weight=0, status="rolled back")
            return (f"ROLLBACK canary -> 0% in {', '.join(d['clusters'])} at once "
                    f"({len(d['unreachable'])} unreachable)   [{self._bar()}]")
        if what == "cluster.failed":
            self._set(d["cluster"], status="FAILED")
            return f"{d['cluster']:<13} FAILED: {d['reason']}"
        if what == "cluster.done":
            self._set(d["cluster"], status="promoted")
            return f"{d['cluster']:<13} promoted"
        if what == "rollout.approved":
            self.state = d.get("state", self.state)  # no state.* entry follows an approval
            return f"approval for wave {d['wave'] + 1} given"
        if what == "bake":
            return f"baking {d['remaining_seconds'] / 60:.0f}m before wave {d['wave'] + 1}"
        if what == "revert.started":
            return f"reverting release commit {d['commit'][:12]} (attempt {d['attempt']})"
        if what.startswith("state."):
            self.state = what.removeprefix("state.")
            return f"-> {self.state.upper()}"
        return None

    def _set(self, cluster: str, **changes: Any) -> None:
        row = self.rows[cluster]
        for name, value in changes.items():
            setattr(row, name, value)


def _numbers(d: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The metrics of a look that carry numbers (a 'no data' metric has none)."""
    return [metric for analysis in d.get("analyses", {}).values()
            for metric in analysis.get("metrics", [])
            if isinstance(metric.get("estimate"), int | float)
            and isinstance(metric.get("e_value"), int | float)]


def _evidence(d: Mapping[str, Any]) -> str:
    parts = [f"{m['name']} ratio {m['estimate']:.2f} (upper {m['upper']:.2f}), "
             f"e-value {m['e_value']:.2f}/{m['threshold']:.0f}" for m in _numbers(d)]
    return f"{d['verdict'].upper():8s} " + ("; ".join(parts) if parts else d.get("reason", ""))


def _short_evidence(d: Mapping[str, Any]) -> str:
    """The block's version: the verdict and the largest e-value against its threshold."""
    metrics = _numbers(d)
    if not metrics:
        return d["verdict"].upper()
    top = max(metrics, key=lambda m: m["e_value"] / m["threshold"])
    return f"{d['verdict'].upper():<8} e-value {top['e_value']:.2f}/{top['threshold']:.0f}"


# -- running -----------------------------------------------------------------------


def _world(root: Path, clock: VirtualClock, *, regressed: bool, seed: int) -> World:
    """Five clusters, Istio-shaped counts that follow the weights, the Git reverter."""
    router = WeightedRouter(CLUSTERS, clock=clock)
    versions = WorldVersions(error_rate=0.01, regressed_error_rate=0.03,
                             regressed_in={"prod-eu"} if regressed else set())
    source = SimulatedSource(router, versions, rpm=3000.0, seed=seed)
    return World(clusters=[Cluster(n, labels) for n, labels in CLUSTERS.items()],
                 router_for=lambda _plan: router, source=source,
                 templates=library_templates({"demo-error-rate": parse_template(
                     DEMO_TEMPLATE)}),
                 reverter=GitReverter(cache_dir=root / "cache", clock=clock), clock=clock)


def _auto_approve(orchestrator: Orchestrator) -> Callable[..., None]:
    """A listener that approves every wave that asks, as the demo's operator would."""
    approvals: list[asyncio.Task[Any]] = []  # kept, so the tasks are not collected early

    def approve(rollout: str, n: int, what: str, details: Mapping[str, Any]) -> None:
        if what == "state.awaiting_approval":
            approvals.append(asyncio.ensure_future(
                orchestrator.approve(rollout, who="demo-operator")))

    return approve


async def run_release(*, regressed: bool, seed: int, root: Path, screen: Screen,
                      json_lines: bool = False) -> tuple[RolloutRecord, str]:
    """One release through the plan; returns the final record and the Git remote URL."""
    clock = VirtualClock(start=START)
    clock.count_threads()  # the state file writes in a thread: time waits for it
    url, sha = make_repository(root)
    store = await RolloutStore.open(root / "state.db")
    orchestrator = Orchestrator(store=store,
                                world=_world(root, clock, regressed=regressed, seed=seed))
    plan = demo_plan(repository=url, sha=sha)
    # The orchestrator's own choice of each cluster's wave (first matching selector), so
    # the view's plan can never disagree with the rollout it shows.
    members = orchestrator._select(plan)
    view = LiveView(screen, clock, plan, members, json_lines=json_lines)
    orchestrator.listeners.extend([view, _auto_approve(orchestrator)])
    try:
        rollout = await orchestrator.start(plan, who="demo")
        record = await orchestrator.wait(rollout)
    finally:
        await orchestrator.close()
        await store.close()
    screen.keep_block()
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


def as_expected(record: RolloutRecord, *, regressed: bool) -> bool:
    """The story's ending: healthy promoted; regressed failed, all weights 0, reverted."""
    if not regressed:
        return record.state.value == "succeeded"
    return (record.state.value == "failed"
            and (record.revert or {}).get("status") == "pushed"
            and all(row.weight == 0 for row in record.clusters))


def _one_release(*, regressed: bool, seed: int, screen: Screen, json_lines: bool) -> bool:
    name = "regressed release v2" if regressed else "healthy release v2"
    with tempfile.TemporaryDirectory(prefix="auspice-demo-") as directory:
        root = Path(directory)
        if not json_lines:
            screen.line(f"\n### {name}: 5 clusters, 3 waves (staging-eu | prod-eu | "
                        "prod-us-east, prod-us-west, prod-asia), virtual clock")
        record, url = asyncio.run(run_release(regressed=regressed, seed=seed, root=root,
                                              screen=screen, json_lines=json_lines))
        ok = as_expected(record, regressed=regressed)
        if json_lines:
            screen.line(json.dumps({"summary": name, "as_expected": ok, **record.to_dict()},
                                   default=str))
        else:
            screen.line("")
            for line in _summary(name, record, url, root):
                screen.line(line)
    return ok


def main(*, regress: bool | None = None, seed: int = 7, json_lines: bool = False,
         stream: TextIO | None = None) -> int:
    """Run the healthy and/or the regressed release (``regress``: None both, True only
    the regressed one, False only the healthy one) and write to ``stream`` (stdout), live
    when it is a terminal. Exit 0 when each ended as its story says."""
    screen = make_screen(stream or sys.stdout, json_lines=json_lines)
    started = time.monotonic()
    results = [_one_release(regressed=regressed, seed=seed, screen=screen,
                            json_lines=json_lines)
               for regressed in (False, True) if regress is None or regressed == regress]
    if not json_lines:
        verdict = "as expected" if all(results) else "NOT as expected"
        screen.line(f"\ndemo {verdict} ({time.monotonic() - started:.1f} s wall time)")
    return 0 if all(results) else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
