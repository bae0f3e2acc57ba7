"""``auspice analyze`` on the backfilled releases: PASS, FAIL naming the metric, --json.

The healthy release must pass (exit 0) and both regressions fail (exit 1), each naming
the metric that regressed with its effect; the metric that did not regress must not be
blamed. Run once as the installed console script and once in-process.
"""

from __future__ import annotations

import math

import pytest
from support.cli import CliResult, run_main, run_subprocess, scope_pairs, window_args
from support.prometheus import IstioPrometheus

#: scenario -> (exit status, the metric that must be rejected, the one that must not)
EXPECTED = {
    "healthy": (0, None, None),
    "error-regression": (1, "error-rate", "latency"),
    "latency-regression": (1, "latency", "error-rate"),
}


def check_text(result: CliResult, scenario: str) -> None:
    status, culprit, innocent = EXPECTED[scenario]
    assert result.status == status, (result.out, result.err)
    assert "Traceback" not in result.err
    head = result.out.splitlines()[0]
    rows = {line.split()[0]: line for line in result.out.splitlines()[2:] if line.strip()}
    assert set(rows) == {"error-rate", "latency"}, result.out
    if culprit is None:
        assert head.startswith("verdict: PASS"), result.out
        assert "REJECTED" not in result.out
        return
    assert head.startswith("verdict: FAIL"), result.out
    assert culprit in head and innocent not in head, head
    assert "estimate" in head and "e-value" in head, head  # the effect, in the reason
    assert "REJECTED" in rows[culprit] and "REJECTED" not in rows[innocent], result.out
    effect = rows[culprit].split()[3]  # effect [interval] column: estimate first
    assert float(effect) > 1.5, rows[culprit]


@pytest.mark.parametrize("scenario", list(EXPECTED))
def test_console_script_judges_each_release(
    istio_prometheus: IstioPrometheus, scenario: str
) -> None:
    check_text(run_subprocess(["analyze", *window_args(istio_prometheus, scenario)]), scenario)


@pytest.mark.parametrize("scenario", list(EXPECTED))
def test_in_process_judges_each_release(
    istio_prometheus: IstioPrometheus, scenario: str, capsys: pytest.CaptureFixture[str]
) -> None:
    check_text(run_main(["analyze", *window_args(istio_prometheus, scenario)], capsys), scenario)


def number(value: object) -> float:
    """JSON numbers, with non-finite values written as strings."""
    return (
        float(value)
        if not isinstance(value, str)
        else {"NaN": math.nan, "+Inf": math.inf, "-Inf": -math.inf}[value]
    )


