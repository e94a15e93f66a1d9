"""Triage of the review queue at scale: search, sort, filter and page the moves, select moves for
bulk actions on the server, a manager's per-rep view and the balance against the target band.

Pure functions on the served state and a DecisionView (service.py fetches both); dicts out.
A move's status is its final state once the plan is approved: approved, overridden or kept
(rejected and undecided moves stay with their current owner).
"""

from __future__ import annotations

from collections.abc import Callable

from models.planning import Scenario
from serving.decisions import DecisionView, PlanRecord
from serving.errors import BadRequest
from serving.plans import Move
from serving.store import ServingState
from serving.views import STATUS_OF_ACTION, move_out, rep_ref, require_plan

SORTS = (
    "impact",
    "potential",
    "account",
    "account_id",
    "region",
    "industry",
    "tier",
    "from_rep",
    "to_rep",
    "status",
)
"""The columns /moves sorts by (`sort`); `order` is asc or desc (default: desc for impact and
potential, asc for the rest)."""

METRICS = ("accounts", "potential", "workload", "travel_km")
FINAL_STATES = ("approved", "overridden", "kept")


def move_status(view: DecisionView, account_id: str, plan_approved: bool) -> str:
    """proposed / approved / rejected / overridden; once the plan is approved, rejected and
    undecided moves read `kept` (they stay with the current owner)."""
    decision = view.decisions.get(account_id)
    status = STATUS_OF_ACTION[decision.action] if decision else "proposed"
    if plan_approved and status in {"proposed", "rejected"}:
        return "kept"
    return status


def _rep_name(state: ServingState, rep_id: str | None) -> str:
    if not rep_id:
        return ""
    rep = state.reps.get(rep_id)
    return rep.name if rep else rep_id


def _tier(state: ServingState, account_id: str) -> str:
    entry = state.scores.get(account_id)
    return entry.tier if entry else ""


def _potential(state: ServingState, account_id: str) -> float:
    i = state.scores.row.get(account_id)
    return float(state.scores.potential[i]) if i is not None else 0.0


def _sort_key(state: ServingState, status_of: Callable[[str], str], sort: str):
    def info(m: Move):
        return state.accounts.get(m.account_id)

    keys: dict[str, Callable[[Move], object]] = {
        "impact": lambda m: m.impact,
        "potential": lambda m: _potential(state, m.account_id),
        "account": lambda m: (info(m).name if info(m) else m.account_id).lower(),
        "account_id": lambda m: m.account_id,
        "region": lambda m: (info(m).region or "") if info(m) else "",
        "industry": lambda m: (info(m).industry or "") if info(m) else "",
        "tier": lambda m: _tier(state, m.account_id),
        "from_rep": lambda m: _rep_name(state, m.from_rep_id).lower(),
        "to_rep": lambda m: _rep_name(state, m.to_rep_id).lower(),
        "status": lambda m: status_of(m.account_id),
    }
    return keys[sort]


def _matches(state: ServingState, move: Move, q: str) -> bool:
    """Case-insensitive search in the account id and name and both reps' ids and names."""
    info = state.accounts.get(move.account_id)
    hay = [move.account_id, info.name if info else ""]
    for rep in (move.from_rep_id, move.to_rep_id):
        hay += [rep or "", _rep_name(state, rep)]
    return any(q in h.lower() for h in hay if h)


def check_sort(sort: str | None, order: str | None) -> tuple[str, bool]:
    """(column, descending) for `sort` and `order`; BadRequest names the allowed values."""
    sort = sort or "impact"
    if sort not in SORTS:
        raise BadRequest(f"sort {sort!r} is not a column of the queue; use one of {list(SORTS)}.")
    if order not in (None, "asc", "desc"):
        raise BadRequest(f"order {order!r}: use asc or desc.")
    descending = order == "desc" if order else sort in {"impact", "potential"}
    return sort, descending


