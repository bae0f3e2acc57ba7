"""The rollout state machine, as one table: (state, event) -> (next state, action).

A rollout's life has few states but many ways to move between them (a verdict, a
person's abort or approval, a restart, a cluster that will not answer). Written as
flags inside a long driver function, that logic becomes the part nobody can explain
after an incident. Here every legal move is one row of :data:`TRANSITIONS`; the
orchestrator only reports events and performs the action of the row it took, and
anything not in the table is refused with :class:`IllegalTransition`. docs/rollouts.md
prints this table.

A driver that starts on a stored state (a new rollout, or a restart) performs the
action of the rows that lead into that state, :func:`entry_action`, which is derived
from the same table (a created rollout begins with :data:`CREATED`'s action).

Abort is legal from every state that is not final, and from the rollback states it
changes nothing (``Action.NONE``): abort is idempotent, and a FAIL that is already
rolling back is not restarted by it. From a final state, :func:`apply` refuses: the
caller answers with the recorded outcome instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from auspice.errors import InputError

__all__ = ["ABORTABLE", "CREATED", "FINAL_ACTIONS", "TRANSITIONS", "Action", "Event",
           "IllegalTransition", "State", "Transition", "apply", "entry_action",
           "table_markdown"]


class State(StrEnum):
    PENDING = "pending"  # created, not started (or waiting for the service to pick it up)
    AWAITING_APPROVAL = "awaiting_approval"  # a wave needs a person's go
    RUNNING = "running"  # a wave's clusters are stepping and holding
    BAKING = "baking"  # between two waves
    ROLLING_BACK = "rolling_back"  # canary weight 0 in every touched cluster
    REVERTING = "reverting"  # the release commit is being reverted
    SUCCEEDED = "succeeded"
    PARTIALLY_SUCCEEDED = "partially_succeeded"  # failWholeRollout: false and some failed
    FAILED = "failed"
    ABORTED = "aborted"

    @property
    def final(self) -> bool:
        return self in FINAL


FINAL = frozenset({State.SUCCEEDED, State.PARTIALLY_SUCCEEDED, State.FAILED, State.ABORTED})


class Event(StrEnum):
    START = "start"
    WAVE_NEEDS_APPROVAL = "wave_needs_approval"
    APPROVED = "approved"
    WAVE_PASSED = "wave_passed"  # more waves follow
    LAST_WAVE_PASSED = "last_wave_passed"
    LAST_WAVE_PASSED_WITH_FAILURES = "last_wave_passed_with_failures"
    BAKED = "baked"
    VERDICT_FAIL = "verdict_fail"  # a FAIL that fails the whole rollout
    ABORT = "abort"
    ROLLED_BACK = "rolled_back"  # every touched cluster answered (or was given up on for now)
    REVERTED = "reverted"  # pushed, already reverted, nothing to revert, or not wanted
    REVERT_FAILED = "revert_failed"


class Action(StrEnum):
    NONE = "none"
    BEGIN = "begin"  # the first wave: wait for an approval, or run it
    RUN_WAVE = "run_wave"
    WAIT_APPROVAL = "wait_approval"
    BAKE = "bake"
    ROLLBACK = "rollback"
    REVERT = "revert"
    RECORD_SUCCESS = "record_success"
    RECORD_FAILURE = "record_failure"


@dataclass(frozen=True)
class Transition:
    next: State
    action: Action


S, E, A = State, Event, Action
_ABORTABLE = (S.PENDING, S.AWAITING_APPROVAL, S.RUNNING, S.BAKING)

TRANSITIONS: dict[tuple[State, Event], Transition] = {
    (S.PENDING, E.START): Transition(S.RUNNING, A.RUN_WAVE),
    (S.PENDING, E.WAVE_NEEDS_APPROVAL): Transition(S.AWAITING_APPROVAL, A.WAIT_APPROVAL),
    (S.AWAITING_APPROVAL, E.APPROVED): Transition(S.RUNNING, A.RUN_WAVE),
    (S.RUNNING, E.WAVE_PASSED): Transition(S.BAKING, A.BAKE),
    (S.RUNNING, E.LAST_WAVE_PASSED): Transition(S.SUCCEEDED, A.RECORD_SUCCESS),
    (S.RUNNING, E.LAST_WAVE_PASSED_WITH_FAILURES):
        Transition(S.PARTIALLY_SUCCEEDED, A.RECORD_SUCCESS),
    (S.RUNNING, E.VERDICT_FAIL): Transition(S.ROLLING_BACK, A.ROLLBACK),
    (S.BAKING, E.BAKED): Transition(S.RUNNING, A.RUN_WAVE),
    (S.BAKING, E.WAVE_NEEDS_APPROVAL): Transition(S.AWAITING_APPROVAL, A.WAIT_APPROVAL),
    (S.ROLLING_BACK, E.ROLLED_BACK): Transition(S.REVERTING, A.REVERT),
    (S.REVERTING, E.REVERTED): Transition(S.FAILED, A.RECORD_FAILURE),
    (S.REVERTING, E.REVERT_FAILED): Transition(S.FAILED, A.RECORD_FAILURE),
    # abort wins over everything that is still moving ...
    **{(state, E.ABORT): Transition(S.ROLLING_BACK, A.ROLLBACK) for state in _ABORTABLE},
    # ... and is a no-op once a rollback is under way (it then waits for that one).
    (S.ROLLING_BACK, E.ABORT): Transition(S.ROLLING_BACK, A.NONE),
    (S.REVERTING, E.ABORT): Transition(S.REVERTING, A.NONE),
}


class IllegalTransition(InputError):
    """An event that the state machine does not allow in the rollout's current state."""


