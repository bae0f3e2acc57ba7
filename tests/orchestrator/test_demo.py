"""``auspice demo`` tells the story of the issue: promote, then fail in wave 2 and revert."""

from __future__ import annotations

import json

from auspice import rollout_demo


def test_demo_promotes_the_healthy_release_and_reverts_the_regressed_one() -> None:
    lines: list[str] = []
    assert rollout_demo.main(regress=None, seed=7, json_lines=False,
                             print_line=lines.append) == 0
    text = "\n".join(lines)
    assert "healthy release v2: SUCCEEDED" in text
    assert "regressed release v2: FAILED" in text
    assert "failed in wave 2, cluster prod-eu" in text
    assert "ROLLBACK canary -> 0% in prod-eu, staging-eu at once" in text
    assert 'Revert "checkout: release v2"' in text
    assert "e-value" in text


def test_demo_json_lines_are_json() -> None:
    lines: list[str] = []
    assert rollout_demo.main(regress=True, seed=3, json_lines=True,
                             print_line=lines.append) == 0
    records = [json.loads(line) for line in lines]
    assert records[-1]["summary"] == "regressed release v2"
    assert records[-1]["state"] == "failed"
    assert records[-1]["revert"]["status"] == "pushed"
    assert any(r.get("event") == "look" for r in records)
