"""The rollout engine: a RolloutPlan driven wave by wave, cluster by cluster, to an end.

* :mod:`.states` -- the rollout's state table; :mod:`.cluster_states` -- each cluster's;
* :mod:`.orchestrator` -- the drivers: start, resume, approve, abort, one task per rollout;
* :mod:`.wave` -- one wave's clusters, concurrently; :mod:`.steps` -- one cluster's steps
  and holds; :mod:`.looks` -- one look of every template at a cluster;
* :mod:`.finish` -- rollback (traffic first) and revert (the commit second);
* :mod:`.world` -- what a rollout acts on (router, source, templates, reverter, clock) and
  who hears of it; :mod:`.reverter` -- the release revert;
* :mod:`.run` -- a rollout's in-memory handle; :mod:`.store` -- its durable state;
  :mod:`.results` -- rollback, revert and outcome as values.
"""

from auspice.rollouts.orchestrator import AbortReport, Orchestrator, RolloutNotFound, Settings
from auspice.rollouts.states import IllegalTransition, State
from auspice.rollouts.store import RolloutRecord, RolloutStore
from auspice.rollouts.world import Listener, World

__all__ = ["AbortReport", "IllegalTransition", "Listener", "Orchestrator", "RolloutNotFound",
           "RolloutRecord", "RolloutStore", "Settings", "State", "World"]
