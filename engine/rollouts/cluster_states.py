"""One cluster's lifecycle inside a rollout, as a small table.

A cluster of a wave waits, then for each step is *stepping* (its intent recorded, the
weights being written) and *holding* (the weights are set, the analysis looks), until it
is *done* (promoted) or *failed*; a rollback makes every touched cluster *rolled_back*
(a cluster that failed on its own, with ``failWholeRollout: false``, stays *failed* after
its own rollback, so the record says why it is at weight 0; a later rollback of the
whole rollout makes it *rolled_back* like the others). The store refuses any change
of status that is not a row here, in the same transaction as the change.
"""

from __future__ import annotations

from enum import StrEnum

from auspice.errors import InputError

__all__ = ["CLUSTER_TRANSITIONS", "ClusterStatus", "IllegalClusterTransition", "check_move"]


class ClusterStatus(StrEnum):
    WAITING = "waiting"  # its wave has not reached it
    STEPPING = "stepping"  # a step's intent is recorded; the weights are being written
    HOLDING = "holding"  # the step's weights are set; the hold runs
    DONE = "done"  # promoted
    FAILED = "failed"  # its analysis failed or its weights could not be set
    ROLLED_BACK = "rolled_back"  # all traffic back on the stable version


C = ClusterStatus
_ROLLBACK_FROM = (C.WAITING, C.STEPPING, C.HOLDING, C.DONE, C.FAILED, C.ROLLED_BACK)

#: (from, to) moves a cluster may make.
CLUSTER_TRANSITIONS: frozenset[tuple[ClusterStatus, ClusterStatus]] = frozenset({
    (C.WAITING, C.STEPPING),
    (C.STEPPING, C.HOLDING),
    (C.HOLDING, C.STEPPING),  # the next step
    (C.HOLDING, C.DONE),
    (C.STEPPING, C.FAILED),  # weights could not be set
    (C.HOLDING, C.FAILED),  # the analysis failed
    (C.FAILED, C.FAILED),  # its own rollback keeps the reason visible
    *((state, C.ROLLED_BACK) for state in _ROLLBACK_FROM),
    (C.STEPPING, C.STEPPING),  # a restart between intent and write records it again
})


class IllegalClusterTransition(InputError):
    """A change of a cluster's status that its lifecycle does not allow."""


def check_move(cluster: str, current: ClusterStatus, new: ClusterStatus) -> None:
    if (current, new) not in CLUSTER_TRANSITIONS:
        raise IllegalClusterTransition(
            f"cluster {cluster}: status {current.value!r} cannot become {new.value!r}",
            hint="see the cluster lifecycle in docs/rollouts.md")
