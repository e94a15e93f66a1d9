"""SQL tables derived from the records (records.py), and rows read back into records."""

from __future__ import annotations

import functools
import json
import types
import typing
from datetime import UTC, datetime
from typing import Annotated, Any

import sqlalchemy as sa

from serving.decisions.records import (
    AuditEntry,
    Contest,
    Decision,
    IdempotentWrite,
    PlanRecord,
    Record,
    Stored,
)

_NONE = type(None)


def now() -> datetime:
    """The time every write stamps (UTC)."""
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    """A stored timestamp as ISO text to the second (None stays None)."""
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite hands back naive datetimes; they were written as UTC
        value = value.replace(tzinfo=UTC)
    return value.isoformat(timespec="seconds")


def _storage(annotation: Any) -> tuple[Stored, bool]:
    """(how a field is stored, whether it may be NULL) from its type hint."""
    nullable = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not _NONE]
        nullable = len(args) < len(typing.get_args(annotation))
        annotation = args[0]
    if typing.get_origin(annotation) is Annotated:
        stored = next(m for m in annotation.__metadata__ if isinstance(m, Stored))
        return stored, nullable
    raise TypeError(f"record field type {annotation!r} says nothing about storage; use Stored")


@functools.cache
def fields(record: type[Record]) -> dict[str, tuple[Stored, bool]]:
    """Each field of `record` with its storage and nullability, in declaration order."""
    hints = typing.get_type_hints(record, include_extras=True)
    return {name: _storage(hints[name]) for name in record.model_fields}


def _sql_type(stored: Stored) -> sa.types.TypeEngine:
    if stored.kind == "int":
        return sa.Integer()
    if stored.kind == "str":
        return sa.String(stored.length)
    if stored.kind == "time":
        return sa.DateTime(timezone=True)
    return sa.Text()  # text, and json kept as its text


def table_of(record: type[Record], name: str, metadata: sa.MetaData, *indexes: str) -> sa.Table:
    """The table that stores `record`; `indexes` are "ix_name:col,col" specs (a name starting
    with ux_ is a unique index)."""
    columns = [
        sa.Column(
            field,
            _sql_type(stored),
            primary_key=stored.primary_key,
            autoincrement=True if stored.primary_key and stored.kind == "int" else "auto",
            nullable=nullable or stored.kind == "json",
        )
        for field, (stored, nullable) in fields(record).items()
    ]
    index_objects = [
        sa.Index(ix, *cols.split(","), unique=ix.startswith("ux_"))
        for ix, cols in (spec.split(":") for spec in indexes)
    ]
    return sa.Table(name, metadata, *columns, *index_objects)


def build_tables(metadata: sa.MetaData) -> dict[str, sa.Table]:
    """The tables of the decisions store (names and indexes as every release has had, plus the
    unique index that makes a decision's version check atomic and the idempotency keys)."""
    return {
        "plans": table_of(PlanRecord, "territory_plans", metadata),
        "decisions": table_of(
            Decision,
            "territory_decisions",
            metadata,
            "ix_territory_decisions_plan_account:plan_id,account_id",
            "ux_territory_decisions_version:plan_id,account_id,supersedes",
            # an account's latest decision by index on PostgreSQL too (SQLite's rowid is implied)
            "ix_territory_decisions_latest:plan_id,account_id,decision_id",
        ),
        "contests": table_of(
            Contest,
            "territory_contests",
            metadata,
            "ix_territory_contests_plan_status:plan_id,status",
        ),
        "audit": table_of(
            AuditEntry,
            "territory_audit",
            metadata,
            "ix_territory_audit_plan_account:plan_id,account_id",
        ),
        "idempotency": table_of(IdempotentWrite, "territory_idempotency", metadata),
    }


def upgrade(engine: sa.Engine, metadata: sa.MetaData) -> list[str]:
    """Create what is missing: tables, and columns and indexes added since a table was created
    (always nullable, so old rows stay valid); returns what it added."""
    metadata.create_all(engine)
    added = []
    inspector = sa.inspect(engine)
    for table in metadata.sorted_tables:
        have = {c["name"] for c in inspector.get_columns(table.name, schema=table.schema)}
        missing = [c for c in table.columns if c.name not in have]
        with engine.begin() as conn:
            for column in missing:
                kind = column.type.compile(dialect=engine.dialect)
                name = table.fullname if table.schema is None else f'"{table.schema}".{table.name}'
                conn.execute(sa.text(f"ALTER TABLE {name} ADD COLUMN {column.name} {kind}"))
                added.append(f"{table.name}.{column.name}")
        for index in table.indexes:
            index.create(engine, checkfirst=True)
    return added


_RecordT = typing.TypeVar("_RecordT", bound=Record)


def record_of(record: type[_RecordT], row: typing.Mapping[str, Any]) -> _RecordT:
    """A database row as `record`: timestamps to ISO text, JSON text parsed."""
    values = {}
    for field, (stored, nullable) in fields(record).items():
        value = row[field]
        if stored.kind == "time":
            value = iso(value) if nullable else (iso(value) or "")
        elif stored.kind == "json":
            value = json.loads(value) if value else None
        values[field] = value
    return record.model_construct(**values)  # the database already holds checked values
