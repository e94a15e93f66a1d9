"""The decisions store against a real PostgreSQL (127.0.0.1:5432), in a throwaway schema."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from serving.decisions import DecisionStore, MoveChoice, StoreUnavailable

pytestmark = pytest.mark.integration


def test_postgres_store_keeps_decisions_contests_and_audit(postgres_url, pg_schema, exercise_store):
    store = DecisionStore(postgres_url, schema=pg_schema)
    exercise_store(store)
    store.close()
    reopened = DecisionStore(postgres_url, schema=pg_schema)
    assert reopened.decisions("p1")["A1"].action == "reject"
    assert [e.action for e in reopened.audit(plan_id="p1")][-1] == "decision.approve"
    assert reopened.plan("p1").status == "approved"
    reopened.close()


def test_postgres_races_retries_batches_and_plan_lifecycle(
    postgres_url, pg_schema, exercise_integrity
):
    opened = []

    def make_store():
        opened.append(DecisionStore(postgres_url, schema=pg_schema))
        return opened[-1]

    try:
        exercise_integrity(make_store)
    finally:
        for store in opened:
            store.close()


def test_postgres_batch_failing_part_way_leaves_nothing(postgres_url, pg_schema):
    store = DecisionStore(postgres_url, schema=pg_schema)
    store.register_plan("p1", "/plans/p1")
    with store.engine.begin() as conn:  # the database fails on the third row of the batch
        conn.execute(sa.text(FAIL_ON_B3.format(schema=pg_schema)))
    choices = [MoveChoice(f"B{i}", "R1", "R2", "R2") for i in range(1, 6)]
    with pytest.raises(StoreUnavailable, match="injected failure on B3"):
        store.decide_many(
            plan_id="p1",
            choices=choices,
            action="approve",
            note="",
            actor="M",
            role="manager",
            model_version="v1",
        )
    assert store.decisions("p1") == {} and store.audit() == []
    store.close()


FAIL_ON_B3 = """
CREATE FUNCTION "{schema}".fail_b3() RETURNS trigger AS $$
BEGIN
  IF NEW.account_id = 'B3' THEN RAISE EXCEPTION 'injected failure on B3'; END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER fail_b3 BEFORE INSERT ON "{schema}".territory_decisions
  FOR EACH ROW EXECUTE FUNCTION "{schema}".fail_b3();
"""
