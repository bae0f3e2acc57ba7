"""Durable rollout state: where each rollout is, and everything that happened to it.

A restart (a deploy of Auspice, ``kill -9``, a node lost) must not restart a canary from
zero, promote it early, or push a second revert. So the orchestrator writes *before*
it acts and *after* it has acted, and both writes land here:

* ``rollouts``: one row per rollout, its plan, its state-machine state, its wave, its
  bake deadline, its approvals and its final outcome (revert included);
* ``rollout_clusters``: one row per cluster of the rollout, its step, its weight, when
  the step's hold started (orchestrator clock), when its analysis started, its status in
  its own lifecycle (:mod:`.cluster_states`), and whether Auspice ever wrote weights
  there (``touched``: those are the clusters a rollback must reach);
* the audit log (:mod:`auspice.storage.audit`), with the rollout's id as subject: every
  look's verdict with its evidence, every weight change, approval, abort (who and why)
  and revert is an entry, numbered 1, 2, 3 ... per rollout.

Every change of a row and its audit entry are one transaction: a crash leaves both or
neither. The tables sit on the service's :class:`~auspice.storage.Database`.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auspice.rollouts.cluster_states import ClusterStatus, check_move
from auspice.rollouts.results import RevertResult, RolloutOutcome
from auspice.rollouts.states import State
from auspice.storage import AuditEntry, AuditLog, Database, dump, transaction
from auspice.storage.audit import append

__all__ = ["ClusterRow", "RolloutRecord", "RolloutStore", "StaleState"]

SCHEMA = [
    ("rollouts-1", """
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
"""),
    # The rollouts' own event table joins the one audit log (subject = rollout id).
    ("rollouts-2", """
INSERT INTO audit (at, wall, who, what, details, subject, n)
    SELECT at, wall, who, what, details, rollout, n FROM rollout_events ORDER BY wall, rollout, n;
DROP TABLE rollout_events
"""),
]

_ROLLOUT_FIELDS = frozenset({"state", "aborted", "wave", "bake_until", "approved_wave",
                             "outcome", "revert", "pending_rollback"})
_CLUSTER_FIELDS = frozenset({"wave", "step", "weight", "step_started_at", "analysis_start",
                             "status", "touched", "last_verdict"})


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
    status: ClusterStatus
    touched: bool
    last_verdict: str | None

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "status": self.status.value}


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
    outcome: RolloutOutcome | None
    revert: RevertResult | None
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
                "approved_wave": self.approved_wave,
                "outcome": self.outcome.to_dict() if self.outcome else None,
                "revert": self.revert.to_dict() if self.revert else None,
                "pending_rollback": list(self.pending_rollback),
                "created_at": self.created_at, "created_by": self.created_by,
                "clusters": [row.to_dict() for row in self.clusters]}


class RolloutStore:
    """Rollout rows, cluster rows and their audit entries on a :class:`Database`."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.audit = AuditLog(database)
        self._changed = asyncio.Condition()
        self.version = 0  # bumped by every write of this process

    @classmethod
    async def open(cls, path: str | Path) -> RolloutStore:
        """Open (or create) the state file at ``path`` with the rollout tables."""
        rollouts = cls(await Database(path).open())
        await rollouts.ensure()
        return rollouts

    async def ensure(self) -> None:
        await self.audit.ensure()
        for name, sql in SCHEMA:
            await self.database.ensure_schema(name, sql)

    async def close(self) -> None:
        await self.database.close()

    # -- writing ---------------------------------------------------------------------

    async def create(self, *, name: str, plan: Mapping[str, Any], clusters: Mapping[str, int],
                     who: str, at: float, details: Mapping[str, Any]) -> str:
        """A new rollout in PENDING with its clusters (name -> wave index); returns its id."""
        identifier = f"r-{name[:40]}-{secrets.token_hex(4)}"
        wall = self.database.wall

        def work(db: sqlite3.Connection) -> None:
            with transaction(db):
                db.execute("INSERT INTO rollouts (id, name, plan, state, created_at, created_by)"
                           " VALUES (?, ?, ?, ?, ?, ?)", (identifier, name, dump(plan),
                                                          State.PENDING.value, at, who))
                db.executemany("INSERT INTO rollout_clusters (rollout, cluster, wave) "
                               "VALUES (?, ?, ?)",
                               [(identifier, c, w) for c, w in clusters.items()])
                append(db, wall=wall(), at=at, who=who, what="rollout.created",
                       subject=identifier, details=details)

        await self.database.run(work)
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
        earlier never overwrites one made meanwhile, e.g. by an abort). A cluster status
        its lifecycle does not allow raises
        :class:`~auspice.rollouts.cluster_states.IllegalClusterTransition`, also before
        anything is written."""
        _check(fields or {}, _ROLLOUT_FIELDS)
        for values in (clusters or {}).values():
            _check(values, _CLUSTER_FIELDS)
        wall = self.database.wall

        def work(db: sqlite3.Connection) -> int:
            with transaction(db):
                if expect_state is not None:
                    row = db.execute("SELECT state FROM rollouts WHERE id = ?",
                                     (rollout,)).fetchone()
                    if row is None or row[0] != expect_state.value:
                        raise StaleState(f"rollout {rollout} is no longer "
                                         f"{expect_state.value} (now {row and row[0]})")
                if fields:
                    _update(db, "rollouts", fields, "id = ?", (rollout,))
                for cluster, values in (clusters or {}).items():
                    if "status" in values:
                        _check_status(db, rollout, cluster, ClusterStatus(values["status"]))
                    if values:
                        _update(db, "rollout_clusters", values, "rollout = ? AND cluster = ?",
                                (rollout, cluster))
                return append(db, wall=wall(), at=at, who=who, what=what, subject=rollout,
                              details=details or {})

        n = await self.database.run(work)
        await self._notify()
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

        return await self.database.run(work)

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

        return await self.database.run(work)

    async def events(self, rollout: str, *, after: int = 0,
                     limit: int = 10_000) -> list[AuditEntry]:
        """The rollout's audit entries in order, after its entry number ``after``."""
        return await self.audit.of(rollout, after=after, limit=limit)

    async def wait_for_change(self, seconds: float, *, since: int) -> None:
        """Return once :attr:`version` differs from ``since`` (something was written in
        this process), or after ``seconds``."""
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: self.version != since),
                                       seconds)
            except TimeoutError:
                pass


