"""``auspice backtest``: at which look each regression was caught, and none for healthy.

The text chart names the look ("FAIL at look N"); ``--json`` gives ``summary.look``,
which must be the 1-based index of the first FAIL among ``looks``, and those looks
must be the same verdicts the library's ``Analysis.replay`` computes. The backfilled
regressions are tenfold and caught within a look or two, so one test raises the
tolerance until the evidence needs many looks to reach the threshold.
"""

from __future__ import annotations

import asyncio
import math
import re
from pathlib import Path

import pytest
from support.cli import run_main, run_subprocess, scope_pairs, window_args
from support.prometheus import IstioPrometheus

from auspice.analysis import analysis_from, summarize
from auspice.metrics.prometheus import PrometheusSource
from auspice.specs import library
from auspice.stats import Decision

REGRESSIONS = {"error-regression": "error-rate", "latency-regression": "latency"}

#: The library's error rate with a tolerance of 7 against the backfilled tenfold
#: regression: true ratio 10 is close enough to 7 that the e-value creeps up for a while.
DELAYED_TOLERANCE = """\
apiVersion: auspice.dev/v1alpha1
kind: AnalysisTemplate
metadata:
  name: delayed
spec:
  maxDuration: 1h
  metrics:
    - use: istio/error-rate
      tolerance: 7
"""


@pytest.mark.parametrize("scenario", list(REGRESSIONS))
def test_chart_names_the_look_that_caught_the_regression(
    istio_prometheus: IstioPrometheus, scenario: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = window_args(istio_prometheus, scenario)
    text = run_subprocess(["backtest", *args])
    assert text.status == 1, (text.out, text.err)
    assert "Traceback" not in text.err
    found = re.search(r"^FAIL at look (\d+) \(\d+ min\): (.*)$", text.out, re.MULTILINE)
    assert found, text.out
    assert REGRESSIONS[scenario] in found.group(2)
    chart = {line.split("|")[0].strip(): line for line in text.out.splitlines() if "|" in line}
    assert set(chart) >= {"error-rate", "latency"}
    assert "█" in chart[REGRESSIONS[scenario]]  # the crossed threshold is drawn

    machine = run_main(["backtest", "--json", *args], capsys)
    assert machine.status == 1
    body = machine.json()
    looks = [look["verdict"] for look in body["looks"]]
    assert len(looks) == 60
    first_fail = looks.index("fail") + 1
    assert body["summary"]["look"] == first_fail == int(found.group(1))
    assert body["summary"]["verdict"] == "fail"
    assert all(v in ("continue", "nodata") for v in looks[: first_fail - 1])
    assert REGRESSIONS[scenario] in body["summary"]["reason"]
    assert body["summary"]["elapsed_seconds"] == pytest.approx(first_fail * 60)


def test_evidence_grows_over_continue_looks_until_the_catching_look(
    istio_prometheus: IstioPrometheus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = tmp_path / "delayed.yaml"
    template.write_text(DELAYED_TOLERANCE)
    args = window_args(istio_prometheus, "error-regression", template=str(template))

    machine = run_main(["backtest", "--json", *args], capsys)
    assert machine.status == 1, (machine.out, machine.err)
    body = machine.json()
    verdicts = [look["verdict"] for look in body["looks"]]
    caught = body["summary"]["look"]
    assert body["summary"]["verdict"] == "fail"
    assert caught == verdicts.index("fail") + 1
    assert caught >= 10, verdicts  # not the vacuous look-1 catch of a tenfold effect
    assert verdicts[: caught - 1] == ["continue"] * (caught - 1)
    assert body["summary"]["elapsed_seconds"] == pytest.approx(caught * 60)

    evidence = [look["metrics"][0] for look in body["looks"]]
    assert {m["name"] for m in evidence} == {"error-rate"}
    threshold = evidence[0]["threshold"]
    assert threshold == pytest.approx(1 / 0.05)
    e_values = [m["e_value"] for m in evidence]
    before = e_values[: caught - 1]
    assert not any(m["rejected"] for m in evidence[: caught - 1])
    assert evidence[caught - 1]["rejected"]
    assert max(before) < threshold <= e_values[caught - 1]
    # Growing towards the threshold: the latest looks before the catch hold clearly
    # more evidence than the first ones (log E, the scale of the chart).
    third = len(before) // 3
    early = sum(math.log(e) for e in before[:third]) / third
    late = sum(math.log(e) for e in before[-third:]) / third
    assert late > early + 1.0, before
    assert e_values[0] < before[-1] < threshold

    text = run_main(["backtest", *args], capsys)
    assert text.status == 1
    found = re.search(r"^FAIL at look (\d+) \((\d+) min\): (.*)$", text.out, re.MULTILINE)
    assert found, text.out
    assert int(found.group(1)) == caught and int(found.group(2)) == caught
    assert "error-rate" in found.group(3)
    lines = text.out.splitlines()
    row = next(line for line in lines if line.split("|")[0].strip() == "error-rate")
    cells = row.split("|")[1]  # 60 looks: one column per look
    assert len(cells) == len(verdicts)
    assert "█" not in cells[: caught - 1] and cells[caught - 1] == "█"
    assert len(set(cells[: caught - 1])) > 1  # the bars rise before the threshold is crossed
    marks = lines[lines.index(row) + 1]
    assert marks.index("^") == row.index("|") + caught


def test_healthy_release_never_fails(
    istio_prometheus: IstioPrometheus, capsys: pytest.CaptureFixture[str]
) -> None:
    args = window_args(istio_prometheus, "healthy")
    text = run_main(["backtest", *args], capsys)
    assert text.status == 0, (text.out, text.err)
    assert "FAIL" not in text.out and "REJECTED" not in text.out
    assert re.search(r"^PASS at look \d+", text.out, re.MULTILINE), text.out
    body = run_main(["backtest", "--json", *args], capsys).json()
    verdicts = [look["verdict"] for look in body["looks"]]
    assert "fail" not in verdicts and "error" not in verdicts
    assert body["summary"]["verdict"] == "pass"
    assert verdicts[body["summary"]["look"] - 1] == "pass"
    assert all(v == "continue" for v in verdicts[: body["summary"]["look"] - 1])
    for look in body["looks"]:  # canary data from the first look on: never "no data"
        assert all(m["status"] == "ok" for m in look["metrics"]), look


@pytest.mark.parametrize("scenario", ["healthy", *REGRESSIONS])
def test_backtest_json_is_the_library_replay(
    istio_prometheus: IstioPrometheus, scenario: str, capsys: pytest.CaptureFixture[str]
) -> None:
    start = istio_prometheus.scenarios[scenario].canary_start
    analysis = analysis_from(
        library.load("istio"),
        canary=scope_pairs(istio_prometheus, scenario, canary=True),
        baseline=scope_pairs(istio_prometheus, scenario, canary=False),
        start=start,
    )

    async def replay() -> list:
        async with PrometheusSource(istio_prometheus.url, timeout=30) as source:
            return await analysis.replay(source, start + 3600)

    history = asyncio.run(replay())  # sync test: the CLI below runs its own event loop
    assert len(history) == 60
    expected = summarize(history)
    decisions = [v.decision for v in history]
    if scenario == "healthy":
        assert Decision.FAIL not in decisions
    else:
        assert expected["look"] == decisions.index(Decision.FAIL) + 1
    body = run_main(["backtest", "--json", *window_args(istio_prometheus, scenario)], capsys).json()
    assert body["summary"] == expected
    assert body["looks"] == [v.to_dict() for v in history]
