"""The client against real Prometheus holding the backfilled Istio releases.

Every number the client returns is checked against prometheus-api-client reading the
same server with the same parameters, and against the generator's ground truth where
the PromQL allows it.
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime

import numpy as np
import pytest
from prometheus_api_client import PrometheusConnect
from support.prometheus import IstioPrometheus

from auspice.metrics.promapi import QueryRejectedError
from auspice.metrics.prometheus import PrometheusSource
from auspice.metrics.source import NoDataError, Series
from auspice.specs.promql import render

SCENARIOS = ["healthy", "error-regression", "latency-regression"]

ERRORS_BY_VERSION = (
    "sum by (cluster, destination_version) (rate(istio_requests_total{"
    'destination_workload_namespace="{{namespace}}", response_code=~"5.."}[{{interval}}]))'
)
P99_BY_VERSION = (
    "histogram_quantile(0.99, sum by (le, destination_version) (rate("
    'istio_request_duration_milliseconds_bucket{destination_workload_namespace="{{namespace}}"}'
    "[{{interval}}])))"
)
CPU_PER_POD = 'rate(container_cpu_usage_seconds_total{namespace="{{namespace}}"}[{{interval}}])'
MEMORY = 'container_memory_working_set_bytes{namespace="{{namespace}}"}'


def reference_range(url: str, query: str, start: float, end: float, step: float) -> list[dict]:
    client = PrometheusConnect(url=url, disable_ssl=True)
    return client.custom_query_range(
        query,
        start_time=datetime.fromtimestamp(start, UTC),
        end_time=datetime.fromtimestamp(end, UTC),
        step=str(int(step)),
    )


def assert_same_series(ours: list[Series], theirs: list[dict]) -> None:
    """Same label sets, same timestamps, bit-identical values (NaN where NaN)."""
    assert theirs, "the reference read no data: the comparison would be empty"
    by_labels = {frozenset(s.labels.items()): s for s in ours}
    assert set(by_labels) == {frozenset(item["metric"].items()) for item in theirs}
    for item in theirs:
        series = by_labels[frozenset(item["metric"].items())]
        stamps = np.array([float(t) for t, _ in item["values"]])
        values = np.array([float(v) for _, v in item["values"]])
        np.testing.assert_array_equal(series.timestamps, stamps)
        np.testing.assert_array_equal(series.values, values)  # NaN == NaN here


@pytest.fixture
async def source(istio_prometheus: IstioPrometheus):
    async with PrometheusSource(istio_prometheus.url, timeout=30) as client:
        yield client


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("template", [ERRORS_BY_VERSION, P99_BY_VERSION, CPU_PER_POD, MEMORY])
async def test_numbers_equal_prometheus_api_client(
    istio_prometheus: IstioPrometheus, source: PrometheusSource, scenario: str, template: str
) -> None:
    release = istio_prometheus.scenarios[scenario]
    query = render(template, {"namespace": release.namespace, "interval": "2m"})
    start, end, step = release.canary_start, release.end, 60.0
    ours = await source.query_range(query, start, end, step)
    theirs = await asyncio.to_thread(reference_range, istio_prometheus.url, query, start, end, step)
    assert_same_series(ours, theirs)


async def test_error_regression_is_visible_and_matches_the_truth(
    istio_prometheus: IstioPrometheus, source: PrometheusSource
) -> None:
    ratios = {}
    for scenario in ("healthy", "error-regression"):
        release = istio_prometheus.scenarios[scenario]
        window = f"{int(release.end - release.canary_start)}s"
        query = (
            'sum by (destination_version) (increase(istio_requests_total{response_code="500",'
            f'destination_workload_namespace="{release.namespace}"}}[{window}]))'
            " / sum by (destination_version) (increase(istio_requests_total{"
            f'destination_workload_namespace="{release.namespace}"}}[{window}]))'
        )
        answer = await source.query(query, release.end)
        ratios[scenario] = {s.labels["destination_version"]: s.values[0] for s in answer}
        truth = istio_prometheus.dataset.error_ratio(scenario, release.canary_version)
        assert ratios[scenario]["v2"] == pytest.approx(truth, rel=0.03)
    assert ratios["error-regression"]["v2"] > 5 * ratios["error-regression"]["v1"]
    assert ratios["healthy"]["v2"] == pytest.approx(ratios["healthy"]["v1"], rel=0.5)


async def test_latency_regression_is_visible(
    istio_prometheus: IstioPrometheus, source: PrometheusSource
) -> None:
    release = istio_prometheus.scenarios["latency-regression"]
    query = render(
        P99_BY_VERSION.replace("0.99", "0.5"), {"namespace": release.namespace, "interval": "1h"}
    )
    answer = await source.query(query, release.end)
    median = {s.labels["destination_version"]: s.values[0] for s in answer}
    assert median["v2"] > 1.5 * median["v1"]
    assert 25 < median["v1"] < 60  # generated with a 40 ms median


async def test_canary_before_its_start_is_no_data(
    istio_prometheus: IstioPrometheus, source: PrometheusSource
) -> None:
    release = istio_prometheus.scenarios["healthy"]
    query = (
        "sum(rate(istio_requests_total{"
        f'destination_workload_namespace="{release.namespace}", destination_version="v2"}}[2m]))'
    )
    with pytest.raises(NoDataError, match="returned no series"):
        await source.query_range(query, release.start, release.canary_start - 600, 60)
    [series] = await source.query_range(query, release.canary_start + 600, release.end, 60)
    assert np.all(series.values > 0)


async def test_hostile_value_cannot_inject_into_a_real_query(
    istio_prometheus: IstioPrometheus, source: PrometheusSource
) -> None:
    release = istio_prometheus.scenarios["healthy"]
    template = 'sum(rate(istio_requests_total{destination_version="{{version}}"}[2m]))'
    hostile = render(template, {"version": 'v1"} or vector(1) #'})
    with pytest.raises(NoDataError):
        await source.query(hostile, release.end)


async def test_long_range_is_split_and_equals_one_request(
    istio_prometheus: IstioPrometheus, source: PrometheusSource
) -> None:
    release = istio_prometheus.scenarios["error-regression"]
    query = render(ERRORS_BY_VERSION, {"namespace": release.namespace, "interval": "2m"})
    start, end, step = release.start, release.end, 60.0
    async with PrometheusSource(istio_prometheus.url, max_points=50) as small:
        split = await small.query_range(query, start, end, step)
    theirs = await asyncio.to_thread(reference_range, istio_prometheus.url, query, start, end, step)
    assert_same_series(split, theirs)


async def test_more_than_11000_points_work_against_real_prometheus(
    istio_prometheus: IstioPrometheus, source: PrometheusSource
) -> None:
    release = istio_prometheus.scenarios["healthy"]
    query = f'sum(container_memory_working_set_bytes{{namespace="{release.namespace}"}})'
    [series] = await source.query_range(query, release.start, release.end, 1.0)
    assert len(series) == 21_601  # Prometheus alone refuses more than 11,000 points
    assert np.all(np.diff(series.timestamps) == 1.0)
    assert not np.isnan(series.values).any()


async def test_invalid_query_is_rejected_with_prometheus_message(
    source: PrometheusSource, istio_prometheus: IstioPrometheus
) -> None:
    with pytest.raises(QueryRejectedError) as caught:
        await source.query("sum(rate(istio_requests_total[2m])", istio_prometheus.scenarios[
            "healthy"].end)  # fmt: skip
    error = caught.value
    assert error.status == 400 and error.error_type == "bad_data"
    assert "unclosed left parenthesis" in str(error)
    assert istio_prometheus.url in str(error)


async def test_nan_from_real_prometheus_is_parsed(
    istio_prometheus: IstioPrometheus, source: PrometheusSource
) -> None:
    release = istio_prometheus.scenarios["healthy"]
    [series] = await source.query("vector(0) / 0", release.end)
    assert math.isnan(series.values[0])
    [series] = await source.query("vector(1) / 0", release.end)
    assert series.values[0] == math.inf
