"""The rollouts API and the CLI commands against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import AsyncIterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from support.data import THREE_WAVES_PLAN
from support.worlds import FAST, SimWorld, sim_world

from auspice.analysis.templates import TemplateResolver
from auspice.cli import main
from auspice.rollouts.orchestrator import Orchestrator
from auspice.specs.serve import ServeConfig
from auspice.specs.tokens import TokenEntry
from auspice.storage import Storage
from auspice.webhooks.app import create_app
from auspice.webhooks.auth import TokenAuth
from auspice.webhooks.context import ServiceContext
from auspice.webhooks.rollouts import api as rollouts_api

TOKENS = {"viewer": "viewer-token-0123456789abcdef",
          "operator": "operator-token-0123456789abcdef"}


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[TestClient, SimWorld]]:
    sim = sim_world()
    store = await Storage.open(tmp_path / "state.db")
    from auspice.rollouts.store import RolloutStore

    rollouts = RolloutStore(store.database)
    await rollouts.ensure()
    orchestrator = Orchestrator(store=rollouts, world=sim.world, settings=FAST)
    tokens = TokenAuth([TokenEntry.model_validate({"name": f"{role}-caller", "role": role,
                                                   "token": token})
                        for role, token in TOKENS.items()])
    context = ServiceContext(
        config=ServeConfig.model_validate({"prometheus": {"url": "http://127.0.0.1:9"},
                                           "auth": {"tokensFile": "/nonexistent"}}),
        source=sim.source, store=store, templates=TemplateResolver(None), tokens=tokens,
        clock=sim.clock)
    app = create_app(context)
    rollouts_api.add_routes(app, orchestrator)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    yield client, sim
    await client.close()
    await store.close()


def plan_body() -> dict[str, Any]:
    return {"planYaml": (THREE_WAVES_PLAN).read_text()}


async def until(client: TestClient, rollout: str, state: str) -> dict[str, Any]:
    for _ in range(2000):
        answer = await client.get(f"/api/v1/rollouts/{rollout}", headers=auth("viewer"))
        data = await answer.json()
        if data["state"] == state:
            return data
        await asyncio.sleep(0.005)
    raise AssertionError(f"rollout never reached {state}: {data['state']}")


async def test_start_approve_and_promote(api: tuple[TestClient, SimWorld]) -> None:
    client, _ = api
    answer = await client.post("/api/v1/rollouts", json=plan_body(), headers=auth("operator"))
    assert answer.status == 201
    rollout = (await answer.json())["id"]
    waiting = await until(client, rollout, "awaiting_approval")
    assert waiting["wave"] == 2
    answer = await client.post(f"/api/v1/rollouts/{rollout}/approve", headers=auth("operator"))
    assert answer.status == 200
    await until(client, rollout, "succeeded")
    answer = await client.post(f"/api/v1/rollouts/{rollout}/approve", headers=auth("operator"))
    assert answer.status == 409


async def test_roles_and_bad_input(api: tuple[TestClient, SimWorld]) -> None:
    client, _ = api
    answer = await client.post("/api/v1/rollouts", json=plan_body(), headers=auth("viewer"))
    assert answer.status == 403
    answer = await client.post("/api/v1/rollouts", json=plan_body())
    assert answer.status == 401
    broken = {"planYaml": plan_body()["planYaml"].replace("bakeTime", "bakeTmie")}
    answer = await client.post("/api/v1/rollouts", json=broken, headers=auth("operator"))
    assert answer.status == 422 and "bakeTmie" in (await answer.json())["field"]
    answer = await client.get("/api/v1/rollouts/r-nope", headers=auth("viewer"))
    assert answer.status == 404
    answer = await client.post("/api/v1/rollouts/r-nope/abort", json={"reason": "x"},
                               headers=auth("operator"))
    assert answer.status == 404


async def test_abort_answers_per_cluster_and_needs_operator_and_reason(
        api: tuple[TestClient, SimWorld]) -> None:
    client, sim = api
    answer = await client.post("/api/v1/rollouts", json=plan_body(), headers=auth("operator"))
    rollout = (await answer.json())["id"]
    await until(client, rollout, "awaiting_approval")
    path = f"/api/v1/rollouts/{rollout}/abort"
    assert (await client.post(path, json={"reason": "x"}, headers=auth("viewer"))).status == 403
    assert (await client.post(path, json={}, headers=auth("operator"))).status == 400
    answer = await client.post(path, json={"reason": "pager"}, headers=auth("operator"))
    assert answer.status == 200
    report = await answer.json()
    assert report["state"] == "aborted"
    assert set(report["rollback"]["clusters"]) == {"staging-eu", "prod-eu"}
    assert report["revert"]["status"] == "pushed"
    assert all(w.canary == 0 for w in sim.router.weights.values())
    again = await (await client.post(path, json={"reason": "again"},
                                     headers=auth("operator"))).json()
    assert again["already"] is True and sim.reverter.pushes == 1


async def test_event_stream_sends_every_entry_in_order(api: tuple[TestClient, SimWorld]) -> None:
    client, _ = api
    answer = await client.post("/api/v1/rollouts", json=plan_body(), headers=auth("operator"))
    rollout = (await answer.json())["id"]
    await until(client, rollout, "awaiting_approval")
    await client.post(f"/api/v1/rollouts/{rollout}/approve", headers=auth("operator"))
    stream = await client.get(f"/api/v1/rollouts/{rollout}/events", headers=auth("viewer"))
    assert stream.headers["Content-Type"] == "text/event-stream"
    text = await asyncio.wait_for(stream.text(), 30)
    blocks = [b for b in text.split("\n\n") if b.startswith("id:")]
    ids = [int(b.split("\n")[0].removeprefix("id: ")) for b in blocks]
    assert ids == list(range(1, len(ids) + 1))
    last = json.loads(blocks[-1].split("\ndata: ")[1])
    assert last["what"] == "state.succeeded"
    resumed = await client.get(f"/api/v1/rollouts/{rollout}/events",
                               headers={**auth("viewer"), "Last-Event-ID": str(ids[-3])})
    again = [b for b in (await resumed.text()).split("\n\n") if b.startswith("id:")]
    assert len(again) == 2


def cli(argv: list[str]) -> tuple[int, str, str]:
    """``auspice ARGV`` through the real entry point, as an operator's shell runs it."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


