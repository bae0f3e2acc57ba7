"""``auspice serve`` as a real process: an execution survives ``kill -9``.

The first process accepts an execution while its Prometheus never answers (a socket
that listens and never accepts), and is killed with SIGKILL in the middle of it. The
second process, on the same state file and a working Prometheus, runs the execution
again when Argo's provider polls for it, and answers with the right score.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from support.istio_data import SCENARIOS
from support.kayenta import WINDOW_END, WINDOW_START, iso, reviews_config, write_configs
from support.prometheus import IstioPrometheus, free_port

READY_SECONDS = 180.0  # a guard against a hang only: a loaded machine starts slowly


class Service:
    def __init__(self, tmp: Path, prometheus_url: str, name: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        config = tmp / f"{name}.yaml"
        tokens = tmp / "tokens.yaml"
        tokens.write_text(
            "tokens:\n  - {name: ci, role: operator, token: operator-token-0123456789}\n"
        )
        config.write_text(
            f"listen: {{host: 127.0.0.1, port: {self.port}}}\n"
            f'prometheus: {{url: "{prometheus_url}", timeout: 60s, retries: 0}}\n'
            f"store: {{path: {tmp / 'state.db'}}}\n"
            f"auth: {{tokensFile: {tokens}}}\n"
            f"kayenta: {{configDirectory: {tmp / 'configs'}, allowAnonymous: judge,"
            " executionTimeout: 120s}\n"
        )
        self.log = tmp / f"{name}.log"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                f"from auspice.webhooks.serve import main; main({str(config)!r})",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("wb"),
        )
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"auspice serve exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=1):
                    return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.05)
        raise AssertionError("auspice serve did not start")

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@pytest.fixture
def services(tmp_path: Path):
    started: list[Service] = []

    def start(url: str, name: str) -> Service:
        service = Service(tmp_path, url, name)
        started.append(service)
        return service

    yield start
    for service in started:
        service.kill()


def test_an_execution_survives_kill_9(
    services, tmp_path: Path, istio_prometheus: IstioPrometheus
) -> None:
    write_configs(tmp_path / "configs", reviews_config())
    black_hole = socket.socket()
    black_hole.bind(("127.0.0.1", 0))
    black_hole.listen(64)
    try:
        first = services(f"http://127.0.0.1:{black_hole.getsockname()[1]}", "first")
        namespace = SCENARIOS["latency-regression"].namespace
        window = {
            "start": iso(WINDOW_START),
            "end": iso(WINDOW_END),
            "step": 60,
            "region": namespace,
        }
        status, started = first.call(
            "POST",
            "/canary/reviews-golden-id?application=reviews",
            {
                "scopes": {
                    "default": {
                        "controlScope": {"scope": "v1", **window},
                        "experimentScope": {"scope": "v2", **window},
                    }
                },
                "thresholds": {"pass": 95, "marginal": 75},
            },
        )
        assert status == 200, started
        execution = started["canaryExecutionId"]
        status, running = first.call("GET", f"/canary/{execution}")
        assert (status, running["complete"]) == (200, False)
        first.kill()
    finally:
        black_hole.close()

    second = services(istio_prometheus.url, "second")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, answer = second.call("GET", f"/canary/{execution}")
        assert status == 200, answer
        if answer["complete"]:
            break
        time.sleep(0.05)
    assert answer["status"] == "succeeded", answer
    assert answer["result"]["judgeResult"]["score"]["score"] == 50.0
    assert "kayenta.execution.resumed" in second.log.read_text()
