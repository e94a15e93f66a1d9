"""The audit page's queries: history per account, per rep and per plan, filtered, newest first,
and the same rows as CSV streamed in chunks (who, what, when, previous state, new state, note).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

import sqlalchemy as sa

from serving.decisions import AuditEntry, DecisionStore
from serving.decisions.tables import record_of
from serving.errors import BadRequest

CSV_COLUMNS = (
    "audit_id",
    "at",
    "actor",
    "role",
    "action",
    "plan_id",
    "account_id",
    "previous_value",
    "new_value",
    "note",
    "model_version",
)
CSV_CHUNK = 500


def _query(
    store: DecisionStore,
    *,
    account_id: str | None = None,
    rep_id: str | None = None,
    plan_id: str | None = None,
    action: str | None = None,
    actor: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> sa.Select:
    """The audit rows the filters keep. A rep's history: rows whose previous or new state names
    the rep (decisions from, to or overridden to them; their contests) or that the rep wrote."""
    a = store.t["audit"]
    query = sa.select(a)
    if account_id:
        query = query.where(a.c.account_id == account_id)
    if plan_id:
        query = query.where(a.c.plan_id == plan_id)
    if action:
        pattern = action if "." in action else f"{action}.%"
        query = query.where(a.c.action.like(pattern) if "%" in pattern else a.c.action == action)
    if actor:
        query = query.where(a.c.actor == actor)
    if rep_id:
        quoted = f'%"{rep_id}"%'
        query = query.where(
            sa.or_(
                a.c.previous_value.like(quoted),
                a.c.new_value.like(quoted),
                a.c.actor.like(f"%{rep_id}%"),
            )
        )
    for bound, op in ((since, "ge"), (until, "le")):
        if bound:
            try:
                value = _when(bound, op == "le")
            except ValueError as exc:
                raise BadRequest(str(exc)) from None
            query = query.where(a.c.at >= value if op == "ge" else a.c.at <= value)
    return query


def _when(text: str, end_of_day: bool):
    from datetime import UTC, datetime, time

    try:
        day = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"date {text!r} is not ISO 8601; write it like 2026-12-04 or 2026-12-04T15:00"
        ) from None
    if len(text) == 10 and end_of_day:
        day = datetime.combine(day.date(), time.max)
    return day if day.tzinfo else day.replace(tzinfo=UTC)


def audit_entries(store: DecisionStore, *, offset: int = 0, limit: int = 200, **filters):
    """(entries newest first, how many match) for the audit page."""
    a = store.t["audit"]
    query = _query(store, **filters)
    count = sa.select(sa.func.count()).select_from(query.subquery())
    page = query.order_by(a.c.audit_id.desc()).offset(offset).limit(limit)

    def work(conn):
        rows = [record_of(AuditEntry, r) for r in conn.execute(page).mappings()]
        return rows, int(conn.execute(count).scalar_one())

    return store.read(work, what="reading the audit trail")


def audit_csv(store: DecisionStore, **filters) -> Iterator[str]:
    """The matching rows as CSV, newest first, read and sent CSV_CHUNK rows at a time."""
    a = store.t["audit"]
    query = _query(store, **filters).order_by(a.c.audit_id.desc())
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    yield _drain(buffer)
    offset = 0
    while True:
        chunk = store.read(
            lambda conn, o=offset: [
                record_of(AuditEntry, r)
                for r in conn.execute(query.offset(o).limit(CSV_CHUNK)).mappings()
            ],
            what="exporting the audit trail",
        )
        for entry in chunk:
            row = entry.model_dump()
            for key in ("previous_value", "new_value"):
                row[key] = "" if row[key] is None else json.dumps(row[key], sort_keys=True)
            writer.writerow([row[c] if row[c] is not None else "" for c in CSV_COLUMNS])
        yield _drain(buffer)
        if len(chunk) < CSV_CHUNK:
            return
        offset += CSV_CHUNK


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
