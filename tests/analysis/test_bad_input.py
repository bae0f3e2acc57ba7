"""Bad input on the command line: exit 1 (or argparse's 2) with a clear message.

Never a traceback: every mistake a user can make on the command line is answered with
what was wrong and where. The server is the real backfilled Prometheus, so a mistake
that slipped through would show up as a wrong verdict rather than a refusal.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.cli import CliResult, run_main, run_subprocess, window_args
from support.prometheus import IstioPrometheus, free_port


def replaced(args: list[str], option: str, value: str) -> list[str]:
    out = list(args)
    out[out.index(option) + 1] = value
    return out


def refused(result: CliResult, *needles: str, status: int = 1) -> None:
    assert result.status == status, (result.status, result.out, result.err)
    assert "Traceback" not in result.err + result.out, result.err
    assert result.out == "" or status == 2, result.out  # no verdict printed
    for needle in needles:
        assert needle in result.err, (needle, result.err)


@pytest.fixture
def args(istio_prometheus: IstioPrometheus) -> list[str]:
    return window_args(istio_prometheus, "healthy")


BROKEN = """\
apiVersion: auspice.dev/v1alpha1
kind: AnalysisTemplate
metadata:
  name: broken
spec:
  alpha: 0.05
  metrics:
    - name: errors
      kind: counts
      tolerance: 0.8
      events: sum(increase(x_total{version="{{version}}"}[{{interval}}]))
      total: sum(increase(y_total{version="{{version}}"}[{{interval}}]))
"""


@pytest.mark.parametrize("command", ["analyze", "backtest"])
def test_unknown_template_name(
    args: list[str], command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_main([command, *replaced(args, "--template", "istio-typo")], capsys)
    refused(result, "istio-typo", "istio", "kayenta")  # names what exists


def test_broken_template_file_names_file_and_line(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    result = run_main(["analyze", *replaced(args, "--template", str(path))], capsys)
    refused(result, f"{path}:10:", "tolerance")


def test_broken_template_file_through_the_console_script(args: list[str], tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text(BROKEN.replace("tolerance: 0.8", "tolerance: [1]"))
    result = run_subprocess(
        ["backtest", *replaced(args, "--template", "broken.yaml")], cwd=tmp_path
    )
    refused(result, "broken.yaml:10:", "tolerance")


def test_missing_scope_value_names_the_placeholder(
    istio_prometheus: IstioPrometheus, capsys: pytest.CaptureFixture[str]
) -> None:
    args = window_args(istio_prometheus, "healthy")
    canary = args[args.index("--canary") + 1]
    without_cluster = ",".join(p for p in canary.split(",") if not p.startswith("cluster="))
    result = run_main(["analyze", *replaced(args, "--canary", without_cluster)], capsys)
    refused(result, "cluster")


def test_missing_scope_value_says_which_side_lacks_it(
    istio_prometheus: IstioPrometheus, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only the baseline lacks the cluster: the message must say so (and how to give it).

    Calling the built-in {{cluster}} an "unknown placeholder" to be "defined as a template
    argument" sends the user the wrong way: the fix is --baseline cluster=...
    """
    args = window_args(istio_prometheus, "healthy")
    baseline = args[args.index("--baseline") + 1]
    without = ",".join(p for p in baseline.split(",") if not p.startswith("cluster="))
    result = run_main(["analyze", *replaced(args, "--baseline", without)], capsys)
    refused(result, "cluster", "baseline")


