"""The service process the kill -9 test starts, kills and starts again.

``e2e_child.py start|resume KUBECONFIG LABELS PROMETHEUS PLAN STATE CACHE``: build the
end-to-end world from files and URLs, then start the plan (``start``) or resume every
unfinished rollout of the state file (``resume``), and run until they are over.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from mesh import build_world

from auspice.orchestrator import Orchestrator
from auspice.rollout_store import RolloutStore


async def main(mode: str, kubeconfig: str, labels: str, prometheus: str, plan: str,
               state: str, cache: str) -> int:
    built = build_world(kubeconfig=Path(kubeconfig), labels=Path(labels),
                        prometheus=prometheus, plan_file=Path(plan), cache_dir=Path(cache))
    store = await RolloutStore.open(state)
    orchestrator = Orchestrator(store=store, world=built.world)
    try:
        if mode == "start":
            rollouts = [await orchestrator.start(built.plan, who="e2e")]
        else:
            rollouts = await orchestrator.resume_all()
        for rollout in rollouts:
            record = await orchestrator.wait(rollout)
            print(rollout, record.state.value, flush=True)
    finally:
        await orchestrator.close()
        await built.close()
        await store.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(*sys.argv[1:])))
