"""The rollouts API of a running ``auspice serve``, over HTTP, for the command line.

The service owns the rollouts, their state and the cluster credentials, so an incident
responder needs only a URL and a token: ``--server`` (default ``$AUSPICE_SERVER`` or
``http://127.0.0.1:8080``) and ``$AUSPICE_TOKEN``. Every call has a timeout; a refusal
or an unreachable service is an :class:`ApiCallError` that says what to check.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable
from typing import Any, TextIO

import aiohttp

from auspice.errors import AuspiceError

__all__ = ["DEFAULT_SERVER", "ApiCallError", "RolloutClient", "add_server_options", "call",
           "client_for"]

DEFAULT_SERVER = "http://127.0.0.1:8080"


class ApiCallError(AuspiceError):
    """The service refused a call or could not be reached."""


class RolloutClient:
    """The rollouts API over HTTP, with a timeout on every call."""

    def __init__(self, server: str, *, token: str | None, timeout: float = 300.0) -> None:
        self.server = server.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = f"{self.server}{path}"
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as session, \
                    session.request(method, url, json=body, headers=self.headers) as answer:
                text = await answer.text()
                data = json.loads(text) if text else {}
                if answer.status >= 400:
                    message = data.get("message", text) if isinstance(data, dict) else text
                    hint = data.get("hint") if isinstance(data, dict) else None
                    raise ApiCallError(f"{method} {url}: {answer.status} {message}", hint=hint)
                return data
        except (aiohttp.ClientError, TimeoutError) as error:
            raise ApiCallError(f"{method} {url}: {type(error).__name__}: {error}",
                               hint="check --server and that auspice serve is running") from None


def client_for(args: argparse.Namespace) -> RolloutClient:
    """The client the command's ``--server`` and ``$AUSPICE_TOKEN`` describe."""
    return RolloutClient(args.server, token=os.environ.get("AUSPICE_TOKEN"))


def call(work: Callable[[RolloutClient], Any], args: argparse.Namespace,
         show: Callable[[Any, TextIO], None], out: TextIO | None = None) -> Any:
    """Make the call, print its answer (the API's JSON with ``--json``), return it."""
    out = out or sys.stdout
    data = asyncio.run(work(client_for(args)))
    if args.json:
        out.write(json.dumps(data, indent=2, default=str) + "\n")
    else:
        show(data, out)
    return data


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """``--server`` and ``--json``, which every command of a running service takes."""
    parser.add_argument("--server", default=os.environ.get("AUSPICE_SERVER", DEFAULT_SERVER),
                        help=f"auspice serve URL (default $AUSPICE_SERVER or {DEFAULT_SERVER})")
    parser.add_argument("--json", action="store_true", help="print the API's JSON answer")