async def test_cli_start_status_abort(api: tuple[TestClient, SimWorld],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    client, sim = api
    server = str(client.make_url("/"))
    monkeypatch.setenv("AUSPICE_TOKEN", TOKENS["operator"])
    code, out, _ = await asyncio.to_thread(cli, ["rollout", "start", str(THREE_WAVES_PLAN),
                                                 "--server", server, "--json"])
    assert code == 0
    rollout = json.loads(out)["id"]
    await until(client, rollout, "awaiting_approval")
    code, out, _ = await asyncio.to_thread(cli, ["rollout", "status", rollout,
                                                 "--server", server])
    assert code == 0 and "awaiting_approval, wave 3" in out and "prod-eu" in out
    code, out, _ = await asyncio.to_thread(cli, ["abort", rollout, "--reason", "incident 42",
                                                 "--server", server])
    assert code == 0
    assert f"rollout {rollout}: aborted" in out
    assert re.search(r"staging-eu\s+ok", out) and re.search(r"prod-eu\s+ok", out)
    assert "revert:" in out
    assert all(w.canary == 0 for w in sim.router.weights.values())
    code, out, _ = await asyncio.to_thread(cli, ["rollout", "status", "--server", server])
    assert re.search(rf"{rollout}\s+aborted", out)


async def operator_waiting_for_approval(client: TestClient,
                                        monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """The server URL, with the operator's token for the CLI, and a rollout of the test
    plan that has reached its approval gate."""
    monkeypatch.setenv("AUSPICE_TOKEN", TOKENS["operator"])
    answer = await client.post("/api/v1/rollouts", json=plan_body(), headers=auth("operator"))
    rollout = (await answer.json())["id"]
    await until(client, rollout, "awaiting_approval")
    return str(client.make_url("/")), rollout


async def test_cli_approve_then_an_abort_too_late_exits_1(
        api: tuple[TestClient, SimWorld], monkeypatch: pytest.MonkeyPatch) -> None:
    client, sim = api
    server, rollout = await operator_waiting_for_approval(client, monkeypatch)
    code, out, _ = await asyncio.to_thread(cli, ["rollout", "approve", rollout,
                                                 "--server", server])
    assert code == 0 and f"rollout {rollout}" in out and "awaiting_approval" not in out
    await until(client, rollout, "succeeded")
    code, out, err = await asyncio.to_thread(cli, ["abort", rollout, "--reason", "late",
                                                   "--server", server])
    assert code == 1
    assert "succeeded (it was already over" in out
    assert "already promoted" in err and "nothing was rolled back" in err
    assert sim.reverter.pushes == 0
    assert all(w.canary == 100 for w in sim.router.weights.values())
    code, _, err = await asyncio.to_thread(cli, ["rollout", "approve", rollout,
                                                 "--server", server])
    assert code == 1 and "409" in err


async def test_cli_abort_with_a_cluster_unreachable_exits_1_naming_it(
        api: tuple[TestClient, SimWorld], monkeypatch: pytest.MonkeyPatch) -> None:
    """The abort is done everywhere it can be, but a responder's script must not read
    "exit 0" while a cluster still sends traffic to the canary."""
    client, sim = api
    server, rollout = await operator_waiting_for_approval(client, monkeypatch)
    sim.router.down.add("staging-eu")
    code, out, err = await asyncio.to_thread(cli, ["abort", rollout, "--reason", "incident 7",
                                                   "--server", server])
    assert code == 1
    assert "UNREACHABLE, still retrying: staging-eu" in out
    assert re.search(r"prod-eu\s+ok", out)
    assert "aborted but not finished" in err and "not yet rolled back: staging-eu" in err
    sim.router.down.clear()


async def test_cli_reports_a_refusal(api: tuple[TestClient, SimWorld],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    client, _ = api
    monkeypatch.setenv("AUSPICE_TOKEN", TOKENS["viewer"])
    code, out, err = await asyncio.to_thread(cli, ["abort", "r-x", "--reason", "y",
                                                   "--server", str(client.make_url("/"))])
    assert code == 1 and out == ""
    assert err.startswith("auspice abort: POST ") and " 403 " in err
