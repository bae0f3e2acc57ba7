"""``kind: RolloutPlan``: what a rollout moves, where, in which order, and what it judges.

A plan is written once by the team that owns the service and reviewed like code, so it
is validated like an AnalysisTemplate (strict, camelCase, every problem at file:line,
``auspice validate`` covers it). It says:

* ``service``: the Istio VirtualService routes that carry the canary (an
  :class:`~auspice.specs.targets.IstioTarget`) plus the workload name the analyses
  fill into ``{{workload}}``;
* ``versions``: the canary and the baseline version label values;
* ``release``: the commit (repository, branch, sha) that introduced the canary, which
  a failed rollout reverts;
* ``analyses``: the templates (library names or names given to the service) and their
  arguments, judged in every cluster of every wave;
* ``waves``: each selects clusters by labels, may bound how many move at once, may
  require a manual approval before it starts, and has steps (weight and hold; the last
  step is 100);
* ``options``: bake time between waves, what a "no data" look does, whether one
  cluster's failure fails the whole rollout, whether to revert the commit, whether a
  revert that conflicts may fall back to reverting the range up to the head
  (``rangeRevert``), and which Argo CD / Flux objects to nudge after a revert.

The cross-field rules (last step 100, weights rising, wave names unique) are checks,
so they are reported with everything else in one pass.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, PlainSerializer

from auspice.specs.base import ObjectName, UserModel, bounded
from auspice.specs.durations import Duration, format_duration
from auspice.specs.loader import DocumentKind, load_file, model_from_data, register_kind
from auspice.specs.problems import Finding, Problem, SpecError
from auspice.specs.selectors import LabelSelector
from auspice.specs.targets import IstioTarget, NudgeTarget
from auspice.specs.template import API_VERSION, Metadata

__all__ = [
    "AnalysisRef",
    "PlanOptions",
    "Release",
    "RolloutPlan",
    "ServiceTarget",
    "Step",
    "Versions",
    "Wave",
    "load_plan",
    "plan_from_data",
    "planned_seconds",
]

Weight = bounded(int, low=0, high=100, what="weight",
                 hint="a step's canary weight is an integer percent 0..100, e.g. 10")
#: A duration that writes itself back as text (``5m``), so a stored plan reloads as written.
PlanDuration = Annotated[Duration, PlainSerializer(format_duration, return_type=str,
                                                   when_used="json")]
Parallel = bounded(int, low=1, what="maxParallel",
                   hint="how many clusters of the wave move at once: 1 or more")


class ServiceTarget(IstioTarget):
    """The VirtualService routes of the canary, and the workload the analyses look at."""

    workload: str = Field(min_length=1)


class Versions(UserModel):
    canary: str = Field(min_length=1)
    baseline: str = Field(min_length=1)


class Release(UserModel):
    """The commit that introduced the canary in the GitOps repository."""

    repository: str = Field(min_length=1)
    branch: str = Field(default="main", min_length=1)
    sha: str = Field(pattern=r"^[0-9a-fA-F]{7,64}$")


class AnalysisRef(UserModel):
    template: str = Field(min_length=1, description="library template name or a name the "
                          "service was given (auspice serve --templates)")
    args: dict[str, str] = Field(default_factory=dict)


class Step(UserModel):
    weight: Weight
    hold: PlanDuration


class Wave(UserModel):
    name: ObjectName
    clusters: LabelSelector
    max_parallel: Parallel | None = None
    require_approval: bool = False
    steps: list[Step] = Field(min_length=1)


class PlanOptions(UserModel):
    bake_time: PlanDuration | None = None
    on_no_data: Literal["hold", "fail"] = Field(
        default="hold", description="hold: a step does not end on a 'no data' look, it "
        "waits up to undecidedTimeout for a usable one, then fails; fail: fail at once")
    undecided_timeout: PlanDuration = 600.0
    fail_whole_rollout: bool = True
    revert: bool = True
    range_revert: bool = Field(
        default=False, description="when later commits make the release's revert conflict, "
        "restore the branch to its content before the release in one commit (it also undoes "
        "those later commits; docs/gitops.md)")
    nudge: list[NudgeTarget] = Field(
        default_factory=list, description="Argo CD Applications or Flux objects in the hub "
        "cluster to annotate after a pushed revert, so they sync now instead of at their next "
        "poll; needs rollouts.hub in the service configuration")


class PlanSpec(UserModel):
    service: ServiceTarget
    versions: Versions
    release: Release
    analyses: list[AnalysisRef] = Field(min_length=1)
    waves: list[Wave] = Field(min_length=1)
    options: PlanOptions = Field(default_factory=PlanOptions)


class RolloutPlan(UserModel):
    api_version: Literal["auspice.dev/v1alpha1"]
    kind: Literal["RolloutPlan"]
    metadata: Metadata
    spec: PlanSpec

    @property
    def name(self) -> str:
        return self.metadata.name

    def to_data(self) -> dict[str, object]:
        """JSON-ready data that :func:`plan_from_data` turns back into this plan."""
        return self.model_dump(mode="json", by_alias=True)


def plan_findings(plan: RolloutPlan) -> list[Finding]:
    """Rules across fields: unique wave names, rising weights, the last step at 100."""
    findings: list[Finding] = []
    names = [wave.name for wave in plan.spec.waves]
    for index, wave in enumerate(plan.spec.waves):
        path: tuple[str | int, ...] = ("spec", "waves", index)
        if names.index(wave.name) != index:
            findings.append(Finding((*path, "name"), f"wave name {wave.name!r} is used twice",
                                    "give every wave its own name"))
        weights = [step.weight for step in wave.steps]
        if weights[-1] != 100:
            findings.append(Finding((*path, "steps", len(weights) - 1, "weight"),
                                    f"the last step of wave {wave.name!r} has weight "
                                    f"{weights[-1]}, not 100",
                                    "end every wave with a step at weight 100 (promotion)"))
        for k in range(1, len(weights)):
            if weights[k] <= weights[k - 1]:
                findings.append(Finding((*path, "steps", k, "weight"),
                                        f"step weights must rise: {weights[k - 1]} then "
                                        f"{weights[k]}", "order the steps by rising weight"))
        if weights[0] == 0:
            findings.append(Finding((*path, "steps", 0, "weight"), "a step at weight 0 sends "
                                    "no traffic to the canary, so nothing can be judged",
                                    "start at a small weight such as 5 or 10"))
    return findings


ROLLOUT_PLAN = DocumentKind(api_version=API_VERSION, kind="RolloutPlan", model=RolloutPlan,
                            check=plan_findings)
register_kind(ROLLOUT_PLAN)


def load_plan(path: str | Path) -> RolloutPlan:
    """The one RolloutPlan in the file at ``path`` (a :class:`SpecError` otherwise)."""
    plans = load_file(path, RolloutPlan)
    if len(plans) != 1:
        raise SpecError([Problem(file=str(path), line=None, column=None, field="",
                                 message=f"expected exactly one RolloutPlan, found {len(plans)}",
                                 hint="put one plan per file")])
    return plans[0]


def plan_from_data(data: object, *, source: str = "<data>") -> RolloutPlan:
    """A plan from parsed JSON/YAML data (the API), with the same checks as a file."""
    return model_from_data(data, RolloutPlan, source=source)


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
