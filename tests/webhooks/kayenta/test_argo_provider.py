"""Argo Rollouts' kayenta provider against Auspice and real Prometheus data."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.argo_kayenta import KayentaMetric, ScopeDetail, measure
from support.istio_data import SCENARIOS
from support.kayenta import (
    WINDOW_END,
    WINDOW_START,
    iso,
    reviews_config,
    write_configs,
)
from support.prometheus import IstioPrometheus

from auspice.metrics.prometheus import PrometheusSource


def argo_metric(scenario: str, **overrides: object) -> KayentaMetric:
    namespace = SCENARIOS[scenario].namespace
    start, end = iso(WINDOW_START), iso(WINDOW_END)
    settings: dict[str, object] = {
        "application": "reviews",
        "canary_config_name": "reviews-golden",
        "control": ScopeDetail("v1", start, end, 60, region=namespace),
        "experiment": ScopeDetail("v2", start, end, 60, region=namespace),
    }
    settings.update(overrides)
    return KayentaMetric(**settings)  # type: ignore[arg-type]


@pytest.fixture
async def argo_app(start_app, istio_prometheus: IstioPrometheus, tmp_path: Path):
    from support.kayenta import RecordingSource

    directory = write_configs(tmp_path / "configs", reviews_config())
    async with PrometheusSource(istio_prometheus.url, timeout=20.0) as prometheus:
        yield await start_app(
            source=RecordingSource(inner=prometheus),
            kayenta={"configDirectory": str(directory), "allowAnonymous": "judge"},
        )


def results_by_name(status: dict) -> dict[str, dict]:
    return {r["name"]: r for r in status["result"]["judgeResult"]["results"]}


async def test_healthy_canary_scores_high(argo_app) -> None:
    measurement = await measure(argo_app.client, argo_metric("healthy"))

    assert measurement.phase == "Successful", measurement
    assert measurement.value == "100"
    status = measurement.status
    assert status["status"] == "succeeded"
    assert status["result"]["judgeResult"]["score"]["classification"] == "Pass"
    assert {g["name"]: g["score"] for g in status["result"]["judgeResult"]["groupScores"]} == {
        "errors": 100.0,
        "latency": 100.0,
    }
    results = results_by_name(status)
    assert {r["classification"] for r in results.values()} == {"Pass"}
    assert results["latency-p50"]["experimentMetadata"]["stats"]["count"] == 61
    assert results["latency-p50"]["controlMetadata"]["stats"]["count"] == 61


@pytest.mark.parametrize(
    ("scenario", "regressed"),
    [("error-regression", "error-ratio"), ("latency-regression", "latency-p50")],
)
async def test_regressed_canary_scores_low(argo_app, scenario: str, regressed: str) -> None:
    measurement = await measure(argo_app.client, argo_metric(scenario))

    assert measurement.phase == "Failed", measurement
    assert int(measurement.value) <= 50
    results = results_by_name(measurement.status)
    assert results[regressed]["classification"] == "High"
    judge_result = measurement.status["result"]["judgeResult"]
    assert judge_result["score"]["classification"] == "Fail"
    ratio = results[regressed]["resultMetadata"]["ratio"]
    assert ratio > 1.5  # 5% vs 0.5% errors, 80 ms vs 40 ms


async def test_queries_sent_are_the_config_filled_with_the_scopes(argo_app) -> None:
    await measure(argo_app.client, argo_metric("healthy"))

    sent = set(argo_app.source.calls)
    window = (WINDOW_START, WINDOW_END, 60.0)
    select = (
        'reporter="destination",destination_workload_namespace="shop-healthy",'
        'destination_version="{v}"'
    )
    expected = set()
    for version in ("v1", "v2"):
        s = select.format(v=version)
        expected.add(
            (
                f'sum(rate(istio_requests_total{{{s},response_code=~"5.."}}[2m]))'
                f" / sum(rate(istio_requests_total{{{s}}}[2m]))",
                *window,
            )
        )
        expected.add(
            (
                "histogram_quantile(0.5, sum by (le) "
                f"(rate(istio_request_duration_milliseconds_bucket{{{s}}}[2m])))",
                *window,
            )
        )
    assert sent == expected


async def test_a_canary_without_traffic_is_no_data_and_fails(argo_app) -> None:
    """Before the canary started (30 minutes into the data) it has no series at all."""
    start = iso(SCENARIOS["healthy"].start + 60)
    end = iso(SCENARIOS["healthy"].start + 1200)
    metric = argo_metric(
        "healthy",
        experiment=ScopeDetail("v2", start, end, 60, region="shop-healthy"),
        control=ScopeDetail("v1", start, end, 60, region="shop-healthy"),
    )

    measurement = await measure(argo_app.client, metric)

    assert measurement.phase == "Failed"
    assert measurement.value == "0"
    results = results_by_name(measurement.status)
    assert results["latency-p50"]["classification"] == "Nodata"
    # the error ratio metric replaces NaN/no data, as its nanStrategy says
    assert results["error-ratio"]["classification"] == "Pass"
    score = measurement.status["result"]["judgeResult"]["score"]
    assert "NODATA" in score["classificationReason"]


async def test_argo_without_anonymous_access_gets_an_error(start_app) -> None:
    harness = await start_app(kayenta={})
    measurement = await measure(harness.client, argo_metric("healthy"))
    assert measurement.phase == "Error"
    assert "401" in (measurement.error or "")


async def test_inline_config_judges_real_data(argo_app) -> None:
    """``POST /canary`` with the config in the body, as Spinnaker's ad-hoc clients do."""
    import asyncio

    namespace = SCENARIOS["latency-regression"].namespace
    start, end = iso(WINDOW_START), iso(WINDOW_END)
    scope = {"start": start, "end": end, "step": 60, "location": namespace}
    body = {
        "canaryConfig": reviews_config("inline-reviews", config_id=None),
        "executionRequest": {
            "scopes": {
                "default": {
                    "controlScope": {"scope": "v1", **scope},
                    "experimentScope": {"scope": "v2", **scope},
                }
            },
            "thresholds": {"pass": 95, "marginal": 75},
        },
    }
    started = await argo_app.json("POST", "/canary", json=body)
    for _ in range(600):
        status = await argo_app.json("GET", f"/canary/{started['canaryExecutionId']}")
        if status["complete"]:
            break
        await asyncio.sleep(0.05)
    judge_result = status["result"]["judgeResult"]
    assert judge_result["score"]["score"] == 50.0
    assert judge_result["score"]["classification"] == "Fail"
    assert results_by_name(status)["latency-p50"]["classification"] == "High"
    assert results_by_name(status)["error-ratio"]["classification"] == "Pass"