@pytest.mark.parametrize("scenario", list(EXPECTED))
def test_json_has_verdict_evidence_and_rendered_queries(
    istio_prometheus: IstioPrometheus, scenario: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, culprit, innocent = EXPECTED[scenario]
    result = run_main(["analyze", "--json", *window_args(istio_prometheus, scenario)], capsys)
    assert result.status == status
    body = result.json()
    assert body["verdict"] == ("pass" if culprit is None else "fail")
    metrics = {m["name"]: m for m in body["metrics"]}
    assert set(metrics) == {"error-rate", "latency"}
    canary = scope_pairs(istio_prometheus, scenario, canary=True)
    baseline = scope_pairs(istio_prometheus, scenario, canary=False)
    for name, m in metrics.items():
        for key in ("e_value", "p_value", "estimate", "lower", "upper", "counts"):
            assert key in m, (name, key)
        assert number(m["e_value"]) >= 0 and 0 < number(m["p_value"]) <= 1
        assert number(m["lower"]) <= number(m["upper"])
        roles = {"error-rate": ("events", "total"), "latency": ("buckets",)}[name]
        assert set(m["queries"]) == {f"{s}.{r}" for s in ("canary", "baseline") for r in roles}
        for key, query in m["queries"].items():
            side = canary if key.startswith("canary.") else baseline
            assert "{{" not in query, query  # fully rendered
            assert f'destination_workload="{side["workload"]}"' in query
            assert f'destination_workload_namespace="{side["namespace"]}"' in query
            assert f'destination_canonical_revision="{side["version"]}"' in query
            assert 'cluster="east"' in query and "[1m]" in query
        for side in ("canary", "baseline"):  # histograms: one total per boundary
            totals = [v for k, v in m["counts"].items() if k.startswith(f"{side}_total")]
            assert totals and min(totals) > 0, m["counts"]
    if culprit is not None:
        bad, good = metrics[culprit], metrics[innocent]
        assert bad["rejected"] is True and good["rejected"] is False
        assert number(bad["e_value"]) >= number(bad["threshold"])
        assert number(bad["p_value"]) <= bad["alpha"]
        assert number(bad["lower"]) > 1.0  # the interval excludes "no worse"
        assert number(bad["lower"]) <= number(bad["estimate"]) <= number(bad["upper"])
        assert culprit in body["reason"]


def test_error_regression_effect_matches_the_generated_truth(
    istio_prometheus: IstioPrometheus, capsys: pytest.CaptureFixture[str]
) -> None:
    """The canary's 5xx share is 10x the baseline's (5% vs 0.5%): the interval holds it."""
    result = run_main(
        ["analyze", "--json", *window_args(istio_prometheus, "error-regression")], capsys
    )
    errors = next(m for m in result.json()["metrics"] if m["name"] == "error-rate")
    counts = errors["counts"]
    assert counts["canary_events"] / counts["canary_total"] == pytest.approx(0.05, rel=0.6)
    assert number(errors["lower"]) <= 10.0 <= number(errors["upper"])


def test_healthy_totals_match_the_generated_requests(
    istio_prometheus: IstioPrometheus, capsys: pytest.CaptureFixture[str]
) -> None:
    """Counts summed over the looks are the requests the generator drew in that hour."""
    result = run_main(["analyze", "--json", *window_args(istio_prometheus, "healthy")], capsys)
    counts = next(m for m in result.json()["metrics"] if m["name"] == "error-rate")["counts"]
    data = istio_prometheus.dataset
    release = istio_prometheus.scenarios["healthy"]
    for side, version in (
        ("canary", release.canary_version),
        ("baseline", release.baseline_version),
    ):
        truth = {
            code: data.requests[("healthy", "east", version, code)]
            for code in ("200", "404", "500")
        }
        steps = 3600 // 30  # the canary's first hour, 30 s per generated step
        first = 0 if side == "canary" else int(release.canary_delay // 30)
        total = sum(int(v[first + 1 : first + 1 + steps].sum()) for v in truth.values())
        errors = int(truth["500"][first + 1 : first + 1 + steps].sum())
        assert counts[f"{side}_total"] == pytest.approx(total, rel=0.03)
        assert counts[f"{side}_events"] == pytest.approx(errors, rel=0.15, abs=5)


def test_a_window_shorter_than_min_duration_is_not_a_success(
    istio_prometheus: IstioPrometheus, capsys: pytest.CaptureFixture[str]
) -> None:
    """5 minutes of the healthy release: CONTINUE, and only PASS exits 0."""
    result = run_main(["analyze", *window_args(istio_prometheus, "healthy", minutes=5)], capsys)
    assert result.status == 1
    assert result.out.startswith("verdict: CONTINUE after 5 min"), result.out
    body = run_main(
        ["analyze", "--json", *window_args(istio_prometheus, "healthy", minutes=5)], capsys
    ).json()
    assert body["verdict"] == "continue" and body["elapsed_seconds"] == 300


def test_a_window_shorter_than_one_look(
    istio_prometheus: IstioPrometheus, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_main(["analyze", *window_args(istio_prometheus, "healthy", minutes=0.5)], capsys)
    assert result.status == 1
    assert "no complete look" in result.out
