"""Scorer rules beyond the upstream cases: thresholds, muted and shared metrics, inputs."""

from __future__ import annotations

import pytest

from auspice.errors import InputError
from auspice.stats.kayenta import Label, ScoreLabel, ScoreThresholds, classify, score


def m(label: str, *, name: str | None = None, critical: bool = False, muted: bool = False) -> dict:
    return {"name": name, "classification": label, "critical": critical, "muted": muted}


@pytest.mark.parametrize(
    ("thresholds", "expected"),
    [
        ((75, 50), ScoreLabel.MARGINAL),
        ({"pass": 66.67, "marginal": 50}, ScoreLabel.PASS),
        (ScoreThresholds(pass_=95, marginal=70), ScoreLabel.FAIL),
        ((66.68, 66.67), ScoreLabel.MARGINAL),
    ],
)
def test_thresholds_classify_the_summary(thresholds: object, expected: ScoreLabel) -> None:
    result = score({"g": [m("Pass"), m("Pass"), m("High")]}, {}, thresholds)
    assert result.summary_score == 66.67
    assert result.classification is expected


def test_without_thresholds_there_is_no_label() -> None:
    assert score({"g": [m("Pass")]}, {}).classification is None


def test_muted_metrics_are_left_out() -> None:
    result = score(
        {"g": [m("Pass"), m("High", muted=True, critical=True)], "h": [m("Low", muted=True)]}, {}
    )
    assert result.summary_score == 100.0
    assert result.group_scores == {"g": 100.0}
    assert result.metric_count == 1


def test_error_is_not_counted_and_nodata_fail_metric_is() -> None:
    result = score({"g": [m("Pass"), m("Error"), m("NodataFailMetric")]}, {})
    assert result.summary_score == 50.0


def test_nodata_majority_forces_zero() -> None:
    result = score({"g": [m("Pass"), m("Nodata")]}, {}, (50, 25))
    assert result.summary_score == 0.0
    assert result.classification is ScoreLabel.FAIL
    assert "NODATA" in result.reason


def test_critical_failure_forces_zero_with_its_reason() -> None:
    bad = classify([10.0, 11, 12, 13, 14], [1.0, 2, 3, 4, 5], critical=True, name="latency")
    assert bad.classification is Label.HIGH and bad.critical
    result = score({"g": [m("Pass"), bad]}, {})
    assert result.summary_score == 0.0
    assert "latency" in result.reason


def test_weights_left_over_are_shared_by_unweighted_groups() -> None:
    groups = {"a": [m("Pass")], "b": [m("High")], "c": [m("Pass")]}
    assert score(groups, {"a": 50}).summary_score == 75.0  # 50 + 0*25 + 100*25


def test_summary_rounds_half_up() -> None:
    groups = {"a": [m("Pass")], "b": [m("High")]}
    assert score(groups, {"a": 33.335, "b": 66.665}).summary_score == 33.34


def test_metric_in_two_groups_counts_once_for_the_nodata_rule() -> None:
    shared = m("Nodata", name="cpu")
    groups = {"a": [shared, m("Pass", name="err")], "b": [shared, m("Pass", name="lat")]}
    result = score(groups, {})
    assert result.metric_count == 3
    assert result.summary_score == 100.0


def test_unknown_label_is_an_input_error() -> None:
    with pytest.raises(InputError, match="Fail"):
        score({"g": [m("Fail")]}, {})
