"""Durable state: judgements (when each one started) and the audit log, in SQLite.

A webhook judgement is recomputed from its start at every look, so the *only* thing a
restart must not lose is that start. It is written to SQLite before the first answer
goes out, and every later look reads it back: ``kill -9`` between two looks changes
nothing. The audit table is append-only (no UPDATE or DELETE is ever issued on it) and
records who did what, when, for every call that changes state.

SQLite is blocking, and the service runs one asyncio loop, so every statement runs on
one dedicated worker thread that owns the connection (SQLite connections are not to be
shared between threads). One thread also serialises the writers, which is what SQLite
wants anyway. The database runs in WAL mode with ``synchronous=NORMAL``: readers do
not block the writer, and a committed transaction survives a process crash (only a
power loss may drop the last commits, which a judgement tolerates: it reopens).

The schema is a list of named parts applied once each and remembered in
``schema_parts``; later features (rollouts, Kayenta executions) add their own part with
:meth:`Store.ensure_schema` without touching this module's tables.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from auspice.errors import AuspiceError

__all__ = ["AuditEntry", "JudgementKey", "JudgementRecord", "Store", "StoreError"]

T = TypeVar("T")

BUSY_TIMEOUT_SECONDS = 10.0

_CORE_SCHEMA = """
CREATE TABLE IF NOT EXISTS judgements (
    id TEXT PRIMARY KEY,
    template TEXT NOT NULL,
    rollout TEXT NOT NULL,
    canary TEXT NOT NULL,
    start REAL NOT NULL,
    created_at REAL NOT NULL,
    created_by TEXT NOT NULL,
    request TEXT NOT NULL,
    looks INTEGER NOT NULL DEFAULT 0,
    last_verdict TEXT,
    last_reason TEXT,
    last_look_at REAL,
    last_result TEXT,
    UNIQUE (template, rollout, canary)
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    who TEXT NOT NULL,
    what TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS health (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at REAL NOT NULL
);
"""

#: Verdicts after which a judgement is over (it stays readable).
FINAL_VERDICTS = frozenset({"pass", "fail"})


class StoreError(AuspiceError):
    """The state database cannot be opened, read or written."""


@dataclass(frozen=True)
class JudgementKey:
    """What identifies one judgement: the template, the rollout and the canary."""

    template: str
    rollout: str
    canary: str


@dataclass(frozen=True)
class JudgementRecord:
    """One judgement as stored: its key, its recorded start, and its last look."""

    id: str
    key: JudgementKey
    start: float
    created_at: float
    created_by: str
    request: Mapping[str, Any]
    looks: int
    last_verdict: str | None
    last_reason: str | None
    last_look_at: float | None
    last_result: Mapping[str, Any] | None

    @property
    def open(self) -> bool:
        return self.last_verdict not in FINAL_VERDICTS

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "template": self.key.template,
            "rollout": self.key.rollout,
            "canary": self.key.canary,
            "start": self.start,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "request": dict(self.request),
            "looks": self.looks,
            "verdict": self.last_verdict,
            "reason": self.last_reason,
            "last_look_at": self.last_look_at,
            "result": dict(self.last_result) if self.last_result is not None else None,
        }


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: float
    who: str
    what: str
    details: Mapping[str, Any]


class Store:
    """The SQLite state file; every method is a coroutine run on the store's own thread.

    ``wall`` gives the real time stamped on audit entries and records (the service's
    analysis clock may be virtual in tests; the audit log always tells real time).
    """

    def __init__(self, path: str | Path, *, wall: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._wall = wall
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="auspice-store")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._opened = False

    # -- lifecycle -------------------------------------------------------------------

    async def open(self) -> Store:
        """Create the file and the core tables if needed; return self."""
        await self.run(lambda _: None)
        await self.ensure_schema("core-1", _CORE_SCHEMA)
        self._opened = True
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
        """Run ``work(connection)`` on the store's thread and return its result."""
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
            with _transaction(db):
                for statement in statements:
                    db.execute(statement)
                db.execute("INSERT INTO schema_parts (name, applied_at) VALUES (?, ?)",
                           (name, self._wall()))
            return True

        return await self.run(apply)

    # -- judgements ------------------------------------------------------------------

    async def open_judgement(self, key: JudgementKey, *, start: float, who: str,
                             request: Mapping[str, Any]) -> tuple[JudgementRecord, bool]:
        """The judgement for ``key``, created with ``start`` if it is new.

        Returns ``(record, created)``. Concurrent first calls for one key get the same
        record: the insert is ``OR IGNORE`` on the key's unique constraint. The creation
        is audited in the same transaction.
        """
        def work(db: sqlite3.Connection) -> tuple[JudgementRecord, bool]:
            with _transaction(db):
                identifier = "j-" + secrets.token_hex(8)
                now = self._wall()
                cursor = db.execute(
                    "INSERT OR IGNORE INTO judgements (id, template, rollout, canary, start, "
                    "created_at, created_by, request) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (identifier, key.template, key.rollout, key.canary, float(start), now,
                     who, _dump(request)))
                created = cursor.rowcount == 1
                if created:
                    _insert_audit(db, now, who, "judgement.open", {
                        "id": identifier, "template": key.template, "rollout": key.rollout,
                        "canary": key.canary, "start": float(start)})
                row = db.execute("SELECT * FROM judgements WHERE template = ? AND rollout = ? "
                                 "AND canary = ?", (key.template, key.rollout, key.canary)
                                 ).fetchone()
            return _record(row), created

        return await self.run(work)

    async def judgement(self, identifier: str) -> JudgementRecord | None:
        def work(db: sqlite3.Connection) -> JudgementRecord | None:
            row = db.execute("SELECT * FROM judgements WHERE id = ?", (identifier,)).fetchone()
            return _record(row) if row else None

        return await self.run(work)

    async def find_judgement(self, key: JudgementKey) -> JudgementRecord | None:
        def work(db: sqlite3.Connection) -> JudgementRecord | None:
            row = db.execute("SELECT * FROM judgements WHERE template = ? AND rollout = ? "
                             "AND canary = ?", (key.template, key.rollout, key.canary)
                             ).fetchone()
            return _record(row) if row else None

        return await self.run(work)

    async def record_look(self, identifier: str, *, verdict: str, reason: str, at: float,
                          result: Mapping[str, Any], who: str) -> None:
        """Remember the latest look of a judgement, and audit the call that made it."""
        def work(db: sqlite3.Connection) -> None:
            with _transaction(db):
                db.execute("UPDATE judgements SET looks = looks + 1, last_verdict = ?, "
                           "last_reason = ?, last_look_at = ?, last_result = ? WHERE id = ?",
                           (verdict, reason, float(at), _dump(result), identifier))
                _insert_audit(db, self._wall(), who, "judgement.look",
                              {"id": identifier, "verdict": verdict, "at": float(at)})

        await self.run(work)

    async def delete_judgement(self, identifier: str, *, who: str) -> bool:
        """Forget a judgement (the next call for its key starts afresh); audited."""
        def work(db: sqlite3.Connection) -> bool:
            with _transaction(db):
                row = db.execute("SELECT * FROM judgements WHERE id = ?",
                                 (identifier,)).fetchone()
                if row is None:
                    return False
                db.execute("DELETE FROM judgements WHERE id = ?", (identifier,))
                _insert_audit(db, self._wall(), who, "judgement.delete",
                              {"id": identifier, "template": row["template"],
                               "rollout": row["rollout"], "canary": row["canary"],
                               "start": row["start"]})
            return True

        return await self.run(work)

    async def count_open_judgements(self) -> int:
        def work(db: sqlite3.Connection) -> int:
            placeholders = ",".join("?" for _ in FINAL_VERDICTS)
            row = db.execute("SELECT COUNT(*) FROM judgements WHERE last_verdict IS NULL OR "
                             f"last_verdict NOT IN ({placeholders})",
                             tuple(sorted(FINAL_VERDICTS))).fetchone()
            return int(row[0])

        return await self.run(work)

    # -- audit -----------------------------------------------------------------------

    async def audit(self, *, who: str, what: str, details: Mapping[str, Any]) -> None:
        """Append one entry to the audit log."""
        def work(db: sqlite3.Connection) -> None:
            _insert_audit(db, self._wall(), who, what, details)

        await self.run(work)

    async def audit_entries(self, *, limit: int = 100, after: int = 0) -> list[AuditEntry]:
        """Audit entries in the order they were written, after sequence number ``after``."""
        def work(db: sqlite3.Connection) -> list[AuditEntry]:
            rows = db.execute("SELECT * FROM audit WHERE seq > ? ORDER BY seq LIMIT ?",
                              (after, limit)).fetchall()
            return [AuditEntry(r["seq"], r["at"], r["who"], r["what"], json.loads(r["details"]))
                    for r in rows]

        return await self.run(work)

    # -- health ----------------------------------------------------------------------

    async def check_writable(self) -> None:
        """Write and commit one row: raises :class:`StoreError` when the file is not writable."""
        def work(db: sqlite3.Connection) -> None:
            db.execute("INSERT INTO health (id, checked_at) VALUES (1, ?) "
                       "ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
                       (self._wall(),))

        await self.run(work)


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT (or ROLLBACK) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")


def _insert_audit(db: sqlite3.Connection, at: float, who: str, what: str,
                  details: Mapping[str, Any]) -> None:
    db.execute("INSERT INTO audit (at, who, what, details) VALUES (?, ?, ?, ?)",
               (at, who, what, _dump(details)))


def _dump(data: Mapping[str, Any] | Sequence[Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def _record(row: sqlite3.Row) -> JudgementRecord:
    return JudgementRecord(
        id=row["id"],
        key=JudgementKey(row["template"], row["rollout"], row["canary"]),
        start=row["start"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        request=json.loads(row["request"]),
        looks=row["looks"],
        last_verdict=row["last_verdict"],
        last_reason=row["last_reason"],
        last_look_at=row["last_look_at"],
        last_result=json.loads(row["last_result"]) if row["last_result"] else None,
    )
