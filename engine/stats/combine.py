"""Many metrics, one verdict.

The template's alpha is shared among its metrics by weight (e-Bonferroni): metric m
gets alpha_m = alpha w_m / sum(w) and rejects when its own e-process crosses 1/alpha_m.
The chance that any metric rejects falsely is then at most alpha, whatever the
dependence between metrics, and whenever one looks.

The verdict of a look, in order of precedence:

1. FAIL when a critical metric rejects, or when the weighted share of non-critical
   metrics that have not rejected falls under ``score_threshold`` (a percentage);
2. FAIL when a metric has been without data for more looks in a row than its limit;
3. at the maximum duration: FAIL when a metric never had data or a critical metric has
   none in this look, else PASS;
4. NO DATA when a critical metric has no data in this look: the rollout holds;
   PASS after the minimum duration when the confidence sequence of every critical
   metric lies inside its tolerance;
5. CONTINUE otherwise.

Metrics of weight 0 are reported but take no part in any of these rules.

Every verdict carries the evidence of every metric, so a decision can be audited.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from auspice.errors import InputError
from auspice.stats.results import OK, TestResult


class Decision(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    CONTINUE = "continue"
    NO_DATA = "nodata"
    ERROR = "error"  # the look itself failed (source down, warnings); never from decide()
    #: The maximum duration is reached with neither side decided: a person decides.
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class MetricPolicy:
    """How one metric takes part in the verdict.

    ``tolerance`` is the bound the confidence sequence's upper end must stay under for
    an early pass (a ratio for counts and histograms, the margin for gauges); None
    means the metric never allows an early pass.
    """

    name: str
    weight: float = 1.0
    critical: bool = True
    no_data_limit: int = 5
    tolerance: float | None = None


def share_alpha(alpha: float, policies: Sequence[MetricPolicy]) -> dict[str, float]:
    """Each metric's alpha: the template's alpha split in proportion to the weights.

    A metric of weight 0 gets alpha 0: it is observed (its evidence is reported) but
    never decides anything; :func:`decide` leaves it out.
    """
    if not 0.0 < alpha < 1.0:
        raise InputError(f"alpha must be in (0, 1), got {alpha}")
    names = [p.name for p in policies]
    if len(set(names)) != len(names):
        raise InputError(f"metric names must be unique, got {names}")
    if any(p.weight < 0 for p in policies):
        raise InputError("metric weights must not be negative")
    total = sum(p.weight for p in policies)
    if total <= 0:
        raise InputError("the metrics' weights sum to 0; give at least one a positive weight")
    return {p.name: alpha * p.weight / total for p in policies}


@dataclass(frozen=True)
class MetricEvidence:
    """One metric's part in a verdict: its policy, its alpha, its test state, its queries."""

    policy: MetricPolicy
    alpha: float
    result: TestResult
    kind: str = ""
    queries: Mapping[str, str] = field(default_factory=dict)

    @property
    def had_data(self) -> bool:
        return bool(self.result.data_looks > 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.policy.name,
            "kind": self.kind,
            "critical": self.policy.critical,
            "weight": self.policy.weight,
            "alpha": self.alpha,
            "threshold": 1.0 / self.alpha if self.alpha > 0 else "+Inf",
            **self.result.to_dict(),
            "queries": dict(self.queries),
        }


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reason: str
    metrics: tuple[MetricEvidence, ...]
    elapsed: float
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.decision.value,
            "reason": self.reason,
            "elapsed_seconds": self.elapsed,
            "score": self.score,
            "metrics": [m.to_dict() for m in self.metrics],
        }


def decide(
    evidence: Sequence[MetricEvidence],
    *,
    elapsed: float,
    min_duration: float,
    max_duration: float,
    score_threshold: float = 0.0,
) -> Verdict:
    """The verdict of one look from every metric's evidence (see the module docstring)."""
    if not evidence:
        raise InputError("a verdict needs at least one metric")
    everything = tuple(evidence)
    evidence = tuple(e for e in everything if e.policy.weight > 0)  # weight 0: observed only
    score = _score(evidence)

    def verdict(decision: Decision, reason: str) -> Verdict:
        return Verdict(decision, reason, everything, elapsed, score)

    critical = [e for e in evidence if e.policy.critical]
    failed = [e.policy.name for e in critical if e.result.rejected]
    if failed:
        return verdict(Decision.FAIL, "critical metric rejected: " + ", ".join(
            f"{e.policy.name} ({_effect(e)})" for e in critical if e.result.rejected))
    if len(critical) < len(evidence) and score < score_threshold:
        return verdict(Decision.FAIL, f"score {score:.1f} is under the threshold "
                       f"{score_threshold:g} (non-critical metrics rejected)")
    starved = [e for e in evidence if e.result.no_data_streak > e.policy.no_data_limit]
    if starved:
        return verdict(Decision.FAIL, "no data for longer than allowed: " + ", ".join(
            f"{e.policy.name} ({e.result.no_data_streak} looks: {e.result.reason})"
            for e in starved))
    missing = [e for e in critical if e.result.status != OK]
    if elapsed >= max_duration:
        never = [e.policy.name for e in evidence if not e.had_data]
        if never or missing:
            return verdict(Decision.FAIL, "maximum duration reached without data for: "
                           + ", ".join(never or [e.policy.name for e in missing]))
        return verdict(Decision.PASS, "maximum duration reached without a rejection")
    if missing:
        return verdict(Decision.NO_DATA, "no data this look: " + ", ".join(
            f"{e.policy.name} ({e.result.reason})" for e in missing))
    if elapsed >= min_duration and critical and all(_inside(e) for e in critical):
        return verdict(Decision.PASS, "every critical metric is inside its tolerance "
                       "(confidence sequence upper bound)")
    return verdict(Decision.CONTINUE, "not enough evidence either way yet")


def _score(evidence: Sequence[MetricEvidence]) -> float:
    """Weighted percentage of non-critical metrics not rejected (100 with none)."""
    optional = [e for e in evidence if not e.policy.critical]
    total = sum(e.policy.weight for e in optional)
    if total <= 0:
        return 100.0
    return 100.0 * sum(e.policy.weight for e in optional if not e.result.rejected) / total


def _inside(e: MetricEvidence) -> bool:
    tolerance = e.policy.tolerance
    upper = e.result.upper
    return tolerance is not None and e.had_data and upper == upper and upper < tolerance


def _effect(e: MetricEvidence) -> str:
    r = e.result
    return (f"estimate {r.estimate:.3g}, interval [{r.lower:.3g}, {r.upper:.3g}], "
            f"e-value {r.e_value:.3g} >= {1 / e.alpha:.3g}")
