"""A rep's own book: my accounts ranked by potential with their reasons (the call plan), the
accounts joining and leaving with when, and my workload against the plan's band."""

from __future__ import annotations

from typing import Any

from serving import views

DEFAULT_BAND = 0.10
"""The workload band when the plan does not say (models.planning.Limits' default)."""


def _band(state) -> tuple[float, str]:
    plan = state.plan
    document = (plan.metrics or {}).get("scenario_document") if plan else None
    band = ((document or {}).get("limits") or {}).get("workload_band")
    if band is None:
        return DEFAULT_BAND, "the default +-10% band (the plan does not record its own)"
    return float(band), f"the plan's scenario band (+-{100 * float(band):.0f}%)"


def _workload(state, rep_id: str) -> dict[str, Any]:
    before = state.balance_before.get(rep_id, {}).get("workload")
    after = state.balance_proposed.get(rep_id, {}).get("workload")
    totals = [v.get("workload") or 0.0 for v in state.balance_proposed.values()]
    active = [r for r, info in state.reps.items() if info.active]
    index = state.balance
    caps = {r: index.capacity[index.rep_row[r]] for r in active if r in index.rep_row}
    known = {r: c for r, c in caps.items() if c == c and c > 0}
    total = float(sum(totals))
    if rep_id in known and len(known) == len(active):
        target = total * known[rep_id] / sum(known.values())
    else:
        target = total / max(len(active), 1)
    band, source = _band(state)
    return {
        "today": before,
        "planned": after,
        "target": target,
        "low": target * (1 - band),
        "high": target * (1 + band),
        "band": band,
        "band_source": source,
    }


def _when(move: dict, record) -> str:
    if record is not None and record.status == "approved":
        return f"effective {record.effective_date or record.approved_at}"
    decision = move.get("decision")
    if decision and decision["action"] in ("approve", "override"):
        return f"approved {decision['decided_at'][:10]}; effective when the plan is approved"
    if decision and decision["action"] == "reject":
        return f"rejected {decision['decided_at'][:10]}: stays with its owner"
    return "proposed: waiting for the manager's decision"


def rep_book(state, rep_id: str, view, record, calls: int = 10) -> dict[str, Any]:
    """The book: ``views.rep_view`` (accounts, joining, leaving) plus dates, the call plan and
    the workload band."""
    base = views.rep_view(state, rep_id, 1000, view)
    for move in [*base["joining"], *base["leaving"]]:
        move["when"] = _when(move, record)
    staying = [a for a in base["accounts"] if a["leaving_to"] is None]
    call_plan = [
        {
            "rank": i + 1,
            "account_id": a["account_id"],
            "name": a["name"],
            "potential": a["potential"],
            "why": [r.get("phrase", "") for r in a["reasons"][:3]],
        }
        for i, a in enumerate(staying[:calls])
    ]
    plan = state.plan
    return {
        **base,
        "plan_id": plan.plan_id if plan else None,
        "plan_status": record.status if record else ("proposed" if plan else None),
        "call_plan": call_plan,
        "workload": _workload(state, rep_id),
    }
