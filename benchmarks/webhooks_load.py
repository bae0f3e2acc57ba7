"""Load on the judgement endpoint, next to a bare aiohttp JSON handler, on loopback.

Servers run in child processes, the load comes from this process (an aiohttp client
with a fixed number of concurrent callers), all on 127.0.0.1, one after the other in
the same run so the machine's state is shared:

* ``bare``: an aiohttp app whose one handler answers a small JSON object (the ceiling
  any aiohttp service reaches here);
* ``cached``: ``auspice serve`` with ``cache.ttl`` set, all callers asking for the same
  judgement (Argo's retries, Flagger's hooks, many replicas polling one canary);
* ``uncached``: the same without the cache: every call replays the look against real
  Prometheus (Debian's, backfilled with tests/support/istio_data.py).

The judgement is the healthy scenario's, its clock frozen ten minutes after the canary
start (ten looks). Reported per target: requests per second, p50 and p99 latency, and
the ratio to ``bare``. Then the latency of single looks against real Prometheus (one
caller, a fresh judgement per call so nothing is remembered) at 10 and at 59 looks,
the longest a one-hour template asks for, to compare with Argo's 10 s timeout.

    python -m benchmarks.webhooks_load [--seconds 5] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.prometheus import free_port, shared_istio_prometheus  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
TOKEN = "benchmark-judge-token-0123456789"


# -- servers -------------------------------------------------------------------------

def bare_app() -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"verdict": "continue", "reason": "bare handler"})

    app = web.Application()
    app.router.add_post("/api/v1/judgements", handler)
    app.router.add_get("/healthz", handler)
    return app


def run_bare(port: int) -> None:
    web.run_app(bare_app(), host="127.0.0.1", port=port, access_log=None, print=None)


def start_bare(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "benchmarks.webhooks_load", "--bare",
                             str(port)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def start_auspice(workdir: Path, *, prometheus: str, now: float, port: int,
                  cache_ttl: str | None) -> subprocess.Popen[bytes]:
    tokens = workdir / "tokens.yaml"
    tokens.write_text(yaml.safe_dump({"tokens": [
        {"name": "bench", "role": "judge", "token": TOKEN}]}))
    config: dict[str, Any] = {
        "listen": {"host": "127.0.0.1", "port": port},
        "prometheus": {"url": prometheus, "timeout": "5s"},
        "store": {"path": str(workdir / f"state-{port}.db")},
        "auth": {"tokensFile": str(tokens)},
        "clock": {"startAt": now, "speed": 0.0},
        "logLevel": "warning",
    }
    if cache_ttl:
        config["cache"] = {"ttl": cache_ttl}
    path = workdir / f"serve-{port}.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.Popen([sys.executable, "-m", "auspice", "serve", "--config",
                             str(path)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def wait_up(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not come up")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


# -- load ----------------------------------------------------------------------------

async def load(port: int, body: bytes, *, seconds: float, concurrency: int,
               warmup: float = 1.0) -> dict[str, Any]:
    """Closed-loop load: ``concurrency`` callers, each sending the next request at once."""
    url = f"http://127.0.0.1:{port}/api/v1/judgements"
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    latencies: list[float] = []
    errors = 0
    verdicts: dict[str, int] = {}
    async with ClientSession(connector=TCPConnector(limit=concurrency),
                             timeout=ClientTimeout(total=30)) as session:
        measuring_from = time.perf_counter() + warmup
        until = measuring_from + seconds

        async def caller() -> None:
            nonlocal errors
            while (began := time.perf_counter()) < until:
                async with session.post(url, data=body, headers=headers) as response:
                    answer = await response.read()
                    ok = response.status == 200
                ended = time.perf_counter()
                if began >= measuring_from:
                    latencies.append(ended - began)
                    if not ok:
                        errors += 1
                    else:
                        verdict = json.loads(answer).get("verdict", "?")
                        verdicts[verdict] = verdicts.get(verdict, 0) + 1

        await asyncio.gather(*(caller() for _ in range(concurrency)))
    array = np.array(latencies)
    return {"requests": int(array.size), "errors": errors, "verdicts": verdicts,
            "throughput_rps": float(array.size / seconds),
            "p50_ms": float(np.percentile(array, 50) * 1000),
            "p99_ms": float(np.percentile(array, 99) * 1000)}


async def single_looks(port: int, scenario: Any, *, count: int) -> dict[str, Any]:
    """One caller, a new judgement per call (new release), so every call is a full look."""
    url = f"http://127.0.0.1:{port}/api/v1/judgements"
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    latencies = []
    async with ClientSession(timeout=ClientTimeout(total=30)) as session:
        for index in range(count):
            body = judgement_body(scenario, release=f"look-{index}",
                                  start=scenario.canary_start)
            began = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                answer = json.loads(await response.read())
            latencies.append(time.perf_counter() - began)
            assert response.status == 200 and answer["verdict"] != "error", answer
    array = np.array(latencies)
    return {"looks": answer["look"], "calls": count, "p50_ms": float(np.median(array) * 1000),
            "p99_ms": float(np.percentile(array, 99) * 1000),
            "max_ms": float(array.max() * 1000)}


def judgement_body(scenario: Any, *, release: str = "bench", start: float | None = None) -> bytes:
    scope = {"namespace": scenario.namespace, "cluster": "east"}
    body: dict[str, Any] = {
        "template": "istio", "rollout": f"{scenario.namespace}/reviews", "release": release,
        "canary": {**scope, "version": "v2", "workload": "reviews-v2"},
        "baseline": {**scope, "version": "v1", "workload": "reviews-v1"}}
    if start is not None:
        body["start"] = start
    return json.dumps(body).encode()


# -- the run -------------------------------------------------------------------------

def measure(seconds: float, concurrency: int) -> dict[str, Any]:
    prom = shared_istio_prometheus()
    scenario = prom.scenarios["healthy"]
    body = judgement_body(scenario, start=scenario.canary_start)
    results: dict[str, Any] = {"targets": {}}
    with tempfile.TemporaryDirectory(prefix="auspice-bench-") as scratch:
        workdir = Path(scratch)
        targets = {
            "bare": lambda port: start_bare(port),
            "cached": lambda port: start_auspice(workdir, prometheus=prom.url,
                                                 now=scenario.canary_start + 600, port=port,
                                                 cache_ttl="60s"),
            "uncached": lambda port: start_auspice(workdir, prometheus=prom.url,
                                                   now=scenario.canary_start + 600, port=port,
                                                   cache_ttl=None),
        }
        for name, start in targets.items():
            port = free_port()
            process = start(port)
            try:
                wait_up(port, process)
                results["targets"][name] = asyncio.run(
                    load(port, body, seconds=seconds, concurrency=concurrency))
            finally:
                stop(process)
            print(name, results["targets"][name], flush=True)
        for looks, offset in ((10, 600), (59, 3540)):
            port = free_port()
            process = start_auspice(workdir, prometheus=prom.url,
                                    now=scenario.canary_start + offset, port=port,
                                    cache_ttl=None)
            try:
                wait_up(port, process)
                single = asyncio.run(single_looks(port, scenario, count=100))
            finally:
                stop(process)
            results[f"look_{looks}"] = single
            print(f"single looks ({looks})", single, flush=True)
    bare = results["targets"]["bare"]["throughput_rps"]
    for target in results["targets"].values():
        target["ratio_to_bare"] = target["throughput_rps"] / bare
    results["setup"] = {"seconds": seconds, "concurrency": concurrency,
                        "cpus": os.cpu_count(), "python": sys.version.split()[0],
                        "prometheus": "Debian prometheus, backfilled tests/support/istio_data",
                        "judgement": "istio template, healthy scenario, 10 looks"}
    return results


def markdown(results: dict[str, Any]) -> str:
    setup = results["setup"]
    lines = [
        "# Judgement endpoint under load (benchmarks/webhooks_load.py)",
        "",
        f"Loopback, {setup['concurrency']} concurrent callers for {setup['seconds']:g} s per "
        f"target (after 1 s warm-up), servers in child processes, {setup['cpus']} CPUs "
        "shared by client and server. Judgement: the istio template on the healthy "
        "release, ten looks, real Prometheus.",
        "",
        "| target | requests/s | p50 ms | p99 ms | ratio to bare | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in results["targets"].items():
        lines.append(f"| {name} | {r['throughput_rps']:.0f} | {r['p50_ms']:.2f} | "
                     f"{r['p99_ms']:.2f} | {r['ratio_to_bare']:.2f} | {r['errors']} |")
    lines += ["", "Single looks against real Prometheus (one caller, nothing remembered):", "",
              "| looks replayed | calls | p50 ms | p99 ms | max ms |", "|---:|---:|---:|---:|---:|"]
    for key in ("look_10", "look_59"):
        r = results[key]
        lines.append(f"| {r['looks']} | {r['calls']} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
                     f"{r['max_ms']:.1f} |")
    lines += ["", "Argo's web provider waits 10 s by default; the service answers `error` "
              "after its own 8 s look deadline.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        run_bare(args.bare)
        return
    results = measure(args.seconds, args.concurrency)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "webhooks_load.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "webhooks_load.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
