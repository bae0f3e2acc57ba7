"""A look is stateless: the same data gives the same verdict however it was reached.

A restarted service, Argo calling the webhook every minute and a backtest all compute a
look from scratch, so ``look(now)`` must equal the last verdict of ``replay(now)``, and
the look at minute t must equal the t-th look of any longer replay, computed by a fresh
``Analysis`` and a fresh source (nothing carried over).
"""

from __future__ import annotations

import pytest
from support.cli import scope_pairs
from support.prometheus import IstioPrometheus

from auspice.analysis import Analysis, FailedLook, analysis_from
from auspice.metrics.prometheus import PrometheusSource
from auspice.specs import library
from auspice.stats import Decision, Verdict

SCENARIOS = ["healthy", "error-regression", "latency-regression"]


def fresh_analysis(prom: IstioPrometheus, scenario: str, template: str = "istio") -> Analysis:
    return analysis_from(
        library.load(template),
        canary=scope_pairs(prom, scenario, canary=True),
        baseline=scope_pairs(prom, scenario, canary=False),
        start=prom.scenarios[scenario].canary_start,
    )


async def look_at(
    prom: IstioPrometheus, scenario: str, now: float, template: str = "istio"
) -> Verdict | FailedLook:
    async with PrometheusSource(prom.url, timeout=30) as source:
        return await fresh_analysis(prom, scenario, template).look(source, now)


async def replay_to(
    prom: IstioPrometheus, scenario: str, now: float, template: str = "istio"
) -> list[Verdict | FailedLook]:
    async with PrometheusSource(prom.url, timeout=30) as source:
        return await fresh_analysis(prom, scenario, template).replay(source, now)


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_look_is_the_last_element_of_replay(
    istio_prometheus: IstioPrometheus, scenario: str
) -> None:
    start = istio_prometheus.scenarios[scenario].canary_start
    analysis = fresh_analysis(istio_prometheus, scenario)
    async with PrometheusSource(istio_prometheus.url, timeout=30) as source:
        for minutes in (1, 12, 37.5):
            now = start + minutes * 60
            look = await analysis.look(source, now)
            history = await analysis.replay(source, now)
            assert len(history) == int(minutes)
            assert isinstance(look, Verdict)
            assert look.to_dict() == history[-1].to_dict()


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("template", sorted(library.names()))
async def test_a_look_equals_that_look_of_a_longer_replay(
    istio_prometheus: IstioPrometheus, scenario: str, template: str
) -> None:
    start = istio_prometheus.scenarios[scenario].canary_start
    longer = await replay_to(istio_prometheus, scenario, start + 45 * 60, template)
    assert len(longer) == 45
    for t in (1, 9, 23, 45):
        # a restarted service: new Analysis, new source, "now" a little after the look
        alone = await look_at(istio_prometheus, scenario, start + t * 60 + 20, template)
        assert alone.to_dict() == longer[t - 1].to_dict(), (template, scenario, t)
        assert alone.elapsed == pytest.approx(t * 60)


async def test_before_the_first_look_there_is_no_verdict(istio_prometheus: IstioPrometheus) -> None:
    start = istio_prometheus.scenarios["healthy"].canary_start
    assert await replay_to(istio_prometheus, "healthy", start + 59) == []
    early = await look_at(istio_prometheus, "healthy", start + 59)
    assert isinstance(early, FailedLook)
    assert early.decision is Decision.CONTINUE  # waiting, not a pass and not an error
