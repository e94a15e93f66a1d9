"""The decided plan as CSV for CRM import: one row per account, decisions applied."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from serving.decisions import DecisionView
from serving.store import ServingState
from serving.views import STATUS_OF_ACTION, decided_owners, require_plan

EXPORT_COLUMNS = (
    "account_id",
    "account_name",
    "rep_id",
    "rep_name",
    "previous_rep_id",
    "changed",
    "status",
    "decided_by",
    "decided_at",
    "note",
    "plan_id",
    "model_version",
)


def export_rows(state: ServingState, view: DecisionView, *, only_changes: bool) -> Iterable[dict]:
    plan = require_plan(state)
    owners = decided_owners(state, view)
    for account_id, info in state.accounts.items():
        rep_id = owners.get(account_id)
        previous = state.current_owner.get(account_id)
        decision = view.decisions.get(account_id)
        changed = rep_id != previous
        if only_changes and not changed:
            continue
        move = plan.moves.get(account_id)
        yield {
            "account_id": account_id,
            "account_name": info.name,
            "rep_id": rep_id or "",
            "rep_name": state.reps[rep_id].name if rep_id in state.reps else "",
            "previous_rep_id": previous or "",
            "changed": "true" if changed else "false",
            "status": (
                STATUS_OF_ACTION[decision.action]
                if decision
                else ("proposed" if move else "unchanged")
            ),
            "decided_by": decision.actor if decision else "",
            "decided_at": decision.decided_at if decision else "",
            "note": decision.note if decision else "",
            "plan_id": plan.plan_id,
            "model_version": decision.model_version if decision else state.model_version,
        }


def export_csv(state: ServingState, view: DecisionView, *, only_changes: bool) -> str:
    """The decided plan as CSV for CRM import: one row per account (or per changed account)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(export_rows(state, view, only_changes=only_changes))
    return buffer.getvalue()
