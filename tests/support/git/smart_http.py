"""Git's smart HTTP protocol behind HTTP Basic auth, for testing token credentials for real.

``git http-backend`` (shipped with git) runs as a CGI program under a small aiohttp
server that demands ``Authorization: Basic base64(user:token)``. Whenever an
authorised request arrives, i.e. while Auspice's git is running and has just used
the token, the server scans every process's command line (what ``ps`` shows) and
environment for the token, so a test can assert it was never exposed there.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
from pathlib import Path

from aiohttp import web

HTTP_BACKEND = "/usr/lib/git-core/git-http-backend"


def http_backend() -> str:
    if Path(HTTP_BACKEND).exists():
        return HTTP_BACKEND
    found = shutil.which("git-http-backend")
    if found is None:
        raise AssertionError("git-http-backend is not installed (it ships with git)")
    return found


class SmartHttpGit:
    """Serves the bare repositories under ``root`` at ``http://127.0.0.1:PORT/<name>``."""

    def __init__(self, *, root: Path, username: str, token: str) -> None:
        self.root = root
        self.username = username
        self.token = token
        self.refused = 0
        self.authorised = 0
        self.on_command_lines: list[str] = []
        self.in_environments: list[str] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        expected = base64.b64encode(f"{self.username}:{self.token}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            self.refused += 1
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="git"'})
        self.authorised += 1
        self._scan_processes()
        return await self._cgi(request)

    async def _cgi(self, request: web.Request) -> web.Response:
        body = await request.read()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "REQUEST_METHOD": request.method,
            "PATH_INFO": request.path,
            "QUERY_STRING": request.query_string,
            "CONTENT_TYPE": request.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": self.username,
            "REMOTE_ADDR": "127.0.0.1",
        }
        for header, variable in (("Content-Encoding", "HTTP_CONTENT_ENCODING"),
                                 ("Git-Protocol", "HTTP_GIT_PROTOCOL")):
            if header in request.headers:
                env[variable] = request.headers[header]
        for name in ("GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM", "HOME"):
            if name in os.environ:
                env[name] = os.environ[name]
        process = await asyncio.create_subprocess_exec(
            http_backend(), env=env, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, _ = await process.communicate(body)
        return _cgi_response(out)

    def _scan_processes(self) -> None:
        needle = self.token.encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            for name, found in (("cmdline", self.on_command_lines),
                                ("environ", self.in_environments)):
                try:
                    data = (entry / name).read_bytes()
                except OSError:
                    continue
                if needle in data:
                    found.append(f"pid {entry.name} {name}: {data[:200]!r}")


def _cgi_response(output: bytes) -> web.Response:
    separator = b"\r\n\r\n" if b"\r\n\r\n" in output else b"\n\n"
    head, _, payload = output.partition(separator)
    status = 200
    headers: dict[str, str] = {}
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.split()[0])
        elif name.lower() != "content-length" and name:
            headers[name.strip()] = value.strip()
    return web.Response(status=status, headers=headers, body=payload)
