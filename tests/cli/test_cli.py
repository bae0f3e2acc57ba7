"""The ``auspice`` command as a user types it: which demo runs, its flags and exit status,
the live view on a real pseudo-terminal, and the rollout commands being there at all."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios

import pytest

from auspice import cli
from auspice.demos import rollout as rollout_demo


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``auspice ARGV`` in this process; argparse's SystemExit becomes the status."""
    try:
        status = cli.main(argv)
    except SystemExit as exit_:
        status = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return status, out, err


def test_demo_regress_runs_only_the_regressed_rollout(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["demo", "--regress"], capsys)
    assert status == 0
    assert "\x1b" not in out  # captured stdout is no terminal: plain lines
    assert "regressed release v2: FAILED" in out and "healthy release v2" not in out
    assert "== wave 2 'prod-eu': prod-eu" in out
    assert "canary weights now: staging-eu 0%, prod-eu 0%" in out
    assert 'Revert "checkout: release v2"' in out


def test_demo_healthy_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["demo", "--healthy", "--json", "--seed", "11"], capsys)
    assert status == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert records[-1]["summary"] == "healthy release v2"
    assert records[-1]["state"] == "succeeded"
    assert {row["weight"] for row in records[-1]["clusters"]} == {100}
    started = [r["details"]["name"] for r in records[:-1] if r["what"] == "wave.started"]
    assert started == ["staging", "prod-eu", "prod-rest"]


def test_demo_exits_1_when_the_story_does_not_end_as_told(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rollout_demo, "as_expected", lambda record, *, regressed: False)
    status, out, _ = run(["demo", "--regress"], capsys)
    assert status == 1
    assert "demo NOT as expected" in out


def test_the_judges_demo_stays_reachable(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["demo", "--judges-only"], capsys)
    assert status == 0
    assert "release 'healthy'" in out and "release 'regressed'" in out
    assert "latency E" in out and "error-rate E" in out  # e-values look by look
    summary = out.splitlines()[-1]
    assert summary.startswith("summary: healthy -> pass") and "regressed -> fail" in summary
    assert "prod-eu" not in out  # not the rollout


def test_demo_choices_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(["demo", "--regress", "--healthy"], capsys)
    assert status == 2 and "not allowed with argument --regress" in err
    status, _, _ = run(["demo", "--judges-only", "--regress"], capsys)
    assert status == 2


def _on_a_pty(argv: list[str], *, columns: int) -> tuple[int, str]:
    """Run ``argv`` with stdout and stderr on a new pseudo-terminal; (status, output)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {**os.environ, "TERM": "xterm"}
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=follower,
                               stderr=follower, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: every writer closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return process.wait(timeout=120), b"".join(chunks).decode()


def test_auspice_demo_on_a_terminal_draws_the_live_view() -> None:
    status, output = _on_a_pty([sys.executable, "-m", "auspice", "demo", "--regress"],
                               columns=70)
    assert status == 0
    assert "\x1b[7F\x1b[J" in output  # the block is redrawn in place
    last_block = output.rsplit("\x1b[7F\x1b[J", 1)[1].replace("\r", "").splitlines()
    assert last_block[1] == "  FAILED, wave 2/3 'prod-eu'"
    rows = last_block[3:8]
    assert [row.split()[0] for row in rows] == ["staging-eu", "prod-eu", "prod-asia",
                                                "prod-us-east", "prod-us-west"]
    assert all("]   0%" in row and len(row) < 70 for row in rows)  # cut to the width
    assert 'Revert "checkout: release v2"' in output
@pytest.mark.parametrize("argv", [["abort", "--help"], ["rollout", "--help"],
                                  ["rollout", "start", "--help"],
                                  ["rollout", "status", "--help"],
                                  ["rollout", "approve", "--help"]])
def test_rollout_commands_have_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(argv, capsys)
    assert status == 0
    assert out.startswith(f"usage: auspice {' '.join(argv[:-1])}")
    assert "--server" in out or argv == ["rollout", "--help"]


def test_abort_needs_a_rollout_and_a_reason(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(["abort", "r-1"], capsys)
    assert status == 2 and "--reason" in err
