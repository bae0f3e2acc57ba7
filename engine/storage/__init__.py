"""Durable state: the state database, the judgements, and the one audit log.

:class:`Storage` is what a service opens at start: the :class:`Database` (one SQLite
file, one worker thread, schema parts) with the tables every caller of the webhooks
needs, the judgements (:class:`JudgementStore`) and the audit log (:class:`AuditLog`).
The rollout engine and the Kayenta API keep their own tables on the same database
(:mod:`auspice.rollouts.store`, :mod:`auspice.webhooks.kayenta.store`), written in the
same transactions as their audit entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from auspice.storage.audit import AuditEntry, AuditLog
from auspice.storage.database import Database, StoreError, dump, transaction
from auspice.storage.judgements import (
    FINAL_VERDICTS,
    JudgementKey,
    JudgementRecord,
    JudgementStore,
)

__all__ = ["FINAL_VERDICTS", "AuditEntry", "AuditLog", "Database", "JudgementKey",
           "JudgementRecord", "JudgementStore", "Storage", "StoreError", "dump",
           "transaction"]


@dataclass(frozen=True)
class Storage:
    """The state database with the judgements and the audit log, ready to use."""

    database: Database
    judgements: JudgementStore
    audit: AuditLog

    @classmethod
    async def open(cls, path: str | Path) -> Storage:
        """Open (or create) the state file at ``path`` and its core tables."""
        database = await Database(path).open()
        return await cls.on(database)

    @classmethod
    async def on(cls, database: Database) -> Storage:
        """The core tables on an already open ``database`` (created if new)."""
        storage = cls(database, JudgementStore(database), AuditLog(database))
        await storage.audit.ensure()
        await storage.judgements.ensure()
        return storage

    async def close(self) -> None:
        await self.database.close()
