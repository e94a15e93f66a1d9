"""Unit checks of the health and abuse-resistance parts: outage detection, NUL guard, the store
link, keys shown once, one-line logs and the OpenAPI error document."""

from __future__ import annotations

import json
import logging
import sqlite3
import sys

import pytest
import sqlalchemy as sa

from serving.auth import KeyRing, create_key, key_counts
from serving.errors import BadRequest, Unavailable, database_down, document_errors, find_nul
from serving.loading import StoreLink, with_timeouts
from serving.web import OneLineLogs


def test_database_outages_are_told_apart_from_bugs():
    down = sa.exc.OperationalError("SELECT 1", {}, sqlite3.OperationalError("unable to open"))
    assert "unable to open" in database_down(down)
    bug = sa.exc.ProgrammingError("SELEC 1", {}, sqlite3.ProgrammingError("syntax error"))
    assert database_down(bug) is None and database_down(ValueError("x")) is None


def test_nul_characters_are_found_anywhere_in_the_arguments():
    assert find_nul({"note": "ok", "ids": ["a", "b\x00"]}) == "ids.1"
    assert find_nul({"scenario": {"city": "Q\x00"}}) == "scenario.city"
    assert find_nul({"note": "fine"}) is None


def test_postgres_urls_get_connect_and_statement_timeouts():
    url = with_timeouts("postgresql+psycopg://u:p@h/db", 3)
    assert "connect_timeout=3" in url and "statement_timeout" in url
    assert with_timeouts("sqlite:///x.db", 3) == "sqlite:///x.db"


def test_store_link_is_down_then_up_then_down_without_a_restart(tmp_path):
    folder = tmp_path / "db"
    link = StoreLink(f"sqlite:///{folder / 'd.db'}")
    assert link.check() is False and "does not exist" in link.describe()
    with pytest.raises(Unavailable, match="Retry in"):
        link.get()
    folder.mkdir()
    assert link.check() is True and link.describe() is None
    link.get().register_plan("p1", "/plans/p1")
    folder.rename(tmp_path / "away")
    with pytest.raises(Unavailable, match="moved, deleted or replaced"):
        link.get()
    assert link.check() is False
    (tmp_path / "away").rename(folder)
    assert link.check() is True and link.get().plan_statuses() == {"p1": "proposed"}


def test_a_created_key_works_at_once_and_is_stored_owner_only(tmp_path):
    path = tmp_path / "keys.json"
    create_key(path, role="manager", name="Maria")
    ring = KeyRing.from_sources({}, path)
    key = create_key(path, role="rep", name="Ann", rep_id="R1")  # while the service runs
    assert ring.authenticate({"authorization": f"Bearer {key}"}).rep_id == "R1"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert key_counts(path) == {"manager": 1, "rep": 1}
    with pytest.raises(BadRequest, match="--rep"):
        create_key(path, role="rep", name="x")


def test_client_errors_log_one_line_and_newlines_cannot_forge_lines():
    from pydantic import BaseModel, ValidationError

    class Body(BaseModel):
        account_id: str

    try:
        Body.model_validate({"account_id": 1})
    except ValidationError:
        record = logging.LogRecord(
            "x",
            logging.ERROR,
            __file__,
            1,
            "Exception on %s",
            ("/card",),
            sys.exc_info(),
        )
    assert OneLineLogs().filter(record)
    assert record.levelname == "WARNING" and record.exc_info is None
    assert "validation error" in record.getMessage()
    forged = logging.LogRecord("x", logging.INFO, __file__, 1, "key %s", ("a\nERROR b",), None)
    OneLineLogs().filter(forged)
    assert "\n" not in forged.getMessage() and "a\\nERROR b" in forged.getMessage()


def test_the_openapi_document_names_every_error_status_and_nullable_fields():
    spec = {
        "openapi": "3.0.2",
        "paths": {
            "/decide": {"post": {"responses": {"200": {}}}},
            "/readyz": {"get": {"responses": {}}},
        },
        "components": {
            "schemas": {
                "W": {"properties": {"rep_id": {"anyOf": [{"type": "string"}, {"type": "null"}]}}}
            }
        },
    }
    out = json.loads(json.dumps(document_errors(spec)))
    responses = out["paths"]["/decide"]["post"]["responses"]
    assert {"400", "401", "403", "404", "409", "413", "503"} <= set(responses)
    assert "Retry-After" in responses["503"]["headers"]
    assert "503" in out["paths"]["/readyz"]["get"]["responses"]
    assert out["components"]["schemas"]["W"]["properties"]["rep_id"] == {
        "type": "string",
        "nullable": True,
    }
