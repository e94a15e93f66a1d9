"""Bulk actions chosen on the server: every move of a rep, a region, a reason or a search, decided
through the same all-or-nothing batch as /bulk_decide (moves already decided are skipped and
reported, never overwritten). Without confirm, only the counts: what would be decided or skipped.
"""

from __future__ import annotations

from serving.auth import Principal
from serving.decisions import DecisionView, WriteKey, rules
from serving.errors import BadRequest
from serving.store import ServingState
from serving.triage import select_moves
from serving.views import require_plan

SKIPPED_LISTED = 200


def bulk_select(
    store,
    who: Principal,
    state: ServingState,
    view: DecisionView,
    selector: dict,
    action: str,
    note: str,
    *,
    confirm: bool,
    key: WriteKey | None = None,
) -> dict:
    """Decide the moves `selector` picks (q, region, rep_id, reason_type); see module doc."""
    chosen = {k: v for k, v in selector.items() if v}
    if not chosen:
        raise BadRequest(
            "selector is empty, which would pick every move of the plan; give at least one of "
            "q, region, rep_id or reason_type (or approve the plan as a whole)."
        )
    if "rep_id" in chosen:
        state.require_rep(chosen["rep_id"])
    region = chosen.get("region")
    if region and all(a.region != region for a in state.accounts.values()):
        raise BadRequest(f"region {region!r} is not in the CRM data; pick one the page lists.")
    plan = require_plan(state)
    if chosen.get("reason_type") and chosen["reason_type"] not in plan.reason_types:
        raise BadRequest(
            f"reason_type {chosen['reason_type']!r} is not one of this plan's: "
            f"{list(plan.reason_types)}."
        )
    ids = [m.account_id for m in select_moves(state, view, **chosen)]
    described = ", ".join(f"{k}={v}" for k, v in chosen.items())
    verb = "approved" if action == "approve" else "rejected"
    if not confirm:
        decided_already = [a for a in ids if a in view.decisions]
        todo = len(ids) - len(decided_already)
        return {
            "selected": len(ids),
            "decided": 0,
            "skipped": len(decided_already),
            "skipped_ids": decided_already[:SKIPPED_LISTED],
            "confirmed": False,
            "message": f"{described}: {len(ids)} move(s); {todo} would be {verb}, "
            f"{len(decided_already)} already decided would be left as they are. Send confirm: "
            "true to decide them.",
        }
    if not ids:
        raise BadRequest(f"no move matches {described}; nothing was written.")
    result = rules.decide_many(store, who, state, ids, action, note, key)
    skipped = [d.account_id for d in result.skipped]
    return {
        "selected": len(ids),
        "decided": len(result.decided),
        "skipped": len(skipped),
        "skipped_ids": skipped[:SKIPPED_LISTED],
        "confirmed": True,
        "message": f"{described}: {len(result.decided)} move(s) {verb}; {len(skipped)} already "
        "decided by someone were left as they were.",
    }
