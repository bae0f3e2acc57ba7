"""A real OpenSSH server on 127.0.0.1, so the GitOps tests can push over SSH for real.

The SSH transport is where a revert meets host key pinning, ``IdentitiesOnly`` and
``BatchMode``; none of that runs against a local path or smart HTTP. So the tests
start Debian's ``sshd`` as the current user, on a free port, with its own config in
a temp dir: a generated host key, one generated client key in ``AuthorizedKeysFile``,
public keys only, no PAM. Git's ``git-upload-pack`` / ``git-receive-pack`` then run
as that user on the bare repositories, exactly as on a real Git host.

``sshd -D -e`` stays in the foreground and logs to stderr, which goes to a file: the
tests read the ``Accepted publickey`` lines from it to tell which key logged in, if
any. sshd refuses to start without its privilege separation directory ``/run/sshd``
(normally made by systemd), so it is created when missing.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from support.integration import require_binary
from support.prometheus import free_port

__all__ = [
    "SshServer",
    "generate_key",
    "key_fingerprint",
    "public_key",
    "require_sshd",
    "start_sshd",
]

# Debian puts sshd in /usr/sbin, which a non-root user's PATH often lacks.
SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")
PRIVSEP_DIR = Path("/run/sshd")
READY_TIMEOUT = 15.0
START_ATTEMPTS = 3  # a free port can be taken by someone else before sshd binds it

# LogLevel VERBOSE names the fingerprint of every key a client offers, accepted or not.
_LOGIN = r"{} publickey for \S+ from \S+ port \d+ ssh2: \S+ (SHA256:\S+)"
_ACCEPTED = re.compile(_LOGIN.format("Accepted"))
_FAILED = re.compile(_LOGIN.format("Failed"))


def require_sshd() -> str:
    """The absolute path of ``sshd`` (it re-executes itself, so it needs one), or skip/fail.

    sshd lives in an sbin directory, which is not on every PATH, so those are searched too.
    """
    path = os.pathsep.join([os.environ.get("PATH", ""), *SBIN_DIRS])
    sshd = require_binary("sshd", path=path)
    require_binary("ssh")  # git runs it as the client
    require_binary("ssh-keygen")
    return os.path.abspath(sshd)


def generate_key(path: Path, *, comment: str) -> Path:
    """A new passphrase-less ed25519 key pair at ``path`` / ``path.pub``; returns ``path``."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True, capture_output=True,
    )
    return path


def key_fingerprint(key: Path) -> str:
    """The ``SHA256:...`` fingerprint of a key, as sshd logs it."""
    out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(key)],
                         check=True, capture_output=True, text=True).stdout
    return out.split()[1]


def public_key(key: Path) -> str:
    """``type base64`` of a key pair's public half, without the comment."""
    return " ".join(Path(f"{key}.pub").read_text().split()[:2])


@dataclass
class SshServer:
    """A running sshd; :attr:`known_hosts` pins its host key, :attr:`client_key` may log in."""

    port: int
    user: str
    host_key: Path
    client_key: Path
    known_hosts: Path
    log: Path
    process: subprocess.Popen[bytes]

    def url(self, path: Path) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{path}"

    def known_hosts_line(self, key: Path) -> str:
        """A known_hosts line claiming ``key`` is this server's host key."""
        return f"[127.0.0.1]:{self.port} {public_key(key)}\n"

    def accepted_logins(self) -> list[str]:
        """Fingerprints of the client keys sshd accepted so far, one per connection."""
        return _ACCEPTED.findall(self.log.read_text(errors="replace"))

    def refused_keys(self) -> list[str]:
        """Fingerprints of the keys clients offered that sshd did not accept."""
        return _FAILED.findall(self.log.read_text(errors="replace"))


@contextlib.contextmanager
def start_sshd(directory: Path) -> Iterator[SshServer]:
    """Start sshd with its config, keys and log under ``directory``; stop it on exit."""
    sshd = require_sshd()
    directory.mkdir(parents=True, exist_ok=True)
    host_key = generate_key(directory / "ssh_host_ed25519_key", comment="auspice-test-host")
    client_key = generate_key(directory / "client_ed25519", comment="auspice-test-client")
    authorized = directory / "authorized_keys"
    authorized.write_text(Path(f"{client_key}.pub").read_text())
    with contextlib.suppress(FileExistsError, PermissionError):
        PRIVSEP_DIR.mkdir(mode=0o755, parents=True)
    server = _start(sshd, directory, host_key=host_key, client_key=client_key,
                    authorized=authorized)
    try:
        yield server
    finally:
        _stop(server.process)


def _start(sshd: str, directory: Path, *, host_key: Path, client_key: Path,
           authorized: Path) -> SshServer:
    log = directory / "sshd.log"
    for _ in range(START_ATTEMPTS):
        port = free_port()
        config = directory / "sshd_config"
        config.write_text(_config(directory, port=port, host_key=host_key,
                                  authorized=authorized))
        with log.open("wb") as sink:
            process = subprocess.Popen([sshd, "-D", "-e", "-f", str(config)],
                                       stdin=subprocess.DEVNULL, stdout=sink, stderr=sink)
        if _wait_for_banner(process, port):
            known = directory / "known_hosts"
            server = SshServer(port=port, user=pwd.getpwuid(os.getuid()).pw_name,
                               host_key=host_key, client_key=client_key, known_hosts=known,
                               log=log, process=process)
            known.write_text(server.known_hosts_line(host_key))
            return server
        _stop(process)
        if "Bind to port" not in log.read_text(errors="replace"):
            break
    raise AssertionError(f"sshd did not start; its log says:\n{log.read_text(errors='replace')}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, which makes the listening sshd exit at once; SIGKILL if it does not."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _config(directory: Path, *, port: int, host_key: Path, authorized: Path) -> str:
    # SetEnv keeps the developer's git config away from the server-side git too.
    return (
        f"ListenAddress 127.0.0.1\n"
        f"Port {port}\n"
        f"HostKey {host_key}\n"
        f"PidFile {directory / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {authorized}\n"
        "StrictModes no\n"
        "PermitRootLogin prohibit-password\n"
        "PubkeyAuthentication yes\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "UsePAM no\n"
        "PermitUserRC no\n"
        "PrintMotd no\n"
        "LogLevel VERBOSE\n"
        "SetEnv GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null LC_ALL=C\n"
    )


def _wait_for_banner(process: subprocess.Popen[bytes], port: int) -> bool:
    """True once the port answers with an SSH banner; False if sshd exited first."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(64).startswith(b"SSH-2.0-"):
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False
