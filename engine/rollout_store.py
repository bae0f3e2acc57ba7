"""Durable rollout state: where each rollout is, and everything that happened to it.

A restart (a deploy of Auspice, ``kill -9``, a node lost) must not restart a canary from
zero, promote it early, or push a second revert. So the orchestrator writes *before*
it acts and *after* it has acted, and both writes land here:

* ``rollouts``: one row per rollout, its plan, its state-machine state, its wave, its
  bake deadline, its approvals and its final outcome (revert included);
* ``rollout_clusters``: one row per cluster of the rollout, its step, its weight, when
  the step's hold started (orchestrator clock), when its analysis started, and whether
  Auspice ever wrote weights there (``touched``: those are the clusters a rollback
  must reach);
* ``rollout_events``: the append-only audit log. Each entry carries a per-rollout
  number ``n`` (1, 2, 3 ... without gaps, unique) so "no gap across a restart" is a
  checkable property; no UPDATE or DELETE is ever issued on it. Every look's verdict
  with its evidence, every weight change, approval, abort (who and why) and revert is
  an entry.

Every change of a row and its audit entry are one transaction: a crash leaves both or
neither. The database file and its worker thread are :class:`auspice.store.Store`'s
(SQLite, WAL, one thread owning the connection); this module only adds its schema part
and its queries.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auspice.rollout_states import State
from auspice.store import Store

__all__ = ["ClusterRow", "RolloutEvent", "RolloutRecord", "RolloutStore", "StaleState"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS rollouts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    plan TEXT NOT NULL,
    state TEXT NOT NULL,
    aborted INTEGER NOT NULL DEFAULT 0,
    wave INTEGER NOT NULL DEFAULT 0,
    bake_until REAL,
    approved_wave INTEGER NOT NULL DEFAULT -1,
    outcome TEXT,
    revert TEXT,
    pending_rollback TEXT NOT NULL DEFAULT '[]',
    created_at REAL NOT NULL,
    created_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rollout_clusters (
    rollout TEXT NOT NULL REFERENCES rollouts(id),
    cluster TEXT NOT NULL,
    wave INTEGER NOT NULL,
    step INTEGER NOT NULL DEFAULT -1,
    weight INTEGER NOT NULL DEFAULT 0,
    step_started_at REAL,
    analysis_start REAL,
    status TEXT NOT NULL DEFAULT 'waiting',
    touched INTEGER NOT NULL DEFAULT 0,
    last_verdict TEXT,
    PRIMARY KEY (rollout, cluster)
);
CREATE TABLE IF NOT EXISTS rollout_events (
    rollout TEXT NOT NULL,
    n INTEGER NOT NULL,
    at REAL NOT NULL,
    wall REAL NOT NULL,
    who TEXT NOT NULL,
    what TEXT NOT NULL,
    details TEXT NOT NULL,
    PRIMARY KEY (rollout, n)
)
"""

_ROLLOUT_FIELDS = frozenset({"state", "aborted", "wave", "bake_until", "approved_wave",
                             "outcome", "revert", "pending_rollback"})
_CLUSTER_FIELDS = frozenset({"wave", "step", "weight", "step_started_at", "analysis_start",
                             "status", "touched", "last_verdict"})
_JSON_FIELDS = frozenset({"outcome", "revert", "pending_rollback"})


class StaleState(Exception):
    """The rollout's state changed since the caller read it; nothing was written."""


@dataclass(frozen=True)
class ClusterRow:
    cluster: str
    wave: int
    step: int
    weight: int
    step_started_at: float | None
    analysis_start: float | None
    status: str
    touched: bool
    last_verdict: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class RolloutRecord:
    id: str
    name: str
    plan: Mapping[str, Any]
    state: State
    aborted: bool
    wave: int
    bake_until: float | None
    approved_wave: int
    outcome: Mapping[str, Any] | None
    revert: Mapping[str, Any] | None
    pending_rollback: tuple[str, ...]
    created_at: float
    created_by: str
    clusters: tuple[ClusterRow, ...]

    def cluster(self, name: str) -> ClusterRow | None:
        return next((row for row in self.clusters if row.cluster == name), None)

    @property
    def touched(self) -> list[str]:
        return [row.cluster for row in self.clusters if row.touched]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "state": self.state.value,
                "aborted": self.aborted, "wave": self.wave, "bake_until": self.bake_until,
                "approved_wave": self.approved_wave, "outcome": self.outcome,
                "revert": self.revert, "pending_rollback": list(self.pending_rollback),
                "created_at": self.created_at, "created_by": self.created_by,
                "clusters": [row.to_dict() for row in self.clusters]}