def _check(values: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)}")


def _check_status(db: sqlite3.Connection, rollout: str, cluster: str,
                  new: ClusterStatus) -> None:
    row = db.execute("SELECT status FROM rollout_clusters WHERE rollout = ? AND cluster = ?",
                     (rollout, cluster)).fetchone()
    if row is not None:
        check_move(cluster, ClusterStatus(row[0]), new)


def _update(db: sqlite3.Connection, table: str, values: Mapping[str, Any], where: str,
            params: tuple[Any, ...]) -> None:
    columns = ", ".join(f"{name} = ?" for name in values)
    encoded = [_encode(name, value) for name, value in values.items()]
    db.execute(f"UPDATE {table} SET {columns} WHERE {where}", (*encoded, *params))


def _encode(name: str, value: Any) -> Any:
    if name == "pending_rollback":
        return dump(list(value or []))
    if isinstance(value, RolloutOutcome | RevertResult):
        return dump(value.to_dict())
    if value is None:
        return None
    if isinstance(value, State | ClusterStatus):
        return value.value
    if isinstance(value, bool):
        return int(value)
    return value


def _rollout(row: sqlite3.Row, rows: Sequence[sqlite3.Row]) -> RolloutRecord:
    clusters = tuple(ClusterRow(r["cluster"], r["wave"], r["step"], r["weight"],
                                r["step_started_at"], r["analysis_start"],
                                ClusterStatus(r["status"]), bool(r["touched"]),
                                r["last_verdict"]) for r in rows)
    return RolloutRecord(
        id=row["id"], name=row["name"], plan=json.loads(row["plan"]),
        state=State(row["state"]), aborted=bool(row["aborted"]), wave=row["wave"],
        bake_until=row["bake_until"], approved_wave=row["approved_wave"],
        outcome=RolloutOutcome.from_dict(json.loads(row["outcome"])) if row["outcome"]
        else None,
        revert=RevertResult.from_dict(json.loads(row["revert"])) if row["revert"] else None,
        pending_rollback=tuple(json.loads(row["pending_rollback"])),
        created_at=row["created_at"], created_by=row["created_by"], clusters=clusters)
