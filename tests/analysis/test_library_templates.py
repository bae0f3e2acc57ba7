"""Every template of analyses/ through ``Analysis`` against the real backfilled data.

Each must produce a defined verdict at every look (never an exception, never a failed
look against a healthy server), every metric must see data, and the healthy release
must not FAIL on resources it uses no more of than the baseline. A canary scope that
matches nothing must give NO DATA and then FAIL, never PASS.
"""

from __future__ import annotations

import pytest
from support.cli import run_main, scope_pairs, window_args
from support.prometheus import IstioPrometheus

from auspice.analysis import FailedLook, analysis_from
from auspice.metrics.prometheus import PrometheusSource
from auspice.specs import library
from auspice.stats import Decision, Verdict

SCENARIOS = ["healthy", "error-regression", "latency-regression"]
DEFINED = {Decision.PASS, Decision.FAIL, Decision.CONTINUE, Decision.NO_DATA}


async def replay(
    prom: IstioPrometheus,
    scenario: str,
    template: str,
    *,
    minutes: int = 60,
    canary: dict[str, str] | None = None,
) -> list[Verdict | FailedLook]:
    start = prom.scenarios[scenario].canary_start
    analysis = analysis_from(
        library.load(template),
        canary={**scope_pairs(prom, scenario, canary=True), **(canary or {})},
        baseline=scope_pairs(prom, scenario, canary=False),
        start=start,
    )
    async with PrometheusSource(prom.url, timeout=30) as source:
        return await analysis.replay(source, start + minutes * 60)


def test_the_library_is_what_these_tests_cover() -> None:
    assert set(library.names()) == {"flagger", "istio", "kayenta", "resources"}


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("template", sorted(library.names()))
async def test_every_template_gives_a_defined_verdict_on_real_data(
    istio_prometheus: IstioPrometheus, template: str, scenario: str
) -> None:
    history = await replay(istio_prometheus, scenario, template)
    assert len(history) == 60
    assert all(isinstance(v, Verdict) for v in history), history[-1]
    assert {v.decision for v in history} <= DEFINED
    names = {m.name for m in library.load(template).spec.metrics}
    last = history[-1]
    assert {m.policy.name for m in last.metrics} == names
    for evidence in last.metrics:  # every query found its series
        assert evidence.had_data, (template, evidence.policy.name, evidence.result.reason)
    # the window reaches maxDuration (1h): the analysis has decided by then
    assert last.decision in (Decision.PASS, Decision.FAIL), last.reason


@pytest.mark.parametrize("template", ["istio", "kayenta"])
async def test_comparative_templates_pass_the_healthy_release(
    istio_prometheus: IstioPrometheus, template: str
) -> None:
    history = await replay(istio_prometheus, "healthy", template)
    assert Decision.FAIL not in {v.decision for v in history}
    assert history[-1].decision is Decision.PASS


@pytest.mark.parametrize("template", ["istio", "kayenta"])
@pytest.mark.parametrize("scenario", ["error-regression", "latency-regression"])
async def test_comparative_templates_fail_both_regressions(
    istio_prometheus: IstioPrometheus, template: str, scenario: str
) -> None:
    history = await replay(istio_prometheus, scenario, template)
    assert Decision.FAIL in {v.decision for v in history}
    assert Decision.PASS not in {v.decision for v in history}


@pytest.mark.parametrize("metric", ["cpu-per-request", "memory"])
async def test_resource_gauges_do_not_fail_the_healthy_release(
    istio_prometheus: IstioPrometheus, metric: str
) -> None:
    """The healthy canary runs the same code: CPU per request and memory are the same.

    (The generator gives every pod a fixed idle CPU of 0.05 cores plus 2 ms per request,
    and the canary a quarter of the baseline's traffic, as real canaries get.)
    """
    history = await replay(istio_prometheus, "healthy", "resources")
    for look, verdict in enumerate(history, start=1):
        evidence = next(m for m in verdict.metrics if m.policy.name == metric)
        assert not evidence.result.rejected, (
            f"look {look}: {metric} rejected on the healthy release: estimate "
            f"{evidence.result.estimate:.3g}, interval [{evidence.result.lower:.3g}, "
            f"{evidence.result.upper:.3g}]: {verdict.reason}"
        )


async def test_memory_gauge_sees_equal_memory(istio_prometheus: IstioPrometheus) -> None:
    last = (await replay(istio_prometheus, "healthy", "resources"))[-1]
    memory = next(m for m in last.metrics if m.policy.name == "memory").result
    assert memory.lower <= 1.0 <= memory.upper  # ratio canary/baseline: both ~220 MB


@pytest.mark.parametrize("template", sorted(library.names()))
async def test_a_canary_scope_matching_nothing_is_no_data_then_fail(
    istio_prometheus: IstioPrometheus, template: str
) -> None:
    """Wrong canary version: NO DATA for the no-data limit, then FAIL; never PASS."""
    # resources selects pods by workload, not version: a wrong workload there
    wrong = {"workload": "reviews-v9"} if template == "resources" else {"version": "v9"}
    history = await replay(istio_prometheus, "healthy", template, canary=wrong)
    decisions = [v.decision for v in history]
    limit = library.load(template).spec.no_data_limit
    assert Decision.PASS not in decisions
    assert decisions[:limit] == [Decision.NO_DATA] * limit
    assert decisions[limit] is Decision.FAIL
    assert "no data" in history[limit].reason


def test_cli_wrong_canary_version_is_no_data_then_fail(
    istio_prometheus: IstioPrometheus, capsys: pytest.CaptureFixture[str]
) -> None:
    args = window_args(istio_prometheus, "healthy", canary_version="v9")
    analyze = run_main(["analyze", *args], capsys)
    assert analyze.status == 1
    assert analyze.out.startswith("verdict: FAIL") and "no data" in analyze.out
    body = run_main(["backtest", "--json", *args], capsys).json()
    verdicts = [look["verdict"] for look in body["looks"]]
    assert verdicts[:5] == ["nodata"] * 5 and verdicts[5] == "fail"
    assert "pass" not in verdicts
    assert body["summary"]["look"] == 6 and body["summary"]["verdict"] == "fail"
