"""CRM exports in a real PostgreSQL (127.0.0.1:5432): round trip, schema, prefix, missing table."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from features.contract import TABLES
from features.loaders import load_crm, write_crm

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "crm_sample"

pytestmark = pytest.mark.integration


@pytest.fixture
def crm_pg_schema(postgres_url: str) -> Iterator[str]:
    """A fresh schema for one test, dropped (with its tables) afterwards."""
    schema = f"territory_test_{uuid.uuid4().hex[:12]}"
    yield schema
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def test_postgres_round_trip(postgres_url: str, crm_pg_schema: str) -> None:
    tables = load_crm(SAMPLE).tables
    write_crm(tables, postgres_url, schema=crm_pg_schema)
    loaded = load_crm(postgres_url, schema=crm_pg_schema)
    assert loaded.report.issues == ()
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(loaded.tables, name), getattr(tables, name))
    assert loaded.tables.extra_account_columns == ("segment", "web_visits")
    assert "postgres@127.0.0.1" in loaded.source


def test_postgres_prefix_and_missing_table(postgres_url: str, crm_pg_schema: str) -> None:
    tables = load_crm(SAMPLE).tables
    write_crm(tables, postgres_url, schema=crm_pg_schema, table_prefix="crm_")
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP TABLE "{crm_pg_schema}".crm_reps'))
    engine.dispose()
    report = load_crm(postgres_url, schema=crm_pg_schema, table_prefix="crm_").report
    assert report.fatal
    assert [(i.check, i.table) for i in report.issues] == [("missing_table", "reps")]
