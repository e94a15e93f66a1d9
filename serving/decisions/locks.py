"""Typed locks from decisions: overrides and accepted contests keep an account with the rep the
manager chose, for the next `territory plan` (`--locks FILE`, the document POST /locks returns).

A lock names its reason, its expiry and the decision it came from. Decisions on plans that were
rolled back make no locks; of several decisions on one account, the latest counts (a later
approve or reject of the same move lifts an override's lock).
"""

from __future__ import annotations

from datetime import date, timedelta

from pydantic import BaseModel, ConfigDict

from serving.decisions.records import Contest, Decision
from serving.decisions.store import DecisionStore

LOCKS_SCHEMA_VERSION = 1
DEFAULT_LOCK_DAYS = 365


class DecisionLock(BaseModel):
    """Keep `account_id` with `rep_id` until `expires`: why, and which decision says so."""

    model_config = ConfigDict(frozen=True)

    account_id: str
    rep_id: str
    reason: str
    expires: str
    source: str  # override | contest
    source_decision_id: int
    plan_id: str
    decided_by: str
    decided_at: str


def decision_locks(
    store: DecisionStore, *, lock_days: int = DEFAULT_LOCK_DAYS
) -> list[DecisionLock]:
    """The locks the decisions make now, one per account at most, by account id."""
    latest: dict[str, Decision] = {}
    accepted: dict[int, Contest] = {}
    for plan in store.plans():
        if plan.status == "rolled_back":
            continue
        for account_id, decision in store.decisions(plan.plan_id).items():
            seen = latest.get(account_id)
            if seen is None or decision.decided_at >= seen.decided_at:
                latest[account_id] = decision
        for contest in store.contests(plan.plan_id, status="accepted"):
            if contest.decision_id:
                accepted[contest.decision_id] = contest
    locks = []
    for account_id in sorted(latest):
        decision = latest[account_id]
        contest = accepted.get(decision.decision_id)
        if decision.action != "override" and contest is None:
            continue
        expires = date.fromisoformat(decision.decided_at[:10]) + timedelta(days=lock_days)
        if contest is not None:
            source, reason = "contest", f"contest {contest.contest_id} accepted: {contest.reason}"
        else:
            source, reason = "override", f"overridden by {decision.actor}"
        if decision.note and contest is None:
            reason += f": {decision.note}"
        locks.append(
            DecisionLock(
                account_id=account_id,
                rep_id=decision.final_rep_id,
                reason=reason,
                expires=expires.isoformat(),
                source=source,
                source_decision_id=decision.decision_id,
                plan_id=decision.plan_id,
                decided_by=decision.actor,
                decided_at=decision.decided_at,
            )
        )
    return locks


def locks_document(locks: list[DecisionLock], generated_at: str) -> dict:
    """The locks file: what `territory plan --locks FILE` reads."""
    return {
        "schema_version": LOCKS_SCHEMA_VERSION,
        "generated_at": generated_at,
        "locks": [lock.model_dump() for lock in locks],
    }
