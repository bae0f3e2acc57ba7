"""``auspice serve`` as a real process, for tests whose fakes run on the test's event loop.

The waiting is asynchronous (aiohttp, ``asyncio.sleep``), so servers the test runs on
the same loop (``ThanosFake``, ``KubeApiServer``) keep answering while the service starts
and while it is probed. The command is the image's entrypoint, ``auspice serve``, run as
``python -m auspice serve``. Readiness is a state (the process answers /healthz), never a
sleep; a process that exits or never answers fails with the end of its log.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import aiohttp

__all__ = ["serve_process", "tail"]

START_ATTEMPTS = 600  # x 0.1 s between attempts: a loaded machine may take a while


def tail(log: Path, size: int = 3000) -> str:
    return log.read_text(errors="replace")[-size:] if log.exists() else "(no log)"


@contextlib.asynccontextmanager
async def serve_process(config: Path, port: int, log: Path, *, scheme: str = "http",
                        env: Mapping[str, str] | None = None,
                        ) -> AsyncIterator[asyncio.subprocess.Process]:
    """Start ``auspice serve --config CONFIG``; yield once /healthz answers 200; stop it
    with SIGTERM (then SIGKILL) on the way out unless the test already did."""
    with log.open("ab") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "auspice", "serve", "--config", str(config),
            stdout=sink, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
    try:
        await _wait_healthy(process, f"{scheme}://127.0.0.1:{port}/healthz", log)
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _wait_healthy(process: asyncio.subprocess.Process, url: str, log: Path) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        for _ in range(START_ATTEMPTS):
            assert process.returncode is None, f"auspice serve exited:\n{tail(log)}"
            try:
                async with http.get(url, ssl=False) as answer:
                    if answer.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"auspice serve did not answer {url}:\n{tail(log)}")
