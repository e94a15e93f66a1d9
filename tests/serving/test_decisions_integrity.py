"""Decisions that can't be lost, doubled or overwritten (SQLite; test_decisions_postgres.py runs
the same checks on PostgreSQL): racing writers, idempotency keys, all-or-nothing batches, the
plan lifecycle, and an old database upgraded in place."""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy as sa

from serving.decisions import DecisionStore, MoveChoice, StoreUnavailable


def test_sqlite_races_retries_batches_and_plan_lifecycle(tmp_path, exercise_integrity):
    url = f"sqlite:///{tmp_path / 'd.db'}"
    exercise_integrity(lambda: DecisionStore(url))


def test_a_batch_failing_part_way_leaves_nothing_and_says_503(tmp_path):
    url = f"sqlite:///{tmp_path / 'd.db'}"
    store = DecisionStore(url)
    store.register_plan("p1", "/plans/p1")
    with store.engine.begin() as conn:  # the database refuses the third row of the batch
        conn.exec_driver_sql(
            "CREATE TRIGGER fail_b3 BEFORE INSERT ON territory_decisions "
            "WHEN NEW.account_id = 'B3' BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
        )
    choices = [MoveChoice(f"B{i}", "R1", "R2", "R2") for i in range(1, 6)]
    with pytest.raises(StoreUnavailable, match="nothing was written") as failed:
        store.decide_many(
            plan_id="p1",
            choices=choices,
            action="approve",
            note="",
            actor="M",
            role="manager",
            model_version="v1",
        )
    assert failed.value.status == 503
    assert store.decisions("p1") == {} and store.audit() == []


def test_an_old_database_gains_the_version_column_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # the decisions table as releases before versions made it
        db.execute(
            "CREATE TABLE territory_decisions (decision_id INTEGER PRIMARY KEY, "
            "action VARCHAR(16) NOT NULL, final_rep_id VARCHAR(128) NOT NULL, note TEXT NOT NULL, "
            "actor TEXT NOT NULL, decided_at DATETIME NOT NULL, model_version TEXT NOT NULL, "
            "plan_id VARCHAR(64) NOT NULL, account_id VARCHAR(128) NOT NULL, "
            "from_rep_id VARCHAR(128), proposed_rep_id VARCHAR(128) NOT NULL)"
        )
        db.execute(
            "INSERT INTO territory_decisions VALUES (1, 'reject', 'R1', 'old', 'M', "
            "'2026-01-01 00:00:00', 'v0', 'p1', 'A1', 'R1', 'R2')"
        )
    store = DecisionStore(f"sqlite:///{path}")
    columns = {c["name"] for c in sa.inspect(store.engine).get_columns("territory_decisions")}
    assert "supersedes" in columns
    store.register_plan("p1", "/plans/p1")
    assert store.decision("p1", "A1").action == "reject"
    newer = store.decide(
        plan_id="p1",
        account_id="A1",
        action="approve",
        from_rep_id="R1",
        proposed_rep_id="R2",
        final_rep_id="R2",
        note="",
        actor="M",
        role="manager",
        model_version="v1",
        expected_decision_id=1,
    )
    assert newer.supersedes == 1 and store.decision("p1", "A1") == newer
