"""Decisions on proposed moves, reps' contests and the audit trail, in SQLite or PostgreSQL.

records (each record declared once) -> tables (the SQL derived from them) -> store (append-only
writes, one transaction each, audited, atomic across processes: db.py; idempotency keys;
plan_book.py for approval and rollback) -> cache (the request path's snapshot). rules.py holds
who may decide or contest what; import it as `serving.decisions.rules`.
"""

from __future__ import annotations

from serving.decisions.cache import DecisionCache, DecisionView
from serving.decisions.db import StoreUnavailable
from serving.decisions.idempotency import IdempotencyKeyReused, WriteKey
from serving.decisions.records import (
    ACTIONS,
    PLAN_STATUSES,
    Action,
    AuditEntry,
    Contest,
    Decision,
    DecisionSummary,
    PlanRecord,
    as_dicts,
)
from serving.decisions.store import BatchResult, DecisionConflict, DecisionStore, MoveChoice

__all__ = [
    "ACTIONS",
    "BatchResult",
    "DecisionConflict",
    "IdempotencyKeyReused",
    "MoveChoice",
    "StoreUnavailable",
    "WriteKey",
    "PLAN_STATUSES",
    "Action",
    "AuditEntry",
    "Contest",
    "Decision",
    "DecisionCache",
    "DecisionStore",
    "DecisionSummary",
    "DecisionView",
    "PlanRecord",
    "as_dicts",
]
