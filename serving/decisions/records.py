"""The decision records, each declared once: a frozen pydantic model whose field types say how the
field is stored. tables.py derives the SQL table from it and the API (serving/schemas.py) answers
with it, so a new field is one line here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict

Action = Literal["approve", "reject", "override"]
ACTIONS: tuple[str, ...] = ("approve", "reject", "override")
PLAN_STATUSES = ("proposed", "approved", "superseded", "rolled_back")
"""proposed: open for decisions; approved: the effective plan, immutable; superseded: an approved
plan replaced by a later approval; rolled_back: an approved plan withdrawn by a rollback."""


@dataclass(frozen=True)
class Stored:
    """How a record field is stored: `kind` is int, str (with `length`), text, time or json."""

    kind: Literal["int", "str", "text", "time", "json"]
    length: int | None = None
    primary_key: bool = False


# Field types: the Python type a record holds and its SQL column (timestamps travel as ISO text).
RowId = Annotated[int, Stored("int", primary_key=True)]
RowRef = Annotated[int, Stored("int")]  # the id of another row (0: none)
PlanKey = Annotated[str, Stored("str", 64, primary_key=True)]
PlanId = Annotated[str, Stored("str", 64)]
EntityId = Annotated[str, Stored("str", 128)]  # account and rep ids
Word = Annotated[str, Stored("str", 16)]  # status, role
Text = Annotated[str, Stored("text")]
Time = Annotated[str, Stored("time")]
Json = Annotated[Any, Stored("json")]


class Record(BaseModel):
    """Base of the stored records: immutable, no extra fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class PlanRecord(Record):
    """A plan the service has loaded, and whether a manager approved it as a whole."""

    plan_id: PlanKey
    path: Text
    status: Word
    registered_at: Time
    approved_by: Text | None
    approved_at: Time | None
    effective_date: Annotated[str, Stored("str", 10)] | None = None
    applied: Json | None = None


class DecisionSummary(Record):
    """What the review page shows of a decision (the API's DecisionOut)."""

    decision_id: RowId
    action: Annotated[Action, Stored("str", 16)]
    final_rep_id: EntityId
    note: Text
    actor: Text
    decided_at: Time
    model_version: Text


class Decision(DecisionSummary):
    """A manager's decision on one move of one plan (the latest one per account wins)."""

    plan_id: PlanId
    account_id: EntityId
    from_rep_id: EntityId | None
    proposed_rep_id: EntityId
    supersedes: RowRef | None = None
    """The decision this one replaced (0: the first on the move). Unique per move, so two writers
    that saw the same version cannot both append: the database refuses the second."""


class Contest(Record):
    """A rep's objection to a proposed move, waiting in the manager's queue until decided."""

    contest_id: RowId
    plan_id: PlanId
    account_id: EntityId
    rep_id: EntityId
    reason: Text
    status: Word
    actor: Text
    created_at: Time
    resolved_by: Text | None
    resolved_at: Time | None
    resolution: Text | None
    decision_id: RowRef | None = None
    """The decision a manager made in accepting the contest (contest_book.py); None otherwise.
    status: open -> accepted (a decision keeps or overrides the move) | rejected (with a note) |
    resolved (closed by another decision on the move, or by the plan's approval)."""


class AuditEntry(Record):
    """One append-only audit row: who, when, what, under which model and plan, and what it
    replaced."""

    audit_id: RowId
    at: Time
    actor: Text
    role: Word
    action: Annotated[str, Stored("str", 32)]
    plan_id: PlanId | None
    account_id: EntityId | None
    model_version: Text | None
    previous_value: Json | None
    new_value: Json | None
    note: Text


class IdempotentWrite(Record):
    """A write done under an Idempotency-Key: a retry with the same key and body gets `result`
    back instead of writing again; the same key with another body is refused."""

    key: Annotated[str, Stored("str", 128, primary_key=True)]
    endpoint: Annotated[str, Stored("str", 32)]
    actor: Text
    request_hash: Annotated[str, Stored("str", 64)]
    result: Json
    created_at: Time


def as_dicts(records) -> list[dict]:
    """Records as plain dicts (JSON-ready)."""
    return [r.model_dump() for r in records]