def apply(state: State, event: Event, *, aborted: bool = False) -> Transition:
    """The row for ``(state, event)``; a rollback started by an abort ends ABORTED."""
    try:
        transition = TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalTransition(
            f"event {event.value!r} is not allowed while the rollout is {state.value!r}",
            hint="see the state table in docs/rollouts.md") from None
    if aborted and transition.next is State.FAILED:
        return Transition(State.ABORTED, transition.action)
    return transition


def table_markdown() -> str:
    """The table as Markdown, for docs/rollouts.md (kept in sync by a test)."""
    lines = ["| state | event | next state | action |", "|---|---|---|---|"]
    for (state, event), transition in TRANSITIONS.items():
        lines.append(f"| {state.value} | {event.value} | {transition.next.value} | "
                     f"{transition.action.value} |")
    return "\n".join(lines)


#: A new rollout: stored as PENDING, whose first action decides how the first wave starts.
CREATED = Transition(State.PENDING, Action.BEGIN)

#: Actions that end a driver: the outcome is recorded, only stragglers are left to retry.
FINAL_ACTIONS = frozenset({Action.RECORD_SUCCESS, Action.RECORD_FAILURE})

#: States in which an abort cancels what is running and starts a rollback.
ABORTABLE = frozenset(_ABORTABLE)


def _entry_actions() -> dict[State, Action]:
    """For each state, the one action of the rows that lead into it (``NONE`` rows stay
    where they are and are left out). A rollback that an abort started ends ABORTED
    through :func:`apply`, with FAILED's action."""
    found: dict[State, set[Action]] = {CREATED.next: {CREATED.action}}
    for transition in TRANSITIONS.values():
        if transition.action is not Action.NONE:
            found.setdefault(transition.next, set()).add(transition.action)
    found[State.ABORTED] = found[State.FAILED]
    ambiguous = {state: actions for state, actions in found.items() if len(actions) != 1}
    if ambiguous:  # the table itself is wrong: fail at import, not in a driver
        raise AssertionError(f"rows leading into one state disagree on the action: {ambiguous}")
    return {state: next(iter(actions)) for state, actions in found.items()}


_ENTRY = _entry_actions()


def entry_action(state: State) -> Action:
    """What a driver does when it finds a rollout in ``state``: the action of the rows
    that lead there, so a restart performs exactly what the move into it asked for."""
    return _ENTRY[state]
