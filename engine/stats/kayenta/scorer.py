"""Kayenta's canary score: metric verdicts -> group scores -> one weighted score.

Rules (Kayenta's WeightedSumScorer and ThresholdScoreClassifier):

* muted metrics are left out entirely;
* a group's score is 100 x Pass / (Pass + High + Low + NodataFailMetric); Nodata and
  Error do not count.  A group with none of those reports 0 but counts as 100 in the
  summary (it has no evidence either way);
* groups without a weight share what the given weights leave of 100 equally;
* summary = sum of score x weight / 100, rounded half-up to 2 decimals;
* any critical metric that is not a Pass, or Nodata in >= 50% of the metrics, forces
  the summary to 0;
* with thresholds (pass, marginal): summary >= pass -> Pass, >= marginal -> Marginal,
  else Fail.

A metric listed in several groups counts once for the critical and Nodata rules, as in
Kayenta where one result carries several group names (identified here by its ``name``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from auspice.errors import InputError

from .classifier import Label

NODATA_THRESHOLD_PERCENT = 50.0
_COUNTED = (Label.PASS, Label.HIGH, Label.LOW, Label.NODATA_FAIL_METRIC)


class ScoreLabel(StrEnum):
    PASS = "Pass"
    MARGINAL = "Marginal"
    FAIL = "Fail"


@dataclass(frozen=True)
class ScoreThresholds:
    """Kayenta's scoreThresholds: pass and marginal, on the 0-100 summary score."""

    pass_: float
    marginal: float

    @classmethod
    def of(cls, value: ScoreThresholds | Mapping[str, float] | Sequence[float]) -> ScoreThresholds:
        if isinstance(value, ScoreThresholds):
            return value
        if isinstance(value, Mapping):
            return cls(float(value["pass"]), float(value["marginal"]))
        pass_, marginal = value
        return cls(float(pass_), float(marginal))

    def classify(self, summary_score: float) -> ScoreLabel:
        if summary_score >= self.pass_:
            return ScoreLabel.PASS
        if summary_score >= self.marginal:
            return ScoreLabel.MARGINAL
        return ScoreLabel.FAIL


@dataclass(frozen=True)
class MetricVerdict:
    """The parts of a metric result the scorer reads."""

    classification: Label
    critical: bool = False
    name: str | None = None
    reason: str | None = None
    muted: bool = False


@dataclass(frozen=True)
class ScoreResult:
    summary_score: float
    group_scores: dict[str, float]
    classification: ScoreLabel | None
    reason: str | None
    metric_count: int
    label_counts: dict[str, dict[str, int]] = field(default_factory=dict)


def _field(metric: Any, key: str, default: Any = None) -> Any:
    if isinstance(metric, Mapping):
        return metric.get(key, default)
    return getattr(metric, key, default)


def _verdict(metric: Any, group: str) -> MetricVerdict:
    raw = _field(metric, "classification")
    try:
        label = Label(str(raw))
    except ValueError:
        known = ", ".join(label.value for label in Label)
        raise InputError(
            f"group {group!r}: metric {_field(metric, 'name')!r} has classification {raw!r}",
            hint=f"expected one of {known}",
        ) from None
    return MetricVerdict(
        label,
        bool(_field(metric, "critical", False)),
        _field(metric, "name"),
        _field(metric, "reason"),
        bool(_field(metric, "muted", False)),
    )


def _group_score(labels: Sequence[Label]) -> tuple[float, bool]:
    """(score, has_no_data) of one group."""
    counted = sum(1 for label in labels if label in _COUNTED)
    passed = sum(1 for label in labels if label is Label.PASS)
    if counted == 0:
        return 0.0, True
    return passed / counted * 100, False


def _round_half_up(value: float) -> float:
    if not math.isfinite(value):
        return value
    return float(Decimal(repr(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _unique(verdicts: Iterable[MetricVerdict]) -> list[MetricVerdict]:
    seen: set[str] = set()
    unique = []
    for verdict in verdicts:
        if verdict.name is not None:
            if verdict.name in seen:
                continue
            seen.add(verdict.name)
        unique.append(verdict)
    return unique


def score(
    groups: Mapping[str, Iterable[Any]],
    group_weights: Mapping[str, float] | None = None,
    thresholds: ScoreThresholds | Mapping[str, float] | Sequence[float] | None = None,
) -> ScoreResult:
    """Score metric verdicts grouped by name, Kayenta's way.

    ``groups`` maps a group name to its metric results: ClassificationResult objects or
    mappings with ``classification`` and optionally ``critical``, ``name``, ``muted``,
    ``reason``.  ``group_weights`` maps group names to weights out of 100.
    ``thresholds`` is (pass, marginal), a mapping with those keys or ScoreThresholds.
    """
    weights = {name: float(w) for name, w in (group_weights or {}).items()}
    by_group = {
        name: [v for v in (_verdict(m, name) for m in metrics) if not v.muted]
        for name, metrics in groups.items()
    }
    by_group = {name: verdicts for name, verdicts in by_group.items() if verdicts}
    results = _unique(v for verdicts in by_group.values() for v in verdicts)

    scored = {name: _group_score([v.classification for v in vs]) for name, vs in by_group.items()}
    group_scores = {name: s for name, (s, _) in scored.items()}
    counts = {
        name: {label.value: sum(v.classification is label for v in vs) for label in Label}
        for name, vs in by_group.items()
    }

    critical = [v for v in results if v.critical and v.classification is not Label.PASS]
    nodata = sum(v.classification is Label.NODATA for v in results)
    if critical:
        summary, reason = 0.0, f"Canary Failed: {critical[0].reason or critical[0].classification}"
    elif results and nodata / len(results) * 100 >= NODATA_THRESHOLD_PERCENT:
        summary = 0.0
        reason = f"Canary Failed: {NODATA_THRESHOLD_PERCENT:g}% or more metrics returned NODATA"
    else:
        summary, reason = _weighted_summary(scored, weights), None

    label = ScoreThresholds.of(thresholds).classify(summary) if thresholds is not None else None
    return ScoreResult(summary, group_scores, label, reason, len(results), counts)


def _weighted_summary(
    scored: Mapping[str, tuple[float, bool]], weights: Mapping[str, float]
) -> float:
    unweighted = [name for name in scored if name not in weights]
    share = (100 - sum(weights.values())) / len(unweighted) if unweighted else 0.0
    total = 0.0
    for name, (group_score, no_data) in scored.items():
        effective = 100.0 if no_data else group_score
        total += effective * (weights.get(name, share) / 100)
    return _round_half_up(total)
