"""``auspice serve`` as a real process: kill -9 between two looks, and SIGTERM mid-look.

The service is started with ``python -m auspice serve --config FILE`` (or, before the
CLI has the command, ``python -m auspice.webhooks.serve``, which runs the same
function), its clock frozen by the config's ``clock.startAt`` so
the looks land in the backfilled data. After ``kill -9`` a new process on the same
state file must continue the judgement with the start the first one recorded.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from support.prometheus import IstioPrometheus, free_port
from support.service import TOKENS

READY_SECONDS = 180.0  # a guard against a hang only: a loaded machine starts slowly


def write_config(tmp_path: Path, *, prometheus: str, now: float, port: int,
                 templates: Path | None = None) -> Path:
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(yaml.safe_dump({"tokens": [
        {"name": "argo", "role": "judge", "token": TOKENS["judge"]},
        {"name": "viewer", "role": "viewer", "token": TOKENS["viewer"]}]}))
    config: dict[str, Any] = {
        "listen": {"host": "127.0.0.1", "port": port},
        "prometheus": {"url": prometheus, "timeout": "5s"},
        "store": {"path": str(tmp_path / "state.db")},
        "auth": {"tokensFile": str(tokens)},
        "clock": {"startAt": now, "speed": 0.0},
        "limits": {"shutdownTimeout": "10s"},
    }
    if templates is not None:
        config["templates"] = {"directory": str(templates)}
    path = tmp_path / "serve.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def serve_command(config: Path) -> list[str]:
    """``python -m auspice serve``: the command a container or a person runs."""
    return [sys.executable, "-m", "auspice", "serve", "--config", str(config)]


@contextmanager
def serving(config: Path, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as sink:
        process = subprocess.Popen(
            serve_command(config),
            stdout=sink, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        wait_ready(port, process, log)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def wait_ready(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, f"auspice serve exited:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.05)
    raise AssertionError(f"auspice serve did not come up:\n{log.read_text()[-3000:]}")


def post(port: int, body: dict[str, Any], *, timeout: float = 15) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/judgements", data=json.dumps(body).encode(),
        method="POST", headers={"Authorization": f"Bearer {TOKENS['judge']}",
                                "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def healthy_body(prom: IstioPrometheus) -> dict[str, Any]:
    release = prom.scenarios["healthy"]
    scope = {"namespace": release.namespace, "cluster": "east"}
    return {"template": "istio", "rollout": f"{release.namespace}/reviews", "release": "abc123",
            "canary": {**scope, "version": "v2", "workload": "reviews-v2"},
            "baseline": {**scope, "version": "v1", "workload": "reviews-v1"}}


def test_kill_9_between_two_looks_keeps_the_start(
        tmp_path: Path, istio_prometheus: IstioPrometheus) -> None:
    opened_at = istio_prometheus.scenarios["healthy"].canary_start + 120
    port = free_port()
    log = tmp_path / "serve.log"
    body = healthy_body(istio_prometheus)

    config = write_config(tmp_path, prometheus=istio_prometheus.url, now=opened_at, port=port)
    with serving(config, port, log) as first:
        status, answer = post(port, body)
        assert status == 200 and answer["created"] is True, answer
        assert answer["start_epoch"] == opened_at and answer["verdict"] == "continue"
        judgement = answer["judgement"]
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)

    config = write_config(tmp_path, prometheus=istio_prometheus.url, now=opened_at + 600,
                          port=port)
    with serving(config, port, log):
        status, answer = post(port, body)
        assert status == 200, answer
        assert answer["created"] is False and answer["judgement"] == judgement
        assert answer["start_epoch"] == opened_at
        assert answer["look"] == 10 and answer["elapsed_seconds"] == 600
        assert answer["verdict"] == "continue", answer
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/judgements/{judgement}",
            headers={"Authorization": f"Bearer {TOKENS['viewer']}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            record = json.load(response)
        assert record["looks"] == 2 and record["start"] == opened_at
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(line.get("event") == "judgement.look" for line in lines)


SLOW = """\
apiVersion: auspice.dev/v1alpha1
kind: AnalysisTemplate
metadata:
  name: slow
spec:
  interval: 1m
  metrics:
    - name: errors
      kind: counts
      tolerance: 1.5
      events: sum(increase(errors_total{version="{{version}}"}[1m]))
      total: sum(increase(requests_total{version="{{version}}"}[1m]))
"""


class SlowPrometheus:
    """A Prometheus API that takes ``delay`` seconds per range query (in a thread)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.port = free_port()
        self.queries = 0

    async def query_range(self, request: web.Request) -> web.Response:
        self.queries += 1
        form = request.query
        await asyncio.sleep(self.delay)
        start, end, step = (float(form[k]) for k in ("start", "end", "step"))
        value = "1" if "errors" in form["query"] else "100"
        points = [[start + i * step, value] for i in range(int((end - start) / step) + 1)]
        return web.json_response({"status": "success", "data": {
            "resultType": "matrix", "result": [{"metric": {}, "values": points}]}})


def run_slow_prometheus(slow: SlowPrometheus) -> tuple[asyncio.AbstractEventLoop, Any]:
    import threading

    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_get("/api/v1/query_range", slow.query_range)
    runner = web.AppRunner(app)
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", slow.port).start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10)
    return loop, runner


def test_sigterm_lets_a_running_look_finish(tmp_path: Path) -> None:
    slow = SlowPrometheus(delay=1.5)
    loop, runner = run_slow_prometheus(slow)
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "slow.yaml").write_text(SLOW)
    port = free_port()
    log = tmp_path / "serve.log"
    now = 1_767_230_000.0
    body = {"template": "slow", "rollout": "shop/reviews", "canary": {"version": "v2"},
            "baseline": {"version": "v1"}, "start": now - 300}
    config = write_config(tmp_path, prometheus=f"http://127.0.0.1:{slow.port}", now=now,
                          port=port, templates=templates)
    try:
        with serving(config, port, log) as process:
            result: dict[str, Any] = {}

            def call() -> None:
                result["answer"] = post(port, body)

            import threading

            caller = threading.Thread(target=call)
            caller.start()
            deadline = time.monotonic() + 10
            while slow.queries == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert slow.queries > 0, "the look never reached the metrics source"
            process.send_signal(signal.SIGTERM)
            caller.join(timeout=20)
            assert process.wait(timeout=20) == 0, log.read_text()[-3000:]
            status, answer = result["answer"]
            assert status == 200 and answer["verdict"] in ("continue", "pass"), answer
            assert answer["look"] == 5
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
    events = [json.loads(line).get("event") for line in log.read_text().splitlines()
              if line.startswith("{")]
    assert "stopping" in events and "shutdown" in events
