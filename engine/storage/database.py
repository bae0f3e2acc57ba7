"""The state database: one SQLite file, one worker thread, transactions and schema parts.

Every table of Auspice (judgements, rollouts, Kayenta executions, the audit log) lives
in one state database, and every statement reaches it through :class:`Database`. The
service runs one asyncio loop and SQLite is blocking, so every statement runs on one
dedicated worker thread that owns the connection (SQLite connections are not to be
shared between threads). One thread also serialises the writers, which is what SQLite
wants anyway. The file runs in WAL mode with ``synchronous=NORMAL``: readers do not block
the writer, and a committed transaction survives a process crash (only a power loss may
drop the last commits, which every caller tolerates: a judgement reopens, a rollout
resumes from its last recorded step).

The schema is a list of named parts, each applied once in one transaction and remembered
in ``schema_parts``; each feature adds its own part (:meth:`Database.ensure_schema`)
without touching the others' tables, and a later part migrates an earlier one.

This class is the seam where another engine plugs in: the table modules
(:mod:`.judgements`, :mod:`.audit`, :mod:`auspice.rollouts.store`,
:mod:`auspice.webhooks.kayenta.store`) only call :meth:`Database.run` with a function of
a connection and :func:`transaction`.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from auspice.errors import AuspiceError

__all__ = ["BUSY_TIMEOUT_SECONDS", "Database", "StoreError", "dump", "transaction"]

T = TypeVar("T")

BUSY_TIMEOUT_SECONDS = 10.0

_HEALTH = """
CREATE TABLE IF NOT EXISTS health (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at REAL NOT NULL
)
"""


class StoreError(AuspiceError):
    """The state database cannot be opened, read or written."""


class Database:
    """The SQLite state file; every method is a coroutine run on the database's thread.

    ``wall`` gives the real time stamped on audit entries and records (the service's
    analysis clock may be virtual in tests; the audit log always tells real time).
    """

    def __init__(self, path: str | Path, *, wall: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.wall = wall
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="auspice-store")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []

    # -- lifecycle -------------------------------------------------------------------

    async def open(self) -> Database:
        """Create the file if needed and the health table; return self."""
        await self.run(lambda _: None)
        await self.ensure_schema("health-1", _HEALTH)
        return self

    async def close(self) -> None:
        """Close the connection (on its thread) and stop the worker thread."""
        def close(_: sqlite3.Connection) -> None:
            for connection in self._connections:
                connection.close()
            self._connections.clear()

        if self._connections:
            await self.run(close)
        self._executor.shutdown(wait=True)

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work(connection)`` on the database's thread and return its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, work)

    def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return work(self._connection())
        except sqlite3.Error as error:
            raise StoreError(f"state database {self.path}: {error}",
                             hint="check the file's directory exists, is writable and "
                             "is not on a network file system") from error

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS,
                                         isolation_level=None)
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA foreign_keys=ON")
            self._local.connection = connection
            self._connections.append(connection)
        return connection

    async def ensure_schema(self, name: str, sql: str) -> bool:
        """Apply the schema part ``name`` once (a script of DDL); True if applied now."""
        def apply(db: sqlite3.Connection) -> bool:
            db.execute("CREATE TABLE IF NOT EXISTS schema_parts "
                       "(name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
            if db.execute("SELECT 1 FROM schema_parts WHERE name = ?", (name,)).fetchone():
                return False
            statements = [s for s in sql.split(";") if s.strip()]
            with transaction(db):
                for statement in statements:
                    db.execute(statement)
                db.execute("INSERT INTO schema_parts (name, applied_at) VALUES (?, ?)",
                           (name, self.wall()))
            return True

        return await self.run(apply)

    async def has_schema(self, name: str) -> bool:
        """Whether the schema part ``name`` has been applied."""
        def check(db: sqlite3.Connection) -> bool:
            db.execute("CREATE TABLE IF NOT EXISTS schema_parts "
                       "(name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
            return db.execute("SELECT 1 FROM schema_parts WHERE name = ?",
                              (name,)).fetchone() is not None

        return await self.run(check)

    # -- health ----------------------------------------------------------------------

    async def check_writable(self) -> None:
        """Write and commit one row: raises :class:`StoreError` when the file is not writable."""
        def work(db: sqlite3.Connection) -> None:
            db.execute("INSERT INTO health (id, checked_at) VALUES (1, ?) "
                       "ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
                       (self.wall(),))

        await self.run(work)


class transaction:
    """``BEGIN IMMEDIATE ... COMMIT`` (or ``ROLLBACK`` on an error) on an autocommit
    connection: the write lock is taken at the start, so a transaction that reads
    before it writes never fails half-way on a lock another writer took meanwhile."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")


def dump(data: Mapping[str, Any] | Sequence[Any]) -> str:
    """The JSON text stored in a column: sorted keys, compact, anything else as text."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
