"""The synthetic Istio data: deterministic, sorted, complete, and true to its scenario."""

from __future__ import annotations

import re

import numpy as np
from support.istio_data import SCENARIOS, generate, to_openmetrics

ONE = [SCENARIOS["error-regression"]]


def test_generation_is_deterministic() -> None:
    first = generate(ONE, clusters=["east"])
    second = generate(ONE, clusters=["east"])
    assert first.openmetrics() == second.openmetrics()


def test_openmetrics_is_grouped_sorted_and_terminated() -> None:
    text = generate(ONE, clusters=["east"]).openmetrics()
    assert text.endswith("# EOF\n")
    last_time: dict[str, float] = {}
    families: list[str] = []
    for line in text.splitlines()[:-1]:
        if line.startswith("# TYPE "):
            families.append(line.split()[2])
            continue
        series, _value, stamp = line.rsplit(" ", 2)
        assert series.split("{")[0].startswith(families[-1])
        assert float(stamp) > last_time.get(series, -1.0)
        last_time[series] = float(stamp)
    assert len(families) == len(set(families))  # each family written once


def test_blocks_partition_the_samples() -> None:
    dataset = generate(ONE, clusters=["east"])
    whole = dataset.openmetrics().splitlines()
    blocks = dataset.openmetrics_blocks()
    samples = [line for block in blocks for line in block.splitlines() if not line.startswith("#")]
    assert sorted(samples) == sorted(line for line in whole if not line.startswith("#"))
    assert len(blocks) == 4  # 6 h from a 2 h boundary, plus the final sample


def test_counters_never_decrease_and_histograms_are_cumulative() -> None:
    dataset = generate(ONE, clusters=["east"])
    for series in dataset.series:
        if series.kind in ("counter", "histogram"):
            assert np.all(np.diff(series.values) >= 0), series.labels
    buckets = [
        s
        for s in dataset.series
        if s.name.endswith("_bucket")
        and s.labels["response_code"] == "200"
        and s.labels["destination_version"] == "v2"
    ]
    final = [s.values[-1] for s in buckets]
    assert final == sorted(final)
    assert buckets[-1].labels["le"] == "+Inf"


def test_the_scenario_truth_is_what_was_asked_for() -> None:
    dataset = generate(ONE)
    assert abs(dataset.error_ratio("error-regression", "v2") - 0.05) < 0.003
    assert abs(dataset.error_ratio("error-regression", "v1") - 0.005) < 0.001


def test_label_values_are_escaped() -> None:
    from support.istio_data import MetricSeries

    series = MetricSeries("x", "gauge", "x", {"a": 'q"\\\n'}, np.array([1.0]), np.array([2.0]))
    line = to_openmetrics([series]).splitlines()[1]
    assert re.fullmatch(r'x\{a="q\\"\\\\\\n"\} 2\.0 1\.000', line)
