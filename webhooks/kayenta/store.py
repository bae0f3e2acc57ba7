"""Kayenta executions and posted canary configs in the service's SQLite state file.

Kayenta keeps executions in Orca's repository and configs in an object store; here both
live in two tables of the service's state database (:class:`auspice.storage.Database`,
added as their own schema part, run on its worker thread).  An execution is written when
it is accepted, before its id is handed out, and again when it completes, so an id a
client holds is never unknown after a restart."""

from __future__ import annotations

import json
import sqlite3

from auspice.storage import Database
from auspice.webhooks.kayenta.models import CanaryConfig
from auspice.webhooks.kayenta.runs import Execution

__all__ = ["KayentaStore"]

SCHEMA_PART = "kayenta-1"
SCHEMA = """
CREATE TABLE IF NOT EXISTS kayenta_configs (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS kayenta_executions (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    complete INTEGER NOT NULL,
    body TEXT NOT NULL
)
"""


class KayentaStore:
    """The Kayenta tables of ``database``; every method runs on its thread."""

    def __init__(self, database: Database) -> None:
        self.store = database

    async def prepare(self) -> None:
        await self.store.ensure_schema(SCHEMA_PART, SCHEMA)

    async def save_execution(self, execution: Execution) -> None:
        body = json.dumps(execution.record(), allow_nan=False)

        def write(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO kayenta_executions (id, created_at, complete, body) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "complete = excluded.complete, body = excluded.body",
                (execution.id, execution.build_time, int(execution.state.complete), body),
            )

        await self.store.run(write)

    async def execution(self, execution_id: str) -> Execution | None:
        def read(db: sqlite3.Connection) -> str | None:
            row = db.execute(
                "SELECT body FROM kayenta_executions WHERE id = ?", (execution_id,)
            ).fetchone()
            return None if row is None else str(row[0])

        body = await self.store.run(read)
        return None if body is None else Execution.from_record(json.loads(body))

    async def configs(self) -> dict[str, CanaryConfig]:
        def read(db: sqlite3.Connection) -> list[tuple[str, str]]:
            return db.execute("SELECT id, body FROM kayenta_configs ORDER BY id").fetchall()

        rows = await self.store.run(read)
        return {config_id: CanaryConfig.model_validate_json(body) for config_id, body in rows}

    async def save_config(self, config_id: str, config: CanaryConfig, *, at: float) -> None:
        body = json.dumps(config.wire())

        def write(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO kayenta_configs (id, body, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET body = excluded.body",
                (config_id, body, at),
            )

        await self.store.run(write)

    async def delete_config(self, config_id: str) -> None:
        def delete(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM kayenta_configs WHERE id = ?", (config_id,))

        await self.store.run(delete)
