from __future__ import annotations

from pathlib import Path

from .world import orchestrator, plan, sim_world


async def test_healthy_promotes(tmp_path: Path) -> None:
    sim = sim_world()
    orch = await orchestrator(sim, tmp_path / "state.db")
    rollout = await orch.start(plan(), who="alice")
    import asyncio
    for _ in range(2000):
        rec = await orch.status(rollout)
        if rec.state.value == "awaiting_approval":
            await orch.approve(rollout, who="bob")
        if rec.state.final:
            break
        await asyncio.sleep(0)
        await sim.clock.sleep(1)
    rec = await orch.wait(rollout)
    print(rec.state, rec.outcome)
    for e in await orch.store.events(rollout):
        print(e.n, e.at - 1_700_000_000, e.what, {k: v for k, v in e.details.items() if k != "analyses"})
    assert rec.state.value == "succeeded"
