"""From a template's metric to the judge that decides it, one look at a time.

The statistical tests in :mod:`auspice.stats` know nothing of templates or queries;
this module builds the right test for each metric kind and feeds it the look's values
by role and scope (``("events", "canary")``...). A value of None means the query had
no data, which each test records as a no-data look.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from auspice.specs import (
    AnyMetric,
    CountsMetric,
    GaugeMetric,
    HistogramMetric,
    KayentaMetric,
    ThresholdMetric,
)
from auspice.stats import CountTest, GaugeTest, HistogramTest, TestResult, choose_boundaries
from auspice.stats.kayenta import ClassifierConfig, classify_with
from auspice.stats.results import NO_DATA, OK
from auspice.stats.threshold import ThresholdCheck

Look = Mapping[tuple[str, str], Any]  # (role, scope) -> value, bucket row, or None


class MetricJudge(Protocol):
    def update(self, look: Look) -> TestResult: ...


def _value(look: Look, role: str, scope: str) -> Any:
    value = look.get((role, scope))
    return np.nan if value is None else value


class CountsJudge:
    def __init__(self, metric: CountsMetric, alpha: float) -> None:
        self.test = CountTest(alpha=alpha, tolerance=metric.tolerance, mode=metric.test_mode)

    def update(self, look: Look) -> TestResult:
        return self.test.update(
            canary_events=_value(look, "events", "canary"),
            canary_total=_value(look, "total", "canary"),
            baseline_events=_value(look, "events", "baseline"),
            baseline_total=_value(look, "total", "baseline"))


class HistogramJudge:
    """Slow-request counts at boundaries from the metric, or from the baseline's
    histogram before the canary started. Without that reference the metric cannot be
    judged: every look is no data (which fails after the no-data limit)."""

    def __init__(self, metric: HistogramMetric, alpha: float, le: np.ndarray | None,
                 reference: np.ndarray | None) -> None:
        self.looks = 0
        self.unjudgeable = ""
        if metric.boundaries is not None:
            boundaries = list(metric.boundaries)
        elif reference is None or le is None:
            self.unjudgeable = (f"the baseline had no histogram data in the "
                                f"{metric.reference_window:g} s before the canary started, so "
                                "no boundaries could be chosen (or set fixed 'boundaries')")
            return
        else:
            boundaries = choose_boundaries(le=le, baseline_buckets=reference,
                                           quantiles=metric.effective_quantiles)
        self.le = np.asarray(le if le is not None and len(le) else [*boundaries, np.inf])
        self.test = HistogramTest(boundaries=boundaries, alpha=alpha,
                                  tolerance=metric.tolerance, mode=metric.test_mode)

    def update(self, look: Look) -> TestResult:
        self.looks += 1
        if self.unjudgeable:
            return TestResult.without_data(reason=self.unjudgeable, looks=self.looks,
                                           effect="ratio of slow-request rates")
        def row(scope: str) -> np.ndarray:
            value = look.get(("buckets", scope))
            return np.full(self.le.size, np.nan) if value is None else value

        return self.test.update(le=self.le, canary_buckets=row("canary"),
                                baseline_buckets=row("baseline"))


class GaugeJudge:
    def __init__(self, metric: GaugeMetric, alpha: float) -> None:
        self.test = GaugeTest(alpha=alpha, margin=metric.test_margin,
                              direction=metric.direction, compare=metric.compare,
                              batch=metric.batch_size)

    def update(self, look: Look) -> TestResult:
        return self.test.update(canary=_value(look, "query", "canary"),
                                baseline=_value(look, "query", "baseline"))


class ThresholdJudge:
    def __init__(self, metric: ThresholdMetric) -> None:
        self.test = ThresholdCheck(minimum=metric.minimum, maximum=metric.maximum,
                                   failure_limit=metric.failure_limit)

    def update(self, look: Look) -> TestResult:
        return self.test.update(canary=_value(look, "query", "canary"))


class KayentaJudge:
    """Kayenta's classifier on everything seen so far, re-run at each look.

    It is not anytime-valid (docs/judges.md); it is here so a Kayenta canary
    config can be judged the way Kayenta would, and ``rejected`` means "High or Low in
    the configured direction at this look", not a sticky rejection, and never before
    the template's minimum duration (a two-point Mann-Whitney interval means nothing).
    """

    def __init__(self, metric: KayentaMetric, min_looks: int) -> None:
        self.min_looks = min_looks  # no judgement on fewer points (not anytime-valid)
        gates = metric.effect_size.gates()
        self.config = ClassifierConfig.parse({
            "direction": metric.direction, "tolerance": metric.tolerance,
            "confidence": metric.confidence, "critical": metric.critical,
            "must_have_data": metric.must_have_data, "nan_strategy": metric.nan_strategy,
            "effect_size": {"measure": metric.effect_size.measure, **gates},
            "outliers": {"strategy": metric.outliers.strategy,
                         "outlier_factor": metric.outliers.outlier_factor},
            "name": metric.name})
        self.canary: list[float] = []
        self.baseline: list[float] = []
        self.looks = self.streak = self.data_looks = 0

    def update(self, look: Look) -> TestResult:
        canary, baseline = _value(look, "query", "canary"), _value(look, "query", "baseline")
        self.looks += 1
        fresh = bool(np.isfinite(canary) and np.isfinite(baseline))
        self.streak = 0 if fresh else self.streak + 1
        self.data_looks += fresh
        self.canary.append(float(canary))
        self.baseline.append(float(baseline))
        result = classify_with(np.array(self.canary), np.array(self.baseline), self.config)
        label = str(result.classification)
        no_data = label in ("Nodata", "NodataFailMetric") or not fresh
        interval = getattr(result, "interval", None) or (np.nan, np.nan)
        return TestResult(
            e_value=np.nan, p_value=np.nan,
            rejected=label in ("High", "Low") and self.looks >= self.min_looks,
            estimate=float(getattr(result, "estimate", np.nan) or np.nan),
            lower=float(interval[0]), upper=float(interval[1]),
            status=NO_DATA if no_data else OK,
            reason="" if not no_data else (result.reason or "no value this look"),
            no_data_streak=self.streak, data_looks=self.data_looks, looks=self.looks,
            effect="Mann-Whitney shift canary-baseline (Kayenta)",
            counts={"classification": label, "points": len(self.canary)})


def judge_for(metric: AnyMetric, *, alpha: float, le: np.ndarray | None = None,
              reference: np.ndarray | None = None, min_looks: int = 0) -> MetricJudge:
    """The judge of ``metric`` with its share ``alpha`` of the template's alpha."""
    if isinstance(metric, CountsMetric):
        return CountsJudge(metric, alpha)
    if isinstance(metric, HistogramMetric):
        return HistogramJudge(metric, alpha, le, reference)
    if isinstance(metric, GaugeMetric):
        return GaugeJudge(metric, alpha)
    if isinstance(metric, ThresholdMetric):
        return ThresholdJudge(metric)
    return KayentaJudge(metric, min_looks)
