"""``auspice demo`` tells the story of the issue: promote, then fail in wave 2 and revert.

The terminal view is checked on what a terminal would show: :func:`render` applies the
two cursor sequences the live screen uses, so a block left behind, a block that was not
redrawn or a look that scrolled without news shows up in the rendered text.
"""

from __future__ import annotations

import io
import json
import re

import pytest

from auspice.cli import demo as cli_demo
from auspice.cli.live import LiveScreen, Screen, make_screen
from auspice.demos.rollout import CLUSTERS, demo_plan
from auspice.specs.plan import planned_seconds

CURSOR = re.compile(r"(\x1b\[\d+F\x1b\[J|\n)")
PROGRESS = re.compile(r"^  \[[#.]{30}\] (\d+) of (\d+) planned minutes$")


class TerminalStream(io.StringIO):
    """A stream that says it is a terminal, as a person's stdout would."""

    def isatty(self) -> bool:
        return True


def render(text: str) -> list[str]:
    """The rows a terminal shows after ``text``: 'N rows up to column 1, erase below'."""
    rows = [""]
    for token in CURSOR.split(text):
        if token == "\n":
            rows.append("")
        elif token.startswith("\x1b["):
            up = int(token[2:token.index("F")])
            del rows[len(rows) - 1 - up:]
            rows.append("")
        else:
            rows[-1] += token
    return rows


def test_demo_promotes_the_healthy_release_and_reverts_the_regressed_one() -> None:
    out = io.StringIO()
    assert cli_demo.rollout_demo(regress=None, seed=7, stream=out) == 0
    text = out.getvalue()
    assert "\x1b" not in text  # not a terminal: plain lines only
    assert "healthy release v2: SUCCEEDED" in text
    assert "regressed release v2: FAILED" in text
    assert "failed in wave 2, cluster prod-eu" in text
    assert "ROLLBACK canary -> 0% in prod-eu, staging-eu at once" in text
    assert 'Revert "checkout: release v2"' in text
    assert "e-value" in text
    assert "demo as expected" in text.splitlines()[-1]


def test_demo_json_lines_are_audit_entries() -> None:
    out = TerminalStream()  # JSON is for programs, even on a terminal
    assert cli_demo.rollout_demo(regress=True, seed=3, json_lines=True, stream=out) == 0
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    summary = records.pop()
    assert summary["summary"] == "regressed release v2" and summary["as_expected"] is True
    assert summary["state"] == "failed"
    assert summary["revert"]["status"] == "pushed"
    assert [r["n"] for r in records] == sorted(r["n"] for r in records)
    whats = [r["what"] for r in records]
    assert "look" in whats and whats[-1] == "state.failed"
    looks = [r["details"] for r in records if r["what"] == "look"]
    assert looks[-1]["cluster"] == "prod-eu" and looks[-1]["verdict"] == "fail"


def test_the_plan_takes_88_minutes_when_every_hold_runs_out() -> None:
    plan = demo_plan(repository="file:///nowhere", sha="0123456789abcdef")
    members = {"staging-eu": 0, "prod-eu": 1, "prod-asia": 2, "prod-us-east": 2,
               "prod-us-west": 2}
    # staging 12m, prod-eu 22m, prod-rest two at a time: 2 x 22m, two bakes of 5m
    assert planned_seconds(plan, members) == (12 + 22 + 44 + 10) * 60


def test_on_a_terminal_the_status_block_is_redrawn_in_place() -> None:
    out = TerminalStream()
    assert cli_demo.rollout_demo(regress=None, seed=7, stream=out) == 0
    raw = out.getvalue()
    assert raw.count("\x1b[7F\x1b[J") > 50  # the 7-row block was redrawn at every event
    screen = render(raw)
    progress = {i: PROGRESS.match(row) for i, row in enumerate(screen)}
    progress = {i: match.groups() for i, match in progress.items() if match}
    # each release leaves exactly its last block behind, no stale copies
    assert len(progress) == 2
    (first, done), (second, failed) = progress.items()
    assert done == ("88", "88")  # healthy: the whole plan, as planned
    assert failed[1] == "88" and 17 < int(failed[0]) < 39  # inside wave 2's holds
    healthy, regressed = (screen[i - 1:i + 1 + len(CLUSTERS)] for i in (first, second))
    assert healthy[0] == "  SUCCEEDED, wave 3/3 'prod-rest'"
    assert all("100%  promoted" in row for row in healthy[2:])
    assert regressed[0] == "  FAILED, wave 2/3 'prod-eu'"
    rows = {row.split()[0]: row for row in regressed[2:]}
    assert set(rows) == set(CLUSTERS)
    assert all("[..........]   0%" in row for row in rows.values())
    assert re.search(r"rolled back\s+FAIL\s+e-value [\d.]+/20$", rows["prod-eu"])
    assert "rolled back" in rows["staging-eu"]
    assert all("waiting" in rows[c] for c in ("prod-asia", "prod-us-east", "prod-us-west"))
    text = "\n".join(screen)
    assert 'Revert "checkout: release v2"' in text
    assert "ROLLBACK canary -> 0% in prod-eu, staging-eu at once" in text


def test_on_a_terminal_only_looks_that_change_the_verdict_scroll() -> None:
    plain, live = io.StringIO(), TerminalStream()
    cli_demo.rollout_demo(regress=True, seed=7, stream=plain)
    cli_demo.rollout_demo(regress=True, seed=7, stream=live)
    looks = re.compile(r"m  (\S+)\s+look at\s+\d+%: (\w+)")
    scrolled = [looks.search(row).groups() for row in render(live.getvalue())
                if looks.search(row)]
    every = [m.groups() for m in looks.finditer(plain.getvalue())]
    assert len(scrolled) < len(every)
    last: dict[str, str] = {}
    for cluster, verdict in scrolled:
        assert last.get(cluster) != verdict
        last[cluster] = verdict
    assert scrolled[-1] == ("prod-eu", "FAIL")


class BrokenPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize("screen_type", [Screen, LiveScreen])
def test_a_reader_that_left_ends_the_output_quietly(screen_type: type[Screen]) -> None:
    screen = screen_type(BrokenPipe())
    screen.line("first")  # raises inside, remembered
    screen.line("second")
    assert screen.closed


def test_a_dumb_terminal_and_json_get_plain_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    assert isinstance(make_screen(TerminalStream(), json_lines=False), LiveScreen)
    assert type(make_screen(TerminalStream(), json_lines=True)) is Screen
    assert type(make_screen(io.StringIO(), json_lines=False)) is Screen
    monkeypatch.setenv("TERM", "dumb")
    assert type(make_screen(TerminalStream(), json_lines=False)) is Screen


def test_a_regressed_release_whose_revert_failed_is_not_the_expected_ending() -> None:
    """Weights at 0 but the commit not reverted: the demo must not exit 0 on that."""
    from types import SimpleNamespace

    from auspice.demos.rollout import as_expected
    from auspice.gitops import RevertStatus
    from auspice.rollouts.results import RevertResult
    from auspice.rollouts.states import State

    rows = (SimpleNamespace(weight=0), SimpleNamespace(weight=0))
    ending = SimpleNamespace(state=State.FAILED, clusters=rows,
                             revert=RevertResult(RevertStatus.PUSHED, "pushed"))
    assert as_expected(ending, regressed=True)
    ending.revert = RevertResult.failed(RuntimeError("PushRejected"))
    assert not as_expected(ending, regressed=True)
