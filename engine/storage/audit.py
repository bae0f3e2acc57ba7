"""The audit log: one append-only table for everything that changed state, and who did it.

Judgements opened, looked at and deleted; rollouts created, stepped, approved, aborted,
rolled back and reverted; Kayenta configs stored and executions started: each is one
:class:`AuditEntry` in the same table, so a person reads what happened in one place
(``GET /api/v1/audit``) and a rollout's own history is the same entries filtered by its
id. No UPDATE or DELETE is ever issued on the table.

An entry may belong to a *subject* (a rollout id, a judgement id, a Kayenta execution
id); entries of one subject are numbered ``n`` = 1, 2, 3 ... without gaps, in the same
transaction as the change they record, so "no gap across a restart" is a checkable
property and an event stream can resume after entry ``n``. ``at`` is the time on the
clock of whoever acted (the orchestrator's clock may be virtual in tests and demos);
``wall`` is always the real time the entry was written.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from auspice.storage.database import Database, dump

__all__ = ["AuditEntry", "AuditLog", "append"]

SCHEMA = [
    ("audit-1", """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    who TEXT NOT NULL,
    what TEXT NOT NULL,
    details TEXT NOT NULL
)
"""),
    # One log for every subject: rollouts' events join the judgements' entries.
    ("audit-2", """
ALTER TABLE audit ADD COLUMN subject TEXT;
ALTER TABLE audit ADD COLUMN n INTEGER;
ALTER TABLE audit ADD COLUMN wall REAL;
CREATE UNIQUE INDEX IF NOT EXISTS audit_subject_n ON audit (subject, n)
"""),
]


@dataclass(frozen=True)
class AuditEntry:
    """One thing that happened: when, who, what, to which subject, with its details."""

    seq: int  # position in the whole log
    subject: str | None  # rollout, judgement or execution id
    n: int | None  # position among the subject's entries (1, 2, 3 ... without gaps)
    at: float  # the acting clock's time
    wall: float  # real time of the write
    who: str
    what: str
    details: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "subject": self.subject, "n": self.n, "at": self.at,
                "wall": self.wall, "who": self.who, "what": self.what,
                "details": dict(self.details)}


def append(db: sqlite3.Connection, *, wall: float, who: str, what: str,
           details: Mapping[str, Any], subject: str | None = None,
           at: float | None = None) -> int:
    """Write one entry inside the caller's transaction; returns its ``n`` (0 without a
    subject). The caller's transaction makes the change and its entry one write."""
    n = None
    if subject is not None:
        row = db.execute("SELECT COALESCE(MAX(n), 0) + 1 FROM audit WHERE subject = ?",
                         (subject,)).fetchone()
        n = int(row[0])
    db.execute("INSERT INTO audit (at, wall, who, what, details, subject, n) "
               "VALUES (?, ?, ?, ?, ?, ?, ?)",
               (wall if at is None else at, wall, who, what, dump(details), subject, n))
    return n or 0


def _entry(row: sqlite3.Row) -> AuditEntry:
    return AuditEntry(seq=row["seq"], subject=row["subject"], n=row["n"], at=row["at"],
                      wall=row["wall"] if row["wall"] is not None else row["at"],
                      who=row["who"], what=row["what"], details=json.loads(row["details"]))


class AuditLog:
    """Reading and writing the audit table of a :class:`Database`."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def ensure(self) -> None:
        for name, sql in SCHEMA:
            await self.database.ensure_schema(name, sql)

    async def append(self, *, who: str, what: str, details: Mapping[str, Any],
                     subject: str | None = None) -> int:
        """Append one entry on its own (a change that has no table of its own)."""
        wall = self.database.wall()
        return await self.database.run(lambda db: append(
            db, wall=wall, who=who, what=what, details=details, subject=subject))

    async def entries(self, *, after: int = 0, limit: int = 100) -> list[AuditEntry]:
        """Entries of the whole log in the order they were written, after ``seq``."""
        def work(db: sqlite3.Connection) -> list[AuditEntry]:
            rows = db.execute("SELECT * FROM audit WHERE seq > ? ORDER BY seq LIMIT ?",
                              (after, limit)).fetchall()
            return [_entry(r) for r in rows]

        return await self.database.run(work)

    async def of(self, subject: str, *, after: int = 0,
                 limit: int = 10_000) -> list[AuditEntry]:
        """One subject's entries in order, after its entry number ``after``."""
        def work(db: sqlite3.Connection) -> list[AuditEntry]:
            rows = db.execute("SELECT * FROM audit WHERE subject = ? AND n > ? "
                              "ORDER BY n LIMIT ?", (subject, after, limit)).fetchall()
            return [_entry(r) for r in rows]

        return await self.database.run(work)
