"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (third-party data). Skips with a reason in a user's clone; required in CI."""
    if not SHARED_DATA.is_dir():
        if IN_CI:
            pytest.fail(
                f"CI=true but {SHARED_DATA} is missing: CI must run with shared/ beside main"
            )
        pytest.skip(f"{SHARED_DATA} not found: third-party data lives beside the checkout in CI")
    return SHARED_DATA


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """SQLAlchemy URL of the test PostgreSQL (127.0.0.1:5432, trust auth, database `test`).

    Mandatory in CI; elsewhere skipped with a visible reason when no server answers.
    """
    url = os.environ.get(
        "TERRITORY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure to connect means "no server here"
        if IN_CI:
            pytest.fail(f"CI=true but PostgreSQL at {url} is unreachable: {exc}")
        pytest.skip(
            f"PostgreSQL at {url} unreachable ({type(exc).__name__}); "
            "set TERRITORY_TEST_POSTGRES_URL"
        )
    return url


@pytest.fixture
def pg_schema(postgres_url):
    """A throwaway PostgreSQL schema (random name), dropped after the test."""
    import uuid

    import sqlalchemy as sa

    schema = f"territory_test_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield schema
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture(autouse=True)
def _no_inherited_mlflow_uri(monkeypatch):
    """MLflow exports MLFLOW_TRACKING_URI whenever any code calls `mlflow.set_tracking_uri`, and
    Territory honours that variable: without this, one test's store would leak into the next
    test's settings (and into notebook kernels it starts)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
