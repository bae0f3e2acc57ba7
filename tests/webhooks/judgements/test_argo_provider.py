"""Argo Rollouts' web provider against Auspice and real Prometheus data.

The AnalysisTemplates are the shipped examples (examples/argo-rollouts), resolved and
sent exactly as the provider does (tests/webhooks/argo.py), against the backfilled
healthy / error-regression / latency-regression releases. The service clock is virtual:
the first call is placed at the scenario's canary start, later calls one or more
intervals later, as Argo's AnalysisRun would make them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from support.argo_web import measure, metric_of
from support.prometheus import IstioPrometheus
from support.service import TOKENS

from auspice.metrics.prometheus import PrometheusSource

TEMPLATE = "argo-rollouts/analysistemplate.yaml"
NUMBERS = "argo-rollouts/analysistemplate-numbers.yaml"


@pytest.fixture
async def prometheus(istio_prometheus: IstioPrometheus) -> AsyncIterator[PrometheusSource]:
    async with PrometheusSource(istio_prometheus.url, timeout=10) as source:
        yield source


def rollout_args(prom: IstioPrometheus, scenario: str, *, hash_: str = "6c9bd8675b") -> dict:
    release = prom.scenarios[scenario]
    return {"rollout": "reviews", "namespace": release.namespace, "cluster": "east",
            "canary-workload": f"{release.workload}-{release.canary_version}",
            "stable-workload": f"{release.workload}-{release.baseline_version}",
            "canary-version": release.canary_version, "stable-version": release.baseline_version,
            "canary-hash": hash_, "auspice-token": TOKENS["judge"]}


@pytest.mark.parametrize("scenario", ["error-regression", "latency-regression"])
async def test_a_regression_fails_the_analysis_run_at_the_first_look(
        make_service, prometheus, istio_prometheus: IstioPrometheus, scenario: str) -> None:
    start = istio_prometheus.scenarios[scenario].canary_start
    service = await make_service(source=prometheus, now=start)
    metric = metric_of(TEMPLATE, "auspice")
    args = rollout_args(istio_prometheus, scenario)

    first = await measure(service.client, metric, args)
    assert (first.phase, first.value) == ("Successful", "continue"), first.body
    assert first.body["created"] is True and first.body["look"] == 0
    assert service.source.calls == []  # no complete look yet: nothing to ask

    service.clock.advance(60)
    second = await measure(service.client, metric, args)
    assert (second.phase, second.value) == ("Failed", "fail"), second.body
    failed = next(m for m in second.body["metrics"] if m["rejected"])
    assert failed["name"] == ("error-rate" if scenario == "error-regression" else "latency")
    assert second.body["created"] is False
    assert second.body["start_epoch"] == start

    asked = len(service.source.calls)
    service.clock.advance(600)
    third = await measure(service.client, metric, args)
    assert (third.phase, third.value) == ("Failed", "fail")  # sticky
    assert len(service.source.calls) == asked  # answered from the store


async def test_a_healthy_canary_continues_then_passes(
        make_service, prometheus, istio_prometheus: IstioPrometheus) -> None:
    start = istio_prometheus.scenarios["healthy"].canary_start
    service = await make_service(source=prometheus, now=start)
    metric = metric_of(TEMPLATE, "auspice")
    args = rollout_args(istio_prometheus, "healthy")

    seen = []
    for offset in (0, 60, 600, 1800):
        service.clock.advance(offset - (service.clock.now() - start))
        measurement = await measure(service.client, metric, args)
        seen.append((measurement.phase, measurement.value))
    assert seen == [("Successful", "continue")] * 4
    service.clock.advance(3600 - (service.clock.now() - start))
    final = await measure(service.client, metric, args)
    assert (final.phase, final.value) == ("Successful", "pass"), final.body
    assert final.body["look"] == 60 and final.body["pass"] is True
    assert final.body["numbers"]["error_rate_rejected"] is False
    status, record = await service.get(f"/api/v1/judgements/{final.body['judgement']}")
    assert status == 200 and record["verdict"] == "pass" and record["looks"] == 5


async def test_a_new_canary_hash_opens_a_new_judgement(
        make_service, prometheus, istio_prometheus: IstioPrometheus) -> None:
    start = istio_prometheus.scenarios["error-regression"].canary_start
    service = await make_service(source=prometheus, now=start)
    metric = metric_of(TEMPLATE, "auspice")
    await measure(service.client, metric, rollout_args(istio_prometheus, "error-regression"))
    service.clock.advance(60)
    failed = await measure(service.client, metric,
                           rollout_args(istio_prometheus, "error-regression"))
    assert failed.value == "fail"
    other = await measure(service.client, metric, rollout_args(
        istio_prometheus, "error-regression", hash_="7d8f9a0b1c"))
    assert other.body["created"] is True and other.value == "continue"
    assert other.body["judgement"] != failed.body["judgement"]


async def test_the_numbers_template_reads_flat_evidence(
        make_service, prometheus, istio_prometheus: IstioPrometheus) -> None:
    metric = metric_of(NUMBERS, "auspice-error-rate")
    for scenario, expected in (("error-regression", "Failed"), ("healthy", "Successful"),
                               ("latency-regression", "Successful")):
        start = istio_prometheus.scenarios[scenario].canary_start
        service = await make_service(source=prometheus, now=start)
        args = rollout_args(istio_prometheus, scenario)
        opened = await measure(service.client, metric, args)
        assert opened.phase == "Successful", opened  # no look yet: nothing rejected
        service.clock.advance(300)
        measurement = await measure(service.client, metric, args)
        assert measurement.phase == expected, (scenario, measurement.value)


async def test_a_dead_prometheus_is_an_error_verdict_never_a_pass(make_service) -> None:
    async with PrometheusSource("http://127.0.0.1:9", timeout=2, retries=0) as dead:
        service = await make_service(source=dead)
        metric = metric_of(TEMPLATE, "auspice")
        args = {"rollout": "reviews", "namespace": "shop", "canary-workload": "reviews",
                "stable-workload": "reviews", "canary-version": "v2", "stable-version": "v1",
                "canary-hash": "abc", "cluster": "east", "auspice-token": TOKENS["judge"]}
        await measure(service.client, metric, args)
        service.clock.advance(120)
        measurement = await measure(service.client, metric, args)
        assert measurement.status == 200
        assert (measurement.phase, measurement.value) == ("Inconclusive", "error")
        assert "127.0.0.1:9" in measurement.body["reason"]
        assert measurement.body["pass"] is False and measurement.body["done"] is False


async def test_a_canary_without_traffic_holds_then_fails_after_the_no_data_limit(
        make_service, prometheus, istio_prometheus: IstioPrometheus) -> None:
    start = istio_prometheus.scenarios["healthy"].canary_start
    service = await make_service(source=prometheus, now=start)
    metric = metric_of(TEMPLATE, "auspice")
    args = {**rollout_args(istio_prometheus, "healthy"), "canary-version": "v9"}  # no series
    await measure(service.client, metric, args)
    service.clock.advance(60)
    held = await measure(service.client, metric, args)
    assert (held.phase, held.value) == ("Successful", "nodata"), held.body
    assert "no data" in held.body["reason"]
    service.clock.advance(300)  # look 6: more than the template's no-data limit of 5
    failed = await measure(service.client, metric, args)
    assert (failed.phase, failed.value) == ("Failed", "fail"), failed.body
    assert "no data for longer than allowed" in failed.body["reason"]


async def test_a_query_of_the_wrong_shape_is_an_error_verdict(make_service, tmp_path) -> None:
    (tmp_path / "wide.yaml").write_text("""\
apiVersion: auspice.dev/v1alpha1
kind: AnalysisTemplate
metadata:
  name: wide
spec:
  metrics:
    - name: cpu
      kind: gauge
      tolerance: 1.5
      query: rate(cpu_seconds_total{version="{{version}}"}[1m])
""")
    from support.service import CountingFake, constant

    from auspice.metrics.source import Series

    async def two_series(promql: str, start: float, end: float, step: float) -> list[Series]:
        return [constant(1.0, start, end, step, {"pod": "a"}),
                constant(2.0, start, end, step, {"pod": "b"})]

    service = await make_service(source=CountingFake(answer=two_series), templates_dir=tmp_path)
    body = {"template": "wide", "rollout": "shop/reviews", "canary": {"version": "v2"},
            "baseline": {"version": "v1"}}
    await service.post("/api/v1/judgements", body)
    service.clock.advance(120)
    status, answer = await service.post("/api/v1/judgements", body)
    assert status == 200 and answer["verdict"] == "error"
    assert "returned 2 series" in answer["reason"] and "sum(" in answer["reason"]
