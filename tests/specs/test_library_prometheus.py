"""The library's queries against real Prometheus holding Istio-shaped releases.

Each template is rendered for the canary (``reviews-v2``) and baseline (``reviews-v1``)
of the backfilled scenarios (``support.istio_data``) and run by Debian's ``prometheus``:
every query must return exactly one series per scope (bucket queries: one per ``le``),
with finite values, and the numbers must show the regressions the generator put in.
The look interval is widened to 1h here so that the ratios are stable enough to compare
with the generator's truth.
"""

from __future__ import annotations

import json
import math
import urllib.parse
import urllib.request

import pytest
from support.prometheus import IstioPrometheus

from auspice.specs import AnalysisTemplate, Scope, library, promql

WINDOW = "1h"
CLUSTER = "east"


def instant(url: str, query: str, at: float) -> list[dict]:
    params = urllib.parse.urlencode({"query": query, "time": f"{at:.3f}"})
    with urllib.request.urlopen(f"{url}/api/v1/query?{params}", timeout=30) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    assert body["data"]["resultType"] == "vector"
    return body["data"]["result"]


def scope(prom: IstioPrometheus, scenario: str, *, canary: bool) -> Scope:
    release = prom.scenarios[scenario]
    version = release.canary_version if canary else release.baseline_version
    return Scope(version=version, workload=f"{release.workload}-{version}",
                 namespace=release.namespace, cluster=CLUSTER)  # fmt: skip


def run(
    prom: IstioPrometheus, template: AnalysisTemplate, query: str, scenario: str, *, canary: bool
) -> list[dict]:
    values = template.placeholder_values(scope(prom, scenario, canary=canary))
    values["interval"] = WINDOW
    at = prom.scenarios[scenario].canary_start + 3 * 3600
    return instant(prom.url, promql.render(query, values), at)


def value(result: list[dict]) -> float:
    assert len(result) == 1, result
    return float(result[0]["value"][1])


@pytest.mark.parametrize("name", library.names())
@pytest.mark.parametrize("canary", [False, True], ids=["baseline", "canary"])
def test_every_library_query_returns_one_finite_series_per_scope(
    istio_prometheus: IstioPrometheus, name: str, canary: bool
) -> None:
    template = library.load(name)
    for metric in template.spec.metrics:
        for role, query in metric.queries().items():
            result = run(istio_prometheus, template, query, "healthy", canary=canary)
            if role == "buckets":
                les = {series["metric"].get("le") for series in result}
                assert None not in les and "+Inf" in les and len(les) > 5, (metric.name, les)
                assert all(math.isfinite(float(s["value"][1])) for s in result)
            else:
                assert math.isfinite(value(result)), (metric.name, role)


def error_ratio(prom: IstioPrometheus, scenario: str, *, canary: bool) -> float:
    template = library.load("istio")
    metric = template.metric("error-rate")
    events = value(run(prom, template, metric.queries()["events"], scenario, canary=canary))
    total = value(run(prom, template, metric.queries()["total"], scenario, canary=canary))
    return events / total


def test_istio_error_rate_shows_the_error_regression(istio_prometheus: IstioPrometheus) -> None:
    canary = error_ratio(istio_prometheus, "error-regression", canary=True)
    baseline = error_ratio(istio_prometheus, "error-regression", canary=False)
    assert canary == pytest.approx(0.05, rel=0.25)
    assert baseline == pytest.approx(0.005, rel=0.5)
    healthy = error_ratio(istio_prometheus, "healthy", canary=True)
    assert healthy == pytest.approx(0.005, rel=0.5)


def slow_share(prom: IstioPrometheus, scenario: str, *, canary: bool, bound: str) -> float:
    template = library.load("istio")
    result = run(prom, template, template.metric("latency").buckets, scenario, canary=canary)
    buckets = {s["metric"]["le"]: float(s["value"][1]) for s in result}
    return 1 - buckets[bound] / buckets["+Inf"]


def test_istio_latency_buckets_show_the_latency_regression(
    istio_prometheus: IstioPrometheus,
) -> None:
    # Median 40 ms -> 80 ms: far more canary requests are slower than 50 ms.
    canary = slow_share(istio_prometheus, "latency-regression", canary=True, bound="50")
    baseline = slow_share(istio_prometheus, "latency-regression", canary=False, bound="50")
    assert canary > 1.5 * baseline
    healthy = slow_share(istio_prometheus, "healthy", canary=True, bound="50")
    assert healthy == pytest.approx(baseline, rel=0.2)


def test_resource_gauges_select_only_the_scope_pods(istio_prometheus: IstioPrometheus) -> None:
    template = library.load("resources")
    memory = template.metric("memory").queries()["query"]
    assert memory.lstrip().startswith("avg(")
    pods = memory.replace("avg(", "count(", 1)  # how many pods the scope's pattern picks
    for canary in (False, True):
        # Two pods per version and cluster; the other version's pods must not match.
        assert value(run(istio_prometheus, template, pods, "healthy", canary=canary)) == 2