@dataclass(frozen=True)
class RolloutEvent:
    rollout: str
    n: int
    at: float
    wall: float
    who: str
    what: str
    details: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"rollout": self.rollout, "n": self.n, "at": self.at, "wall": self.wall,
                "who": self.who, "what": self.what, "details": dict(self.details)}


class RolloutStore:
    """Rollout rows, cluster rows and the audit log on top of a :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._changed = asyncio.Condition()
        self.version = 0  # bumped by every write of this process

    @classmethod
    async def open(cls, path: str | Path) -> RolloutStore:
        """Open (or create) the state file at ``path`` with the rollout tables."""
        store = await Store(path).open()
        rollouts = cls(store)
        await rollouts.ensure()
        return rollouts

    async def ensure(self) -> None:
        await self.store.ensure_schema("rollouts-1", SCHEMA)

    async def close(self) -> None:
        await self.store.close()

    # -- writing ---------------------------------------------------------------------

    async def create(self, *, name: str, plan: Mapping[str, Any], clusters: Mapping[str, int],
                     who: str, at: float, details: Mapping[str, Any]) -> str:
        """A new rollout in PENDING with its clusters (name -> wave index); returns its id."""
        identifier = f"r-{name[:40]}-{secrets.token_hex(4)}"

        def work(db: sqlite3.Connection) -> None:
            with _transaction(db):
                db.execute("INSERT INTO rollouts (id, name, plan, state, created_at, created_by)"
                           " VALUES (?, ?, ?, ?, ?, ?)", (identifier, name, _dump(plan),
                                                          State.PENDING.value, at, who))
                db.executemany("INSERT INTO rollout_clusters (rollout, cluster, wave) "
                               "VALUES (?, ?, ?)",
                               [(identifier, c, w) for c, w in clusters.items()])
                self._append(db, identifier, at=at, who=who, what="rollout.created",
                             details=details)

        await self.store.run(work)
        await self._notify()
        return identifier

    async def record(self, rollout: str, *, at: float, who: str, what: str,
                     details: Mapping[str, Any] | None = None,
                     fields: Mapping[str, Any] | None = None,
                     clusters: Mapping[str, Mapping[str, Any]] | None = None,
                     expect_state: State | None = None) -> int:
        """Change the rollout's ``fields`` and its ``clusters``' fields, and append one
        audit entry, in one transaction; returns the entry's number.

        ``expect_state``: write only if the rollout is still in that state, else raise
        :class:`StaleState` and write nothing (a state change decided on a state read
        earlier never overwrites one made meanwhile, e.g. by an abort)."""
        _check(fields or {}, _ROLLOUT_FIELDS)
        for values in (clusters or {}).values():
            _check(values, _CLUSTER_FIELDS)

        def work(db: sqlite3.Connection) -> int:
            with _transaction(db):
                if expect_state is not None:
                    row = db.execute("SELECT state FROM rollouts WHERE id = ?",
                                     (rollout,)).fetchone()
                    if row is None or row[0] != expect_state.value:
                        raise StaleState(f"rollout {rollout} is no longer "
                                         f"{expect_state.value} (now {row and row[0]})")
                if fields:
                    _update(db, "rollouts", fields, "id = ?", (rollout,))
                for cluster, values in (clusters or {}).items():
                    if values:
                        _update(db, "rollout_clusters", values, "rollout = ? AND cluster = ?",
                                (rollout, cluster))
                return self._append(db, rollout, at=at, who=who, what=what,
                                    details=details or {})

        n = await self.store.run(work)
        await self._notify()
        return n

    def _append(self, db: sqlite3.Connection, rollout: str, *, at: float, who: str, what: str,
                details: Mapping[str, Any]) -> int:
        row = db.execute("SELECT COALESCE(MAX(n), 0) + 1 FROM rollout_events WHERE rollout = ?",
                         (rollout,)).fetchone()
        n = int(row[0])
        db.execute("INSERT INTO rollout_events (rollout, n, at, wall, who, what, details) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (rollout, n, at, time.time(), who, what, _dump(details)))
        return n

    async def _notify(self) -> None:
        self.version += 1
        async with self._changed:
            self._changed.notify_all()

    # -- reading ---------------------------------------------------------------------

    async def get(self, rollout: str) -> RolloutRecord | None:
        def work(db: sqlite3.Connection) -> RolloutRecord | None:
            row = db.execute("SELECT * FROM rollouts WHERE id = ?", (rollout,)).fetchone()
            if row is None:
                return None
            rows = db.execute("SELECT * FROM rollout_clusters WHERE rollout = ? "
                              "ORDER BY wave, cluster", (rollout,)).fetchall()
            return _rollout(row, rows)

        return await self.store.run(work)

    async def ids(self, *, active_only: bool = False) -> list[str]:
        """Rollout ids in creation order; ``active_only``: those a service must drive
        (not final, or final with clusters still to roll back)."""
        finals = tuple(s.value for s in State if s.final)

        def work(db: sqlite3.Connection) -> list[str]:
            sql = "SELECT id FROM rollouts"
            params: tuple[Any, ...] = ()
            if active_only:
                marks = ",".join("?" for _ in finals)
                sql += f" WHERE state NOT IN ({marks}) OR pending_rollback != '[]'"
                params = finals
            return [r[0] for r in db.execute(sql + " ORDER BY created_at, id", params)]

        return await self.store.run(work)

    async def events(self, rollout: str, *, after: int = 0,
                     limit: int = 10_000) -> list[RolloutEvent]:
        def work(db: sqlite3.Connection) -> list[RolloutEvent]:
            rows = db.execute("SELECT * FROM rollout_events WHERE rollout = ? AND n > ? "
                              "ORDER BY n LIMIT ?", (rollout, after, limit)).fetchall()
            return [RolloutEvent(r["rollout"], r["n"], r["at"], r["wall"], r["who"],
                                 r["what"], json.loads(r["details"])) for r in rows]

        return await self.store.run(work)

    async def wait_for_change(self, seconds: float, *, since: int) -> None:
        """Return once :attr:`version` differs from ``since`` (something was written in
        this process), or after ``seconds``."""
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: self.version != since),
                                       seconds)
            except TimeoutError:
                pass


class _transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")


def _check(values: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)}")


def _update(db: sqlite3.Connection, table: str, values: Mapping[str, Any], where: str,
            params: tuple[Any, ...]) -> None:
    columns = ", ".join(f"{name} = ?" for name in values)
    encoded = [_encode(name, value) for name, value in values.items()]
    db.execute(f"UPDATE {table} SET {columns} WHERE {where}", (*encoded, *params))


def _encode(name: str, value: Any) -> Any:
    if name in _JSON_FIELDS:
        return None if value is None and name != "pending_rollback" else _dump(value or [])
    if isinstance(value, State):
        return value.value
    if isinstance(value, bool):
        return int(value)
    return value


def _dump(data: Mapping[str, Any] | Sequence[Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def _rollout(row: sqlite3.Row, rows: Sequence[sqlite3.Row]) -> RolloutRecord:
    clusters = tuple(ClusterRow(r["cluster"], r["wave"], r["step"], r["weight"],
                                r["step_started_at"], r["analysis_start"], r["status"],
                                bool(r["touched"]), r["last_verdict"]) for r in rows)
    return RolloutRecord(
        id=row["id"], name=row["name"], plan=json.loads(row["plan"]),
        state=State(row["state"]), aborted=bool(row["aborted"]), wave=row["wave"],
        bake_until=row["bake_until"], approved_wave=row["approved_wave"],
        outcome=json.loads(row["outcome"]) if row["outcome"] else None,
        revert=json.loads(row["revert"]) if row["revert"] else None,
        pending_rollback=tuple(json.loads(row["pending_rollback"])),
        created_at=row["created_at"], created_by=row["created_by"], clusters=clusters)
