"""Classifier behaviour beyond the upstream cases: config handling, cleaning, evidence."""

from __future__ import annotations

import math

import numpy as np
import pytest

from auspice.errors import ConfigError
from auspice.stats.kayenta import (
    JUDGE_CONFIDENCE,
    ClassifierConfig,
    Label,
    classify,
    classify_with,
    mann_whitney,
)

RNG = np.random.default_rng(20240601)
BASE = RNG.normal(100, 5, 120)
HIGHER = RNG.normal(130, 5, 120)


def test_defaults_are_the_netflix_judge_ones() -> None:
    cfg = ClassifierConfig()
    assert (cfg.tolerance, cfg.confidence) == (0.25, JUDGE_CONFIDENCE) == (0.25, 0.98)
    assert cfg.effect_size.thresholds == (1.0, 1.0)
    cles = ClassifierConfig(effect_size={"measure": "cles"})
    assert cles.effect_size.thresholds == cles.effect_size.critical_thresholds == (0.5, 0.5)


def test_result_carries_the_evidence() -> None:
    result = classify(HIGHER, BASE)
    assert result.classification is Label.HIGH
    assert result.interval == pytest.approx(tuple(mann_whitney(HIGHER, BASE, 0.98)))
    assert result.estimate == pytest.approx(30, abs=3)
    low, high = result.bounds
    assert high == pytest.approx(0.25 * abs(result.estimate)) and low == -high
    assert result.deviation == pytest.approx(HIGHER.mean() / BASE.mean())
    assert result.effect_size == result.deviation  # meanRatio is the default measure
    assert result.experiment.count == 120 and result.control.mean == pytest.approx(BASE.mean())
    assert "High" in result.reason


def test_direction_limits_what_fails() -> None:
    assert classify(HIGHER, BASE, direction="decrease").classification is Label.PASS
    assert classify(BASE, HIGHER, direction="increase").classification is Label.PASS
    assert classify(BASE, HIGHER, direction="decrease").classification is Label.LOW


def test_tolerance_band_absorbs_small_shifts() -> None:
    slightly = BASE + 2.0
    assert classify(slightly, BASE, tolerance=0.0).classification is Label.HIGH
    assert classify(slightly, BASE, tolerance=10.0).classification is Label.PASS


def test_effect_size_threshold_can_veto_a_significant_shift() -> None:
    config = {"effect_size": {"allowed_increase": 1.5}}
    assert classify(HIGHER, BASE, **config).classification is Label.PASS


def test_critical_needs_the_critical_threshold() -> None:
    mild = classify(HIGHER, BASE, critical=True, effect_size={"critical_increase": 2.0})
    assert (mild.classification, mild.critical) == (Label.HIGH, False)
    severe = classify(HIGHER, BASE, critical=True, effect_size={"critical_increase": 1.2})
    assert (severe.classification, severe.critical) == (Label.HIGH, True)
    assert "Critical" in severe.reason


@pytest.mark.parametrize(
    ("config", "label", "critical"),
    [
        ({}, Label.NODATA, False),
        ({"critical": True}, Label.NODATA, True),
        ({"must_have_data": True}, Label.NODATA_FAIL_METRIC, False),
        ({"must_have_data": True, "critical": True}, Label.NODATA, True),
        ({"nan_strategy": "replace"}, Label.PASS, False),
    ],
)
def test_missing_data(config: dict, label: Label, critical: bool) -> None:
    result = classify([], BASE, **config)
    assert (result.classification, result.critical) == (label, critical)


def test_nan_strategies() -> None:
    experiment = [math.nan, math.nan, 5.0, 5.0, 5.0]
    control = [5.0, 5.0, 5.0]
    # removed: identical data
    assert classify(experiment, control).reason == "The Canary and Baseline data are identical"
    # replaced by zeros: the canary now has values below every baseline value
    replaced = classify(experiment, control, nan_strategy="replace", tolerance=0.0)
    assert replaced.experiment.count == 5 and replaced.experiment.min == 0.0


def test_outlier_removal_uses_the_judge_iqr_fences() -> None:
    spiky = np.concatenate((BASE, [1e6]))
    kept = classify(spiky, BASE, outliers={"strategy": "keep"})
    removed = classify(spiky, BASE, outliers={"strategy": "remove"})
    assert kept.experiment.count == 121 and kept.experiment.max == 1e6
    assert removed.experiment.count == 120 and removed.experiment.max < 1e6


def test_kayenta_camel_case_keys_are_accepted() -> None:
    camel = classify(
        HIGHER,
        BASE,
        nanStrategy="replace",
        mustHaveData=True,
        effectSize={"measure": "meanRatio", "allowedIncrease": 1.5},
        outliers={"strategy": "remove", "outlierFactor": 2.0},
    )
    snake = classify(
        HIGHER,
        BASE,
        nan_strategy="replace",
        must_have_data=True,
        effect_size={"measure": "meanRatio", "allowed_increase": 1.5},
        outliers={"strategy": "remove", "outlier_factor": 2.0},
    )
    assert camel == snake
    assert camel.classification is Label.PASS  # the 1.5 threshold was read


@pytest.mark.parametrize(
    "config",
    [
        {"direction": "sideways"},
        {"confidence": 1.0},
        {"tolerance": -0.1},
        {"nan_strategy": "ignore"},
        {"effect_size": {"measure": "cohenD"}},
        {"outliers": {"strategy": "remove", "outlier_factor": 0}},
        {"unknown_key": 1},
    ],
)
def test_invalid_config_is_a_config_error(config: dict) -> None:
    with pytest.raises(ConfigError, match="invalid Kayenta classifier config"):
        classify(BASE, BASE, **config)


def test_constant_samples_get_deterministic_noise() -> None:
    first = classify([10.0] * 5, [1.0] * 5)
    again = classify([10.0] * 5, [1.0] * 5)
    assert first == again
    assert first.classification is Label.HIGH
    lower, upper, estimate = first.interval
    assert 8.99 < lower <= estimate <= upper < 9.01


@pytest.mark.parametrize("seed", range(10))
def test_tied_rank_labels_do_not_depend_on_the_noise(seed: int) -> None:
    assert classify([10.0] * 5, [1.0] * 5, seed=seed).classification is Label.HIGH
    assert classify([0.0] * 5, [10.0] * 5, seed=seed).classification is Label.LOW


def test_errors_are_reported_not_raised() -> None:
    result = classify([1.0, math.inf], [1.0, 2.0])
    assert result.classification is Label.ERROR and result.critical is False
    assert "infinite" in result.reason
    odd = classify([["a"]], [1.0])
    assert odd.classification is Label.ERROR


def test_classify_with_a_prepared_config_matches_classify() -> None:
    cfg = ClassifierConfig.parse({"confidence": 0.95, "tolerance": 0.1})
    assert classify_with(HIGHER, BASE, cfg) == classify(
        HIGHER, BASE, confidence=0.95, tolerance=0.1
    )
