"""``auspice demo``: the rollout story (default) or the judges' close-up (``--judges-only``).

The stories are :mod:`auspice.demos`; this module shows them: the rollout through the
live view (:mod:`.live`) and a summary per release, the judges' looks every five
minutes and at the verdict. Exit 0 when each release ended as its story says.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from auspice.cli.live import Screen
    from auspice.rollouts.store import RolloutRecord
    from auspice.stats import Verdict

__all__ = ["add_parser", "judges_demo", "rollout_demo"]


def add_parser(commands: argparse._SubParsersAction, name: str) -> None:
    parser = commands.add_parser(
        name, help="a multi-cluster rollout, healthy then regressed, in a simulated world",
        description="Run the real orchestrator, judges, state file and Git revert against a "
        "simulated world on a virtual clock: five clusters (staging-eu, prod-eu, "
        "prod-us-east, prod-us-west, prod-asia), three waves, and a temporary Git "
        "repository holding the release commit. A healthy release is promoted everywhere; "
        "a regressed one fails in wave 2 (prod-eu), traffic returns to stable in every "
        "touched cluster and the release commit is reverted. On a terminal a status block "
        "shows waves, weights and the latest evidence as they change. Exit 0 when each "
        "release ended as expected.")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--regress", dest="regress", action="store_const", const=True,
                       default=None, help="run only the regressed release")
    which.add_argument("--healthy", dest="regress", action="store_const", const=False,
                       help="run only the healthy release")
    which.add_argument("--judges-only", action="store_true",
                       help="instead, one canary against its baseline judged look by look "
                       "(the judges' e-values at every look, no clusters or Git)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per audit entry (with --judges-only: per look)")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    """The rollout story by default; the single-canary judge demo stays reachable
    (``--judges-only``): it shows the e-values look by look, which the rollout's view
    condenses to one number per cluster."""
    if args.judges_only:
        return judges_demo(seed=args.seed, json_lines=args.json)
    return rollout_demo(regress=args.regress, seed=args.seed, json_lines=args.json)


# -- the rollout story ---------------------------------------------------------------


def rollout_demo(*, regress: bool | None = None, seed: int = 7, json_lines: bool = False,
                 stream: TextIO | None = None) -> int:
    """Run the healthy and/or the regressed release (``regress``: None both, True only
    the regressed one, False only the healthy one) and write to ``stream`` (stdout), live
    when it is a terminal. Exit 0 when each ended as its story says."""
    from auspice.cli.live import make_screen

    screen = make_screen(stream or sys.stdout, json_lines=json_lines)
    started = time.monotonic()
    results = [_one_release(regressed=regressed, seed=seed, screen=screen,
                            json_lines=json_lines)
               for regressed in (False, True) if regress is None or regressed == regress]
    if not json_lines:
        verdict = "as expected" if all(results) else "NOT as expected"
        screen.line(f"\ndemo {verdict} ({time.monotonic() - started:.1f} s wall time)")
    return 0 if all(results) else 1


def _one_release(*, regressed: bool, seed: int, screen: Screen, json_lines: bool) -> bool:
    from auspice.cli.live import LiveView
    from auspice.demos import rollout

    name = "regressed release v2" if regressed else "healthy release v2"
    with tempfile.TemporaryDirectory(prefix="auspice-demo-") as directory:
        root = Path(directory)
        if not json_lines:
            screen.line(f"\n### {name}: 5 clusters, 3 waves (staging-eu | prod-eu | "
                        "prod-us-east, prod-us-west, prod-asia), virtual clock")

        def view(plan: rollout.RolloutPlan, members: Mapping[str, int],
                 clock: rollout.VirtualClock) -> LiveView:
            return LiveView(screen, clock, plan, members, origin=rollout.START,
                            json_lines=json_lines)

        record, url = asyncio.run(rollout.run_release(regressed=regressed, seed=seed,
                                                      root=root, view=view))
        screen.keep_block()
        ok = rollout.as_expected(record, regressed=regressed)
        if json_lines:
            screen.line(json.dumps({"summary": name, "as_expected": ok, **record.to_dict()},
                                   default=str))
        else:
            screen.line("")
            for line in _summary(name, record, rollout.remote_log(url, root)):
                screen.line(line)
    return ok


def _summary(name: str, record: RolloutRecord, log: list[str]) -> list[str]:
    lines = [f"{name}: {record.state.value.upper()}"]
    outcome = record.outcome
    if outcome is not None and outcome.failed_cluster:
        wave = (outcome.wave or 0) + 1
        lines.append(f"  failed in wave {wave}, cluster {outcome.failed_cluster}: "
                     f"{outcome.reason}")
    weights = ", ".join(f"{row.cluster} {row.weight}%" for row in record.clusters)
    lines.append(f"  canary weights now: {weights}")
    if record.revert:
        lines.append(f"  revert: {record.revert.summary}")
        lines.extend(f"    {line}" for line in log[:3])
    return lines


# -- the judges' close-up ------------------------------------------------------------


def judges_demo(*, seed: int = 7, json_lines: bool = False,
                print_line: Callable[[str], None] = print) -> int:
    """Run both releases; exit status 0 when the healthy one passed and the regression failed."""
    from auspice.demos import judges

    verdicts = {}
    for name in judges.RELEASES:
        canary = judges.canary_for(name, seed=seed)
        if not json_lines:
            print_line(f"release '{name}': canary weight 10% -> 25% at 20m -> 50% at 45m; "
                       f"looks every minute, alpha {judges.ALPHA} shared as "
                       + ", ".join(f"{k} {v:.3g}" for k, v in canary.alphas.items()))
        show = _look_printer(print_line, json_lines=json_lines)
        verdicts[name] = asyncio.run(canary.run(show))
    if not json_lines:
        print_line("summary: " + ", ".join(f"{n} -> {v.decision.value} at minute "
                                           f"{round(v.elapsed / 60)}" for n, v in verdicts.items()))
    return 0 if judges.as_expected(verdicts) else 1


def _look_printer(print_line: Callable[[str], None], *,
                  json_lines: bool) -> Callable[[Verdict], None]:
    """Every look as JSON, or every fifth minute and the verdict as a line."""
    from auspice.demos.judges import weight_at
    from auspice.stats import Decision

    def show(verdict: Verdict) -> None:
        minute = round(verdict.elapsed / 60)
        if json_lines:
            print_line(json.dumps({"minute": minute, **verdict.to_dict()}))
            return
        final = verdict.decision in (Decision.PASS, Decision.FAIL)
        if minute % 5 and not final:
            return
        cells = []
        for m in verdict.metrics:
            r = m.result
            cells.append(f"{m.policy.name} E {r.e_value:8.3g}/{1 / m.alpha:<3.0f} "
                         f"{r.estimate:4.2f} [{r.lower:4.2f},{r.upper:4.2f}]")
        print_line(f"  t+{minute:3d}m w={weight_at(verdict.elapsed):2d}%  "
                   f"{verdict.decision.value:8s} " + " | ".join(cells))
        if final:
            print_line(f"  -> {verdict.decision.value.upper()} at minute {minute}: "
                       f"{verdict.reason}")

    return show