def select_moves(
    state: ServingState,
    view: DecisionView,
    *,
    plan_approved: bool = False,
    q: str | None = None,
    region: str | None = None,
    rep_id: str | None = None,
    reason_type: str | None = None,
    status: str | None = None,
) -> list[Move]:
    """The plan's moves kept by the queue's search and filters (in plan order)."""
    plan = require_plan(state)
    needle = (q or "").strip().lower()
    out = []
    for move in plan.moves.values():
        if needle and not _matches(state, move, needle):
            continue
        info = state.accounts.get(move.account_id)
        if region and (info is None or info.region != region):
            continue
        if rep_id and rep_id not in (move.from_rep_id, move.to_rep_id):
            continue
        if reason_type and all(r.type != reason_type for r in move.reasons):
            continue
        if status and not _status_kept(view, move.account_id, status, plan_approved):
            continue
        out.append(move)
    return out


def _status_kept(view: DecisionView, account_id: str, status: str, plan_approved: bool) -> bool:
    if status == "undecided":
        return account_id not in view.decisions
    if status == "contested":
        return bool(view.open_contests.get(account_id))
    return move_status(view, account_id, plan_approved) == status


def moves_page(
    state: ServingState,
    view: DecisionView,
    record: PlanRecord | None,
    *,
    sort: str | None = None,
    order: str | None = None,
    offset: int = 0,
    limit: int = 100,
    **filters,
) -> dict:
    """One page of the queue: searched, filtered and sorted on the server; counts of the whole
    plan; the choices the page's filters offer."""
    plan = require_plan(state)
    approved = record is not None and record.status == "approved"
    column, descending = check_sort(sort, order)
    rows = select_moves(state, view, plan_approved=approved, **filters)
    status_of = lambda a: move_status(view, a, approved)  # noqa: E731
    key = _sort_key(state, status_of, column)
    rows.sort(key=lambda m: m.account_id)  # ties: by account id, whatever the order
    rows.sort(key=key, reverse=descending)
    counts = dict.fromkeys(
        ("total", "proposed", "approved", "rejected", "overridden", "kept", "contested"), 0
    )
    counts["total"] = len(plan.moves)
    for account_id in plan.moves:
        counts[status_of(account_id)] += 1
        counts["contested"] += view.open_contests.get(account_id, 0) > 0
    page = []
    for move in rows[offset : offset + limit]:
        out = move_out(state, move, view)
        out["status"] = status_of(move.account_id)
        page.append(out)
    involved = {r for m in plan.moves.values() for r in (m.from_rep_id, m.to_rep_id) if r}
    return {
        "plan_id": plan.plan_id,
        "total": len(rows),
        "moves": page,
        "counts": counts,
        "regions": sorted({a.region for a in state.accounts.values() if a.region}),
        "reps": sorted((rep_ref(state, r) for r in involved), key=lambda r: r["name"]),
        "reason_types": plan.reason_types,
    }


def band_fraction(plan_metrics: dict) -> float:
    """The plan's balance band (a fraction of the mean): its scenario's, else the default."""
    limits = plan_metrics.get("limits") or {}
    band = limits.get("workload_band", limits.get("balance_band"))
    return float(band) if band is not None else float(Scenario().limits.workload_band or 0.10)


def balance_chart(state: ServingState, reps: list[dict], plan_metrics: dict) -> dict:
    """Active reps sorted by their decided figure, departed reps apart, and the target band
    (the mean of active reps as proposed, plus or minus the band) per metric."""
    active = [r for r in reps if _active(state, r["rep_id"])]
    departed = [
        r
        for r in reps
        if not _active(state, r["rep_id"])
        and any((r[k].get("accounts") or 0) > 0 for k in ("before", "proposed", "decided"))
    ]
    band = band_fraction(plan_metrics)
    bands = {}
    for metric in METRICS:
        values = [r["proposed"].get(metric) for r in active]
        values = [v for v in values if v is not None]
        if not values:
            continue
        mean = sum(values) / len(values)
        bands[metric] = {"low": mean * (1 - band), "mean": mean, "high": mean * (1 + band)}
    return {"band": band, "bands": bands, "active": active, "departed": departed}


def _active(state: ServingState, rep_id: str) -> bool:
    rep = state.reps.get(rep_id)
    return bool(rep and rep.active)
