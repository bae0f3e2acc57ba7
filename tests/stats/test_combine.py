"""share_alpha and decide: the precedence of combine.py's docstring, rule by rule.

Each precedence test builds the situation where two rules both apply and checks that
the higher one wins, so swapping two branches in ``decide`` fails a test.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from auspice.errors import InputError
from auspice.stats import (
    CountTest,
    Decision,
    GaugeTest,
    HistogramTest,
    MetricEvidence,
    MetricPolicy,
    TestResult,
    decide,
    share_alpha,
)


def result(*, rejected=False, status="ok", reason="", streak=0, data_looks=3,
           upper=1.5, lower=0.8, e_value=1.0, estimate=1.0) -> TestResult:
    return TestResult(
        e_value=e_value, p_value=min(1.0, 1 / e_value) if e_value > 0 else 1.0,
        rejected=rejected, estimate=estimate, lower=lower, upper=upper, status=status,
        reason=reason, no_data_streak=streak, data_looks=data_looks, looks=max(3, streak),
        effect="rate ratio canary/baseline", counts={"canary_events": 3.0})


def evidence(name, *, critical=True, weight=1.0, limit=5, tolerance=None, alpha=0.025,
             **kwargs) -> MetricEvidence:
    policy = MetricPolicy(name=name, weight=weight, critical=critical,
                          no_data_limit=limit, tolerance=tolerance)
    return MetricEvidence(policy=policy, alpha=alpha, result=result(**kwargs),
                          kind="count", queries={"canary": f"sum(rate({name}[1m]))"})


def verdict(*metrics, elapsed=600.0, min_duration=300.0, max_duration=3600.0, threshold=0.0):
    return decide(list(metrics), elapsed=elapsed, min_duration=min_duration,
                  max_duration=max_duration, score_threshold=threshold)


# -- share_alpha -------------------------------------------------------------------


def test_share_alpha_is_proportional_and_sums_to_alpha():
    policies = [MetricPolicy("errors", weight=3), MetricPolicy("latency", weight=1.5),
                MetricPolicy("cpu", weight=0.5)]
    shares = share_alpha(0.05, policies)
    assert shares == pytest.approx({"errors": 0.03, "latency": 0.015, "cpu": 0.005})
    assert math.fsum(shares.values()) == pytest.approx(0.05, rel=1e-12)


def test_share_alpha_equal_weights():
    shares = share_alpha(0.1, [MetricPolicy(str(i)) for i in range(4)])
    assert all(a == pytest.approx(0.025) for a in shares.values())


@pytest.mark.parametrize(("alpha", "policies", "words"), [
    (0.0, [MetricPolicy("a")], "alpha"),
    (1.0, [MetricPolicy("a")], "alpha"),
    (0.05, [MetricPolicy("a"), MetricPolicy("a")], "unique"),
    (0.05, [MetricPolicy("a", weight=-1)], "negative"),
    (0.05, [MetricPolicy("a", weight=0)], "sum to 0"),
    (0.05, [], "sum to 0"),
])
def test_share_alpha_rejects_bad_input(alpha, policies, words):
    with pytest.raises(InputError, match=words):
        share_alpha(alpha, policies)


# -- decide: each rule and its precedence -------------------------------------------


def test_continue_when_nothing_is_decided():
    v = verdict(evidence("errors"))
    assert v.decision is Decision.CONTINUE


def test_critical_rejection_fails():
    v = verdict(evidence("errors", rejected=True, e_value=80.0), evidence("cpu"))
    assert v.decision is Decision.FAIL
    assert "errors" in v.reason and "cpu" not in v.reason


def test_critical_rejection_beats_everything_else():
    v = verdict(
        evidence("errors", rejected=True, e_value=80.0),
        evidence("latency", status="no_data", reason="empty result", streak=99),
        evidence("cpu", critical=False, rejected=True),
        elapsed=10_000.0, threshold=100.0,
    )
    assert v.decision is Decision.FAIL
    assert v.reason.startswith("critical metric rejected")


def test_non_critical_rejection_alone_does_not_fail_without_a_threshold():
    v = verdict(evidence("errors"), evidence("cpu", critical=False, rejected=True))
    assert v.decision is Decision.CONTINUE
    assert v.score == 0.0


def test_score_under_threshold_fails():
    metrics = [evidence("errors"),
               evidence("cpu", critical=False, weight=1.0, rejected=True),
               evidence("mem", critical=False, weight=3.0)]
    assert verdict(*metrics, threshold=80.0).decision is Decision.FAIL
    assert verdict(*metrics, threshold=75.0).decision is Decision.CONTINUE
    assert verdict(*metrics).score == pytest.approx(75.0)


def test_score_threshold_beats_no_data():
    v = verdict(evidence("errors", status="no_data", reason="no traffic", streak=99),
                evidence("cpu", critical=False, rejected=True), threshold=50.0)
    assert v.decision is Decision.FAIL and "score" in v.reason


def test_no_data_streak_over_the_limit_fails_and_beats_holding():
    at_limit = verdict(evidence("errors", status="no_data", reason="no traffic",
                                streak=5, limit=5))
    over = verdict(evidence("errors", status="no_data", reason="no traffic",
                            streak=6, limit=5))
    assert at_limit.decision is Decision.NO_DATA
    assert over.decision is Decision.FAIL
    assert "errors" in over.reason and "no traffic" in over.reason


def test_no_data_streak_of_a_non_critical_metric_fails_too():
    v = verdict(evidence("errors"), evidence("cpu", critical=False, status="no_data",
                                             reason="NaN", streak=3, limit=2))
    assert v.decision is Decision.FAIL


def test_no_data_of_a_critical_metric_fails_at_max_duration():
    # Holding on no data past the maximum duration would never end (a no-data limit
    # longer than the analysis); the analysis could not confirm the canary: FAIL.
    v = verdict(evidence("errors", status="no_data", reason="no traffic", streak=1),
                evidence("cpu"), elapsed=3600.0)
    assert v.decision is Decision.FAIL
    assert "errors" in v.reason and "without data" in v.reason
    held = verdict(evidence("errors", status="no_data", reason="no traffic", streak=1),
                   evidence("cpu"), elapsed=3000.0)
    assert held.decision is Decision.NO_DATA and "no traffic" in held.reason


def test_no_data_of_a_non_critical_metric_does_not_hold():
    v = verdict(evidence("errors"), evidence("cpu", critical=False, status="no_data",
                                             reason="NaN", streak=1))
    assert v.decision is Decision.CONTINUE


def test_no_data_beats_early_pass():
    v = verdict(evidence("errors", status="no_data", reason="no traffic", streak=1,
                         tolerance=2.0, upper=1.1))
    assert v.decision is Decision.NO_DATA


def test_pass_at_max_duration():
    v = verdict(evidence("errors"), evidence("cpu", critical=False, rejected=True),
                elapsed=3600.0)
    assert v.decision is Decision.PASS


def test_max_duration_never_passes_a_metric_that_never_had_data():
    v = verdict(evidence("errors"),
                evidence("cpu", critical=False, data_looks=0, status="no_data",
                         reason="empty", streak=2),
                elapsed=3600.0)
    assert v.decision is not Decision.PASS
    assert v.decision is Decision.FAIL and "cpu" in v.reason


def test_early_pass_when_every_critical_upper_bound_is_under_tolerance():
    metrics = [evidence("errors", tolerance=1.2, upper=1.1),
               evidence("latency", tolerance=1.5, upper=1.4),
               evidence("cpu", critical=False, upper=50.0)]
    assert verdict(*metrics).decision is Decision.PASS
    assert verdict(*metrics, elapsed=200.0).decision is Decision.CONTINUE


@pytest.mark.parametrize("changes", [
    {"upper": 1.2},                 # not strictly under
    {"upper": float("nan")},        # crossed interval
    {"upper": float("inf")},        # no information
    {"tolerance": None},            # no early pass allowed
    {"data_looks": 0},              # never had data
])
def test_no_early_pass_unless_strictly_inside(changes):
    args = {"tolerance": 1.2, "upper": 1.1, **changes}
    v = verdict(evidence("errors", **args), evidence("latency", tolerance=2.0, upper=1.0))
    assert v.decision is Decision.CONTINUE


def test_no_early_pass_without_critical_metrics():
    v = verdict(evidence("cpu", critical=False, tolerance=2.0, upper=1.0))
    assert v.decision is Decision.CONTINUE


def test_decide_needs_evidence():
    with pytest.raises(InputError):
        decide([], elapsed=0.0, min_duration=0.0, max_duration=1.0)


# -- the verdict as evidence ----------------------------------------------------------


def test_verdict_to_dict_is_strict_json_with_non_finite_numbers_as_strings():
    v = verdict(
        evidence("errors", rejected=True, e_value=float("inf"), lower=float("nan"),
                 upper=float("inf"), estimate=float("-inf")),
        evidence("latency", status="no_data", reason="NaN", streak=1, data_looks=0),
    )
    text = json.dumps(v.to_dict(), allow_nan=False)
    back = json.loads(text)
    assert back["verdict"] == "fail"
    first = back["metrics"][0]
    assert first["e_value"] == "+Inf" and first["lower"] == "NaN"
    assert first["estimate"] == "-Inf" and first["rejected"] is True
    assert first["name"] == "errors" and first["queries"] == {"canary": "sum(rate(errors[1m]))"}
    assert first["threshold"] == pytest.approx(40.0)


def test_real_results_serialize_scalar_and_vectorized():
    count = CountTest()
    scalar = count.update(canary_events=0, canary_total=0, baseline_events=0, baseline_total=0)
    many = CountTest().update(canary_events=np.array([1.0, np.nan, 5.0]),
                              canary_total=np.array([10.0, 10.0, 0.0]),
                              baseline_events=np.array([0.0, 1.0, 1.0]),
                              baseline_total=np.array([10.0, 10.0, 10.0]))
    gauge = GaugeTest(batch=1)
    for x in (1.0, 2.0, 3.0):
        g = gauge.update(canary=x, baseline=0.0)
    le = [0.1, float("inf")]
    h = HistogramTest(boundaries=[0.1]).update(le=le, canary_buckets=[[1, 2]] * 2,
                                               baseline_buckets=[[1, 3]] * 2)
    for r in (scalar, many, g, h, many[1], h[0]):
        text = json.dumps(r.to_dict(), allow_nan=False)
        assert json.loads(text)["looks"] == r.looks
    assert json.loads(json.dumps(many.to_dict(), allow_nan=False))["status"] == [
        "ok", "no_data", "no_data"]
    policies = [MetricPolicy("errors", tolerance=1.5), MetricPolicy("cpu", critical=False)]
    alphas = share_alpha(0.05, policies)
    v = decide([MetricEvidence(policy=policies[0], alpha=alphas["errors"], result=scalar),
                MetricEvidence(policy=policies[1], alpha=alphas["cpu"], result=g)],
               elapsed=60.0, min_duration=0.0, max_duration=60.0)
    back = json.loads(json.dumps(v.to_dict(), allow_nan=False))
    assert back["verdict"] == v.decision.value
    assert back["metrics"][0]["upper"] == "+Inf"
