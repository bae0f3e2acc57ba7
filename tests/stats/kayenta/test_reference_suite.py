"""Every case of Kayenta's own test suites (tests/data/kayenta/kayenta-suite.json), reproduced.

Each section of the file has its own parametrized test; ids are the upstream test names,
so a failure names the Kayenta test it breaks. The data's provenance is in its README.
"""

from __future__ import annotations

import json
import math
from functools import cache
from typing import Any

import numpy as np
import pytest
from support.data import KAYENTA_SUITE

import auspice.stats.kayenta as kayenta

SUITE_PATH = KAYENTA_SUITE


@cache
def _suite() -> dict[str, Any]:
    return json.loads(SUITE_PATH.read_text())


def _cases(section: str, sub: str | None = None) -> list[Any]:
    if not SUITE_PATH.exists():
        # Fail loudly rather than collect nothing: a missing reference is not a pass.
        return [pytest.param(None, id=f"missing-{SUITE_PATH}")]
    cases = _suite()[section]
    if sub is not None:
        cases = cases[sub]
    return [pytest.param(case, id=f"{i}-{case['name']}") for i, case in enumerate(cases)]


def _require(case: Any) -> dict[str, Any]:
    if case is None:
        pytest.fail(f"reference suite not found at {SUITE_PATH}")
    return case


def _close(actual: float, expected: float | str, tol: float) -> bool:
    if expected == "NaN":
        return math.isnan(actual)
    return abs(actual - float(expected)) <= tol


def test_suite_has_every_section() -> None:
    suite = _suite()
    counts = {k: len(v) for k, v in suite.items() if k != "source"}
    assert counts == {
        "mann_whitney": 5,
        "classifier": 34,
        "scorer": 13,
        "wilcoxon_diff": 2,
        "normal_quantile": 1,
        "mean_inequality_classifier": 3,
        "statistics": 3,
        "detectors": 6,
    }


@pytest.mark.parametrize("case", _cases("mann_whitney"))
def test_mann_whitney(case: Any) -> None:
    case = _require(case)
    lower, upper, estimate = kayenta.mann_whitney(
        case["experiment"], case["control"], case["confidence"]
    )
    expected = case["expected"]
    assert lower == pytest.approx(expected["lower"], abs=case["abs_tolerance"])
    assert upper == pytest.approx(expected["upper"], abs=case["abs_tolerance"])
    assert estimate == pytest.approx(expected["estimate"], abs=case["estimate_abs_tolerance"])


@pytest.mark.parametrize("case", _cases("mann_whitney"))
def test_mann_whitney_intermediate_values(case: Any) -> None:
    case = _require(case)
    steps = case["expected"].get("intermediate")
    if steps is None:
        # only one upstream case asserts intermediate values; check the others' range
        x, y = np.asarray(case["experiment"]), np.asarray(case["control"])
        lower, upper, _ = kayenta.mann_whitney(x, y, case["confidence"])
        assert x.min() - y.max() <= min(lower, upper) <= max(lower, upper) <= x.max() - y.min()
        return
    tol = case["abs_tolerance"]
    x, y = case["experiment"], case["control"]
    alpha = 1 - case["confidence"]
    z = kayenta.normal_quantile(alpha / 2)
    assert min(x) - max(y) == pytest.approx(steps["mu_min"], abs=tol)
    assert max(x) - min(y) == pytest.approx(steps["mu_max"], abs=tol)
    assert -z == pytest.approx(steps["zq_lower"], abs=tol)
    assert z == pytest.approx(steps["zq_upper"], abs=tol)
    for end, mu in (("min", steps["mu_min"]), ("max", steps["mu_max"])):
        for side, zq in (("lower", steps["zq_lower"]), ("upper", steps["zq_upper"])):
            value = kayenta.wilcoxon_diff(mu, zq, x, y)
            assert value == pytest.approx(steps[f"wilcoxon_diff_mu_{end}_zq_{side}"], abs=tol)


@pytest.mark.parametrize("case", _cases("classifier"))
def test_classifier(case: Any) -> None:
    case = _require(case)
    result = kayenta.classify(case["experiment"], case["control"], **case["config"])
    expected = case["expected"]
    assert expected, "every upstream case asserts something"
    if "classification" in expected:
        assert result.classification == expected["classification"]
        assert isinstance(result.classification, str)
    if "critical" in expected:
        assert result.critical is expected["critical"]
    if "deviation" in expected:
        assert _close(result.deviation, expected["deviation"], 1e-9)
    if expected.get("reason_nonempty"):
        assert result.reason


@pytest.mark.parametrize("case", _cases("scorer"))
def test_scorer(case: Any) -> None:
    case = _require(case)
    result = kayenta.score(case["groups"], case["group_weights"])
    expected = case["expected"]
    assert result.summary_score == pytest.approx(
        expected["summary_score"], abs=case["abs_tolerance"]
    )
    for group, value in expected.get("group_scores", {}).items():
        assert result.group_scores[group] == pytest.approx(value, abs=case["abs_tolerance"])


@pytest.mark.parametrize("case", _cases("wilcoxon_diff"))
def test_wilcoxon_diff(case: Any) -> None:
    case = _require(case)
    value = kayenta.wilcoxon_diff(case["mu"], case["zq"], case["experiment"], case["control"])
    assert value == pytest.approx(case["expected"], abs=case["abs_tolerance"])


@pytest.mark.parametrize("case", _cases("normal_quantile"))
def test_normal_quantile(case: Any) -> None:
    case = _require(case)
    assert kayenta.normal_quantile(case["p"]) == pytest.approx(
        case["expected"], abs=case["abs_tolerance"]
    )


@pytest.mark.parametrize("case", _cases("mean_inequality_classifier"))
def test_mean_inequality_classifier(case: Any) -> None:
    case = _require(case)
    result = kayenta.classify_mean_inequality(case["experiment"], case["control"], **case["config"])
    assert result.classification == case["expected"]["classification"]


@pytest.mark.parametrize("case", _cases("statistics", "summary"))
def test_summary_statistics(case: Any) -> None:
    case = _require(case)
    result = kayenta.summary(case["values"])._asdict()
    for key, value in case["expected"].items():
        assert result[key] == pytest.approx(value, abs=case["abs_tolerance"][key]), key


@pytest.mark.parametrize("case", _cases("statistics", "percentile"))
def test_percentile(case: Any) -> None:
    case = _require(case)
    value = kayenta.percentile(case["values"], case["p"])
    assert value == pytest.approx(case["expected"], abs=case["abs_tolerance"])


_EFFECTS = {"meanRatio": kayenta.mean_ratio, "cles": kayenta.cles, "cohenD": kayenta.cohen_d}


@pytest.mark.parametrize("case", _cases("statistics", "effect_size"))
def test_effect_size(case: Any) -> None:
    case = _require(case)
    experiment, control = case["experiment"], case["control"]
    if case.get("computed_from_summary_statistics"):
        experiment, control = kayenta.summary(experiment), kayenta.summary(control)
    value = _EFFECTS[case["measure"]](experiment, control)
    assert _close(value, case["expected"], case["abs_tolerance"])


_DETECTORS = {"ksigma": kayenta.ksigma_outliers, "iqr": kayenta.iqr_outliers}


@pytest.mark.parametrize("case", _cases("detectors"))
def test_detectors(case: Any) -> None:
    case = _require(case)
    mask = _DETECTORS[case["detector"]](case["values"], **case["params"])
    assert mask.tolist() == case["expected_outliers"]
