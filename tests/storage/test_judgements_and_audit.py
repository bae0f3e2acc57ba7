"""auspice.storage: the recorded start survives, concurrent opens agree, the audit appends."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from auspice.storage import JudgementKey, Storage, StoreError

KEY = JudgementKey("istio", "shop/reviews", "version=v2")


async def test_first_open_records_the_start_and_later_opens_read_it(tmp_path: Path) -> None:
    store = await Storage.open(tmp_path / "s.db")
    judgements = store.judgements
    record, created = await judgements.open_judgement(KEY, start=100.0, who="argo",
                                                      request={"a": 1})
    again, created_again = await judgements.open_judgement(KEY, start=999.0, who="argo",
                                                           request={"a": 2})
    assert created and not created_again
    assert again.id == record.id and again.start == 100.0 and again.request == {"a": 1}
    await store.close()

    reopened = await Storage.open(tmp_path / "s.db")
    found = await reopened.judgements.find_judgement(KEY)
    assert found is not None and found.start == 100.0 and found.id == record.id
    await reopened.close()


async def test_concurrent_first_calls_open_one_judgement(tmp_path: Path) -> None:
    store = await Storage.open(tmp_path / "s.db")
    results = await asyncio.gather(*(
        store.judgements.open_judgement(KEY, start=float(i), who=f"caller-{i}", request={})
        for i in range(20)))
    assert len({record.id for record, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert len({record.start for record, _ in results}) == 1
    entries = await store.audit.entries()
    assert [e.what for e in entries] == ["judgement.open"]
    await store.close()


async def test_looks_and_final_verdicts(tmp_path: Path) -> None:
    store = await Storage.open(tmp_path / "s.db")
    record, _ = await store.judgements.open_judgement(KEY, start=0.0, who="argo", request={})
    other, _ = await store.judgements.open_judgement(
        JudgementKey("istio", "shop/x", "v"), start=0.0, who="argo", request={})
    assert await store.judgements.count_open_judgements() == 2
    await store.judgements.record_look(record.id, verdict="continue", reason="r", at=60.0,
                            result={"verdict": "continue"}, who="argo")
    await store.judgements.record_look(record.id, verdict="fail", reason="bad", at=120.0,
                            result={"verdict": "fail", "x": float("nan")}, who="argo")
    loaded = await store.judgements.judgement(record.id)
    assert loaded is not None and loaded.looks == 2 and not loaded.open
    assert loaded.last_reason == "bad" and loaded.last_look_at == 120.0
    assert await store.judgements.count_open_judgements() == 1
    assert await store.judgements.delete_judgement(other.id, who="sre")
    assert not await store.judgements.delete_judgement(other.id, who="sre")
    entries = await store.audit.entries()
    assert [(e.what, e.who) for e in entries] == [
        ("judgement.open", "argo"), ("judgement.open", "argo"), ("judgement.look", "argo"),
        ("judgement.look", "argo"), ("judgement.delete", "sre")]
    assert [e.seq for e in await store.audit.entries(after=entries[2].seq)] == [
        e.seq for e in entries[3:]]
    await store.close()


async def test_schema_parts_apply_once(tmp_path: Path) -> None:
    store = await Storage.open(tmp_path / "s.db")
    sql = "CREATE TABLE rollouts (id TEXT PRIMARY KEY); CREATE INDEX r ON rollouts (id)"
    assert await store.database.ensure_schema("rollouts-1", sql)
    assert not await store.database.ensure_schema("rollouts-1", sql)
    tables = await store.database.run(lambda db: [r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")])
    assert "rollouts" in tables and "judgements" in tables and "audit" in tables
    mode = await store.database.run(lambda db: db.execute("PRAGMA journal_mode").fetchone()[0])
    assert mode == "wal"
    await store.close()


async def test_unwritable_store_raises_store_error_naming_the_file(tmp_path: Path) -> None:
    store = await Storage.open(tmp_path / "s.db")
    await store.database.run(lambda db: db.execute("PRAGMA query_only = ON"))
    with pytest.raises(StoreError, match=r"s\.db"):
        await store.database.check_writable()
    await store.close()


async def test_every_statement_runs_on_the_one_store_thread(tmp_path: Path) -> None:
    import threading

    store = await Storage.open(tmp_path / "s.db")
    names = await asyncio.gather(*(store.database.run(lambda _: threading.current_thread().name)
                                   for _ in range(10)))
    assert len(set(names)) == 1 and names[0].startswith("auspice-store")
    assert names[0] != threading.current_thread().name
    await store.close()


def test_the_audit_table_is_only_ever_inserted_into() -> None:
    engine = Path(__file__).resolve().parents[2] / "engine"
    for path in engine.rglob("*.py"):
        source = path.read_text()
        assert "UPDATE audit " not in source and "DELETE FROM audit" not in source, path
    assert sqlite3.sqlite_version_info >= (3, 24)  # ON CONFLICT ... DO UPDATE
