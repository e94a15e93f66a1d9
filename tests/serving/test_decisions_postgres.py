"""The decisions store against a real PostgreSQL (127.0.0.1:5432), in a throwaway schema."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from serving.decisions import DecisionStore

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_schema(postgres_url):
    schema = f"territory_test_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield schema
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def test_postgres_store_keeps_decisions_contests_and_audit(postgres_url, pg_schema, exercise_store):
    store = DecisionStore(postgres_url, schema=pg_schema)
    exercise_store(store)
    store.close()
    reopened = DecisionStore(postgres_url, schema=pg_schema)
    assert reopened.decisions("p1")["A1"].action == "reject"
    assert [e.action for e in reopened.audit(plan_id="p1")][-1] == "decision.approve"
    assert reopened.plan("p1").status == "approved"
    reopened.close()
