"""Durable judgements: when each one started, and its latest look.

A webhook judgement is recomputed from its start at every look, so the *only* thing a
restart must not lose is that start. It is written before the first answer goes out,
and every later look reads it back: ``kill -9`` between two looks changes nothing. Each
change of a judgement and its audit entry (subject: the judgement's id) are one
transaction.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from auspice.storage.audit import append
from auspice.storage.database import Database, dump, transaction

__all__ = ["FINAL_VERDICTS", "JudgementKey", "JudgementRecord", "JudgementStore"]

SCHEMA = """
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
)
"""

#: Verdicts after which a judgement is over (it stays readable).
FINAL_VERDICTS = frozenset({"pass", "fail"})


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


class JudgementStore:
    """The judgements table of a :class:`Database`."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def ensure(self) -> None:
        await self.database.ensure_schema("judgements-1", SCHEMA)

    async def open_judgement(self, key: JudgementKey, *, start: float, who: str,
                             request: Mapping[str, Any]) -> tuple[JudgementRecord, bool]:
        """The judgement for ``key``, created with ``start`` if it is new.

        Returns ``(record, created)``. Concurrent first calls for one key get the same
        record: the insert is ``OR IGNORE`` on the key's unique constraint. The creation
        is audited in the same transaction.
        """
        wall = self.database.wall

        def work(db: sqlite3.Connection) -> tuple[JudgementRecord, bool]:
            with transaction(db):
                identifier = "j-" + secrets.token_hex(8)
                now = wall()
                cursor = db.execute(
                    "INSERT OR IGNORE INTO judgements (id, template, rollout, canary, start, "
                    "created_at, created_by, request) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (identifier, key.template, key.rollout, key.canary, float(start), now,
                     who, dump(request)))
                created = cursor.rowcount == 1
                if created:
                    append(db, wall=now, who=who, what="judgement.open", subject=identifier,
                           details={"id": identifier, "template": key.template,
                                    "rollout": key.rollout, "canary": key.canary,
                                    "start": float(start)})
                row = db.execute("SELECT * FROM judgements WHERE template = ? AND rollout = ? "
                                 "AND canary = ?", (key.template, key.rollout, key.canary)
                                 ).fetchone()
            return _record(row), created

        return await self.database.run(work)

    async def judgement(self, identifier: str) -> JudgementRecord | None:
        def work(db: sqlite3.Connection) -> JudgementRecord | None:
            row = db.execute("SELECT * FROM judgements WHERE id = ?", (identifier,)).fetchone()
            return _record(row) if row else None

        return await self.database.run(work)

    async def find_judgement(self, key: JudgementKey) -> JudgementRecord | None:
        def work(db: sqlite3.Connection) -> JudgementRecord | None:
            row = db.execute("SELECT * FROM judgements WHERE template = ? AND rollout = ? "
                             "AND canary = ?", (key.template, key.rollout, key.canary)
                             ).fetchone()
            return _record(row) if row else None

        return await self.database.run(work)

    async def record_look(self, identifier: str, *, verdict: str, reason: str, at: float,
                          result: Mapping[str, Any], who: str) -> None:
        """Remember the latest look of a judgement, and audit the call that made it."""
        wall = self.database.wall

        def work(db: sqlite3.Connection) -> None:
            with transaction(db):
                db.execute("UPDATE judgements SET looks = looks + 1, last_verdict = ?, "
                           "last_reason = ?, last_look_at = ?, last_result = ? WHERE id = ?",
                           (verdict, reason, float(at), dump(result), identifier))
                append(db, wall=wall(), who=who, what="judgement.look", subject=identifier,
                       details={"id": identifier, "verdict": verdict, "at": float(at)})

        await self.database.run(work)

    async def delete_judgement(self, identifier: str, *, who: str) -> bool:
        """Forget a judgement (the next call for its key starts afresh); audited."""
        wall = self.database.wall

        def work(db: sqlite3.Connection) -> bool:
            with transaction(db):
                row = db.execute("SELECT * FROM judgements WHERE id = ?",
                                 (identifier,)).fetchone()
                if row is None:
                    return False
                db.execute("DELETE FROM judgements WHERE id = ?", (identifier,))
                append(db, wall=wall(), who=who, what="judgement.delete", subject=identifier,
                       details={"id": identifier, "template": row["template"],
                                "rollout": row["rollout"], "canary": row["canary"],
                                "start": row["start"]})
            return True

        return await self.database.run(work)

    async def count_open_judgements(self) -> int:
        def work(db: sqlite3.Connection) -> int:
            placeholders = ",".join("?" for _ in FINAL_VERDICTS)
            row = db.execute("SELECT COUNT(*) FROM judgements WHERE last_verdict IS NULL OR "
                             f"last_verdict NOT IN ({placeholders})",
                             tuple(sorted(FINAL_VERDICTS))).fetchone()
            return int(row[0])

        return await self.database.run(work)


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