def test_end_before_start(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    start = float(args[args.index("--start") + 1])
    result = run_main(["backtest", *replaced(args, "--end", f"{start - 600:.0f}")], capsys)
    refused(result, "--end", "--start")


def test_end_equal_to_start(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    result = run_main(
        ["analyze", *replaced(args, "--end", args[args.index("--start") + 1])], capsys
    )
    refused(result, "--end")


@pytest.mark.parametrize("pair", ["version", "=v2", "version=v2,,workload"])
def test_malformed_canary_pair(
    args: list[str], pair: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_main(["analyze", *replaced(args, "--canary", pair)], capsys)
    refused(result, "--canary", "KEY=VALUE")


def test_unknown_scope_key_is_refused_not_a_traceback(args: list[str]) -> None:
    """A typo in a scope key (``colour=``, ``namepsace=``) through the real console script."""
    canary = args[args.index("--canary") + 1] + ",namepsace=shop"
    result = run_subprocess(["analyze", *replaced(args, "--canary", canary)])
    refused(result, "namepsace")


def test_unknown_scope_key_in_process(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    canary = args[args.index("--canary") + 1] + ",colour=red"
    result = run_main(["analyze", *replaced(args, "--canary", canary)], capsys)
    refused(result, "colour")


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01T00:00:00Z", ""])
def test_unreadable_start_time(
    args: list[str], text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_main(["analyze", *replaced(args, "--start", text)], capsys)
    refused(result, repr(text), "RFC 3339")


def test_rfc3339_times_are_accepted(
    istio_prometheus: IstioPrometheus, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same window written as RFC 3339 gives the same verdict as epoch seconds."""
    args = window_args(istio_prometheus, "error-regression")
    rfc = replaced(
        replaced(args, "--start", "2026-01-01T00:30:00Z"), "--end", "2026-01-01T01:30:00+00:00"
    )
    assert float(args[args.index("--start") + 1]) == 1_767_227_400
    epoch = run_main(["analyze", "--json", *args], capsys)
    named = run_main(["analyze", "--json", *rfc], capsys)
    assert named.status == epoch.status == 1
    assert named.json() == epoch.json()


def test_a_time_without_offset_is_not_read_in_the_local_time_zone(
    istio_prometheus: IstioPrometheus,
) -> None:
    """``2026-01-01T00:30:00`` has no offset (not RFC 3339): refuse it or read it as UTC.

    Reading it in the machine's time zone silently judges another window (9 hours
    earlier in Tokyo: before the canary existed).
    """
    args = window_args(istio_prometheus, "error-regression")
    naive = replaced(
        replaced(args, "--start", "2026-01-01T00:30:00"), "--end", "2026-01-01T01:30:00"
    )
    result = run_subprocess(["analyze", "--json", *naive], env={"TZ": "Asia/Tokyo"})
    assert "Traceback" not in result.err
    if result.out:  # not refused: then it must be the UTC window
        utc = run_subprocess(["analyze", "--json", *args], env={"TZ": "Asia/Tokyo"})
        assert result.json() == utc.json(), result.json()["reason"]
    else:  # refused: because of the time, naming it
        refused(result, "2026-01-01T00:30:00")


def test_unknown_template_argument(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    result = run_main(["analyze", *args, "--arg", "clusterLable=cluster"], capsys)
    refused(result, "clusterLable", "clusterLabel")


def test_hostile_template_argument_is_refused(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_main(["analyze", *args, "--arg", 'versionLabel=x"} or vector(1) #'], capsys)
    refused(result, "versionLabel")


def test_missing_required_option_is_a_usage_error(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    without = [
        a
        for i, a in enumerate(args)
        if a != "--template" and (i == 0 or args[i - 1] != "--template")
    ]
    result = run_main(["analyze", *without], capsys)
    refused(result, "--template", status=2)


def test_server_down_is_a_clear_failure_not_a_traceback(args: list[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run_subprocess(["analyze", *replaced(args, "--prometheus", url), "--timeout", "2"])
    assert result.status == 1, result.err
    assert "Traceback" not in result.err
    assert result.out.startswith("verdict: ERROR"), result.out
    assert url in result.out and "query '" in result.out


def test_server_down_backtest_text(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run_main(["backtest", *replaced(args, "--prometheus", url), "--timeout", "2"], capsys)
    assert result.status == 1
    assert "verdict: ERROR" in result.out and url in result.out
    assert "PASS" not in result.out


def test_server_down_as_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run_main(
        ["backtest", "--json", *replaced(args, "--prometheus", url), "--timeout", "2"], capsys
    )
    assert result.status == 1
    body = result.json()
    assert body["summary"]["verdict"] == "error"
    assert [look["verdict"] for look in body["looks"]] == ["error"]
    assert url in body["looks"][0]["reason"]


def test_not_an_http_url(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    result = run_main(["analyze", *replaced(args, "--prometheus", "thanos:9090")], capsys)
    refused(result, "thanos:9090", "http")
