"""The state table and the plan's validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.data import THREE_WAVES_PLAN

from auspice.rollouts.states import (
    ABORTABLE,
    CREATED,
    TRANSITIONS,
    Action,
    Event,
    IllegalTransition,
    State,
    apply,
    entry_action,
    table_markdown,
)
from auspice.specs import SpecError
from auspice.specs.plan import load_plan, plan_from_data
from auspice.specs.validate import validate_report

DOCS = Path(__file__).resolve().parents[2] / "docs" / "rollouts.md"


def test_abort_is_legal_from_every_moving_state_and_ends_aborted() -> None:
    for state in State:
        if state.final:
            with pytest.raises(IllegalTransition):
                apply(state, Event.ABORT)
            continue
        transition = apply(state, Event.ABORT)
        assert transition.next is State.ROLLING_BACK or state not in ABORTABLE
    assert apply(State.REVERTING, Event.REVERTED, aborted=True).next is State.ABORTED
    assert apply(State.REVERTING, Event.REVERTED).next is State.FAILED


def test_every_non_final_state_is_reachable_and_has_an_entry_action() -> None:
    targets = {t.next for t in TRANSITIONS.values()} | {State.ABORTED}  # apply(aborted=True)
    assert {s for s in State if s is not State.PENDING} <= targets
    for state in State:  # a driver that finds a rollout there knows what to do
        assert entry_action(state) is not Action.NONE


def test_the_entry_action_is_the_action_of_the_rows_leading_in() -> None:
    """A restart performs exactly what the move into the stored state asked for."""
    assert entry_action(State.PENDING) is CREATED.action is Action.BEGIN
    for transition in TRANSITIONS.values():
        if transition.action is not Action.NONE:
            assert entry_action(transition.next) is transition.action
    assert entry_action(State.ABORTED) is entry_action(State.FAILED) is Action.RECORD_FAILURE


def test_no_row_performs_nothing_except_an_abort_during_a_rollback() -> None:
    idle = {key for key, t in TRANSITIONS.items() if t.action is Action.NONE}
    assert idle == {(State.ROLLING_BACK, Event.ABORT), (State.REVERTING, Event.ABORT)}
    assert all(TRANSITIONS[key].next is key[0] for key in idle)


def test_final_states_accept_nothing() -> None:
    assert not [key for key in TRANSITIONS if key[0].final]


def test_docs_print_the_table() -> None:
    assert table_markdown() in DOCS.read_text()


def test_plan_round_trips_through_the_store_format() -> None:
    plan = load_plan(str(THREE_WAVES_PLAN))
    assert plan_from_data(plan.to_data()) == plan


def test_plan_rules_are_reported_with_lines(tmp_path: Path) -> None:
    text = (THREE_WAVES_PLAN).read_text()
    text = text.replace("{weight: 50, hold: 5m}", "{weight: 5, hold: 5m}")
    text = text.replace("name: prod-rest", "name: prod-eu")
    text = text.replace("        - {weight: 100, hold: 1m}\n  options",
                        "        - {weight: 90, hold: 1m}\n  options")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(SpecError) as caught:
        load_plan(str(bad))
    messages = [(p.line, p.message) for p in caught.value.problems]
    assert any("must rise" in m for _, m in messages)
    assert any("used twice" in m for _, m in messages)
    assert any("not 100" in m for _, m in messages)
    assert all(line is not None for line, _ in messages)


def test_validate_covers_rollout_plans(tmp_path: Path) -> None:
    report = validate_report([str(THREE_WAVES_PLAN)])
    assert report.ok and report.documents[0].kind == "RolloutPlan"
    bad = tmp_path / "typo.yaml"
    bad.write_text((THREE_WAVES_PLAN).read_text().replace("bakeTime", "bakeTmie"))
    report = validate_report([str(bad)])
    assert not report.ok and "bakeTmie" in report.problems[0].field
