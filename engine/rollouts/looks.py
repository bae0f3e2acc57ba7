"""One look of one cluster: every template of the plan judged at the same moment.

A cluster's canary is judged by each of the plan's templates; a look asks all of them at
once (each under its own timeout, so one slow metrics query cannot stall the others)
and combines their verdicts into one: the worst of them, FAIL before ERROR before NO
DATA before CONTINUE before PASS, with the reasons of the templates that decided it.
The analyses are built once per cluster, starting when its canary first got traffic,
and kept on the run (they are rebuilt after a restart from the stored start).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from auspice.analysis import Analysis, FailedLook
from auspice.errors import AuspiceError
from auspice.rollouts.run import RolloutRun
from auspice.specs import AnalysisTemplate, Scope
from auspice.stats import Decision, Verdict

__all__ = ["SEVERITY", "USABLE", "Look", "analyses_of", "look", "prepare_analyses"]

#: Worst first: the combined decision of several templates is the worst of theirs.
SEVERITY = (Decision.FAIL, Decision.ERROR, Decision.NO_DATA, Decision.CONTINUE, Decision.PASS)
#: Verdicts a hold may end on.
USABLE = frozenset({Decision.PASS, Decision.CONTINUE})

@dataclass
class Look:
    """The combined verdict of one look and each template's own, as recorded."""

    decision: Decision
    reason: str
    per_template: dict[str, dict[str, Any]]


def analyses_of(run: RolloutRun, cluster: str,
                templates: Mapping[str, AnalysisTemplate]) -> dict[str, Analysis]:
    """The cluster's analyses, one per template (built by :func:`prepare_analyses`)."""
    found = {name: run.analyses.get((cluster, name)) for name in templates}
    if all(found.values()):
        return {name: a for name, a in found.items() if a is not None}
    raise RuntimeError(f"analyses of cluster {cluster} were not prepared")


def prepare_analyses(run: RolloutRun, cluster: str, start: float,
                     templates: Mapping[str, AnalysisTemplate]) -> None:
    """Build (once) the cluster's analyses, starting when its canary first got traffic."""
    spec = run.plan.spec
    common = {"workload": spec.service.workload, "namespace": spec.service.namespace,
              "cluster": cluster}
    args = {ref.template: ref.args for ref in spec.analyses}
    for name, template in templates.items():
        if (cluster, name) in run.analyses and run.analyses[(cluster, name)].start == start:
            continue
        run.analyses[(cluster, name)] = Analysis(
            template=template, start=start, args=args.get(name),
            canary=Scope(version=spec.versions.canary, **common),
            baseline=Scope(version=spec.versions.baseline, **common))


async def look(run: RolloutRun, analyses: Mapping[str, Analysis], limit: float) -> Look:
    """Every template's verdict at the run's "now", combined (see the module docstring)."""
    now = run.clock.now()
    results = await asyncio.gather(*(_one_look(run, a, now, limit)
                                     for a in analyses.values()))
    per = {name: r.to_dict() for name, r in zip(analyses, results, strict=True)}
    worst = min(results, key=lambda r: SEVERITY.index(r.decision))
    reasons = "; ".join(f"{name}: {r.reason}" for name, r in zip(analyses, results, strict=True)
                        if r.decision is worst.decision)
    return Look(worst.decision, reasons, per)


async def _one_look(run: RolloutRun, analysis: Analysis, now: float,
                    limit: float) -> Verdict | FailedLook:
    try:
        async with asyncio.timeout(limit):
            return await analysis.look(run.source, now)
    except TimeoutError:
        return FailedLook(f"look timed out after {limit:g}s (metrics source too slow)",
                          now - analysis.start)
    except AuspiceError as error:  # e.g. AnalysisError: a query returned many series
        return FailedLook(f"look failed: {error}", now - analysis.start)


