"""Real Prometheus for integration tests: backfill, start, wait until ready, stop.

Tests that need numbers from a real PromQL engine use Debian's ``prometheus`` and
``promtool``. Two ways to get data in:

* backfill: :func:`backfill` turns OpenMetrics text into TSDB blocks with
  ``promtool tsdb create-blocks-from openmetrics`` before the server starts;
* live scraping: :func:`start_prometheus` with ``scrape_configs`` pointing at an
  exporter (see ``tests/metrics/test_live_scrape.py``).

The shared Istio data set (``support.istio_data``) is backfilled once per machine:
the blocks are cached under the temp dir, keyed by a hash of the generator's source
and the promtool version, and copied into each server's fresh data dir. The server is
started once per test process (the :func:`istio_prometheus` fixture, importable into
any conftest) and stopped when the process exits.

Facts this relies on (measured with Prometheus 2.42): samples out of order are
dropped silently, so the generator sorts them; retention counts from the newest
block, so ``--storage.tsdb.retention.time`` is set far out, and old backfilled data
survives next to live samples.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from support import istio_data
from support.integration import require_binary

__all__ = [
    "IstioPrometheus",
    "PrometheusServer",
    "backfill",
    "free_port",
    "istio_prometheus",
    "start_prometheus",
]

READY_TIMEOUT = 30.0
RETENTION = "100y"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def backfill(texts: Sequence[str], data_dir: Path, *, promtool: str = "promtool") -> float:
    """Write TSDB blocks from OpenMetrics ``texts`` into ``data_dir``; return the seconds.

    Each text becomes one promtool run (in parallel, one per CPU); give one text per
    2-hour block, see :meth:`support.istio_data.Dataset.openmetrics_blocks`.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="auspice-om-") as scratch:
        paths = []
        for index, text in enumerate(texts):
            path = Path(scratch) / f"block-{index}.om"
            path.write_text(text)
            paths.append(path)

        def run(path: Path) -> subprocess.CompletedProcess[str]:
            command = [promtool, "tsdb", "create-blocks-from", "openmetrics", "-q",
                       str(path), str(data_dir)]  # fmt: skip
            return subprocess.run(command, capture_output=True, text=True, timeout=300)

        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            results = list(pool.map(run, paths))
    for result in results:
        if result.returncode != 0:
            raise RuntimeError(f"promtool backfill failed: {result.stderr.strip()[-2000:]}")
    return time.perf_counter() - began


@dataclass
class PrometheusServer:
    """A running Prometheus; ``url`` is its base URL, ``startup_seconds`` until ready."""

    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    startup_seconds: float
    owned_dirs: list[Path] = field(default_factory=list)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Terminate (then kill) the process and remove the directories it owns."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        for directory in self.owned_dirs:
            shutil.rmtree(directory, ignore_errors=True)


def start_prometheus(
    data_dir: Path,
    *,
    scrape_configs: Sequence[dict[str, Any]] = (),
    scrape_interval: str = "15s",
    binary: str = "prometheus",
    retention: str = RETENTION,
    owned_dirs: Sequence[Path] = (),
) -> PrometheusServer:
    """Start Prometheus on 127.0.0.1 with a free port; return once ``/-/ready`` says so."""
    data_dir.mkdir(parents=True, exist_ok=True)
    config = {"global": {"scrape_interval": scrape_interval, "evaluation_interval": "15s"},
              "scrape_configs": list(scrape_configs)}  # fmt: skip
    config_path = data_dir.parent / f"{data_dir.name}-prometheus.yml"
    config_path.write_text(yaml.safe_dump(config))
    last_error = ""
    for _attempt in range(3):  # the free port may be taken between probe and bind
        port = free_port()
        log_path = data_dir.parent / f"{data_dir.name}-prometheus.log"
        command = [
            binary,
            f"--config.file={config_path}",
            f"--storage.tsdb.path={data_dir}",
            f"--storage.tsdb.retention.time={retention}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ]
        began = time.perf_counter()
        with log_path.open("wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        server = PrometheusServer(
            url=f"http://127.0.0.1:{port}",
            data_dir=data_dir,
            process=process,
            log_path=log_path,
            startup_seconds=0.0,
            owned_dirs=[*owned_dirs, config_path, log_path],
        )
        if _wait_ready(server):
            server.startup_seconds = time.perf_counter() - began
            return server
        last_error = server.log_tail()
        server.owned_dirs = []
        server.stop()
        if "address already in use" not in last_error:
            break
    raise RuntimeError(f"prometheus did not become ready:\n{last_error}")


def _wait_ready(server: PrometheusServer) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(server.url + "/-/ready", timeout=2) as answer:
                if answer.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    return False


@dataclass
class IstioPrometheus:
    """The shared server holding :mod:`support.istio_data`'s scenarios."""

    server: PrometheusServer
    dataset: istio_data.Dataset
    backfill_seconds: float
    from_cache: bool

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def scenarios(self) -> dict[str, istio_data.Scenario]:
        return self.dataset.scenarios


_SHARED: IstioPrometheus | None = None


def _cache_dir(promtool: str) -> Path:
    version = subprocess.run([promtool, "--version"], capture_output=True, text=True, timeout=30)
    digest = hashlib.sha256(Path(istio_data.__file__).read_bytes())
    digest.update(version.stdout.encode() + version.stderr.encode())
    digest.update(np.__version__.encode())
    return Path(tempfile.gettempdir()) / f"auspice-istio-blocks-{digest.hexdigest()[:16]}"


def _cached_blocks(dataset: istio_data.Dataset, promtool: str) -> tuple[Path, float, bool]:
    cache = _cache_dir(promtool)
    if cache.is_dir():
        return cache, 0.0, True
    building = Path(tempfile.mkdtemp(prefix="auspice-istio-build-"))
    seconds = backfill(dataset.openmetrics_blocks(), building, promtool=promtool)
    with contextlib.suppress(OSError):  # another process may have won the race
        building.rename(cache)
    if not cache.is_dir():
        return building, seconds, False
    shutil.rmtree(building, ignore_errors=True)
    return cache, seconds, False


def shared_istio_prometheus() -> IstioPrometheus:
    """Start (once per process) Prometheus with the Istio scenarios backfilled."""
    global _SHARED
    if _SHARED is not None and _SHARED.server.process.poll() is None:
        return _SHARED
    binary = require_binary("prometheus")
    promtool = require_binary("promtool")
    dataset = istio_data.generate()
    blocks, seconds, cached = _cached_blocks(dataset, promtool)
    root = Path(tempfile.mkdtemp(prefix="auspice-prometheus-"))
    data_dir = root / "data"
    shutil.copytree(blocks, data_dir)
    server = start_prometheus(data_dir, binary=binary, owned_dirs=[root])
    atexit.register(server.stop)
    _SHARED = IstioPrometheus(server, dataset, seconds, cached)
    return _SHARED


@pytest.fixture(scope="session")
def istio_prometheus() -> Iterator[IstioPrometheus]:
    """Prometheus with the healthy / error-regression / latency-regression releases.

    Import it into a conftest: ``from support.prometheus import istio_prometheus``.
    """
    yield shared_istio_prometheus()
