"""Assemble responses from the in-memory state and the decisions: pure functions, dicts out
(the CSV export is export.py).

Nothing here touches files, the database or the model; service.py fetches those and calls in.
"""

from __future__ import annotations

from serving.decisions import Decision, DecisionSummary, DecisionView, PlanRecord
from serving.errors import NotFound, NotReady
from serving.move_explain import explain_move
from serving.plans import Move, Plan
from serving.store import ScoreEntry, ServingState

STATUS_OF_ACTION = {"approve": "approved", "reject": "rejected", "override": "overridden"}


def require_plan(state: ServingState) -> Plan:
    if state.plan is None:
        raise NotReady(
            "no plan loaded: run `territory plan --out DIR`, then POST /reload with "
            '{"plan_dir": DIR} '
            "(job key) or restart with `territory serve --plan DIR`."
        )
    return state.plan


def rep_ref(state: ServingState, rep_id: str | None) -> dict | None:
    if rep_id is None:
        return None
    rep = state.reps.get(rep_id)
    if rep is None:
        return {"rep_id": rep_id, "name": rep_id, "level": None}
    return {"rep_id": rep.rep_id, "name": rep.name, "level": rep.level}


def potential_of(entry: ScoreEntry | None) -> dict | None:
    if entry is None:
        return None
    return {"value": entry.potential, "percentile": entry.percentile, "tier": entry.tier}


def _decision_out(decision: Decision | None) -> dict | None:
    """What a move shows of its decision (DecisionSummary's fields)."""
    if decision is None:
        return None
    return decision.model_dump(include=set(DecisionSummary.model_fields))


def move_out(state: ServingState, move: Move, view: DecisionView) -> dict:
    """One move as the API shows it: accounts and reps named, decision and contests attached."""
    info = state.accounts.get(move.account_id)
    entry = state.scores.get(move.account_id)
    decision = view.decisions.get(move.account_id)
    return {
        "account_id": move.account_id,
        "account_name": info.name if info else move.account_id,
        "region": info.region if info else None,
        "industry": info.industry if info else None,
        "from_rep": rep_ref(state, move.from_rep_id),
        "to_rep": rep_ref(state, move.to_rep_id),
        "impact": move.impact,
        "potential": entry.potential if entry else None,
        "tier": entry.tier if entry else None,
        "reasons": [{"type": r.type, "text": r.text, "value": r.value} for r in move.reasons],
        "status": STATUS_OF_ACTION[decision.action] if decision else "proposed",
        "decision": _decision_out(decision),
        "open_contests": view.open_contests.get(move.account_id, 0),
        "explained": explain_move(state, move),
    }


def card(
    state: ServingState, account_id: str, entry: ScoreEntry, view: DecisionView | None
) -> dict:
    """The account card: potential, owner and recommendation with reasons, drivers, freshness."""
    info = state.require_account(account_id)
    current = state.current_owner.get(account_id)
    plan = state.plan
    move = plan.moves.get(account_id) if plan else None
    recommended = plan.planned_owner.get(account_id, current) if plan else None
    return {
        "account_id": account_id,
        "name": info.name,
        "industry": info.industry,
        "region": info.region,
        "city": info.city,
        "potential": potential_of(entry),
        "owner": {
            "current": rep_ref(state, current),
            "recommended": rep_ref(state, recommended),
            "move": move_out(state, move, view) if move is not None and view is not None else None,
        },
        "reasons": entry.reasons,
        "narrative": entry.narrative,
        "freshness": {
            "source": "computed on request" if entry.computed_on_request else "precomputed",
            "scores_as_of": state.scores.as_of,
            "scored_at": state.scores.scored_at,
            "scored_with": state.scores.model_uri,
            "data_latest": state.data_latest,
            "plan_id": plan.plan_id if plan else None,
            "plan_created_at": plan.created_at if plan else None,
            "loaded_at": state.loaded_at,
        },
        "model_version": state.model_version,
    }


def rep_view(state: ServingState, rep_id: str, limit: int, view: DecisionView | None) -> dict:
    """A rep's book ranked by potential, and the moves into and out of it."""
    rep = rep_ref(state, state.require_rep(rep_id).rep_id)
    owned = state.book.get(rep_id, [])
    plan = state.plan
    accounts = []
    for account_id in owned[:limit]:
        entry = state.scores.get(account_id)
        move = plan.moves.get(account_id) if plan else None
        accounts.append(
            {
                "account_id": account_id,
                "name": state.accounts[account_id].name
                if account_id in state.accounts
                else account_id,
                "region": state.accounts[account_id].region
                if account_id in state.accounts
                else None,
                "potential": potential_of(entry),
                "reasons": entry.reasons if entry else [],
                "leaving_to": rep_ref(state, move.to_rep_id) if move else None,
            }
        )
    moves = list(plan.moves.values()) if plan and view is not None else []
    joining = [move_out(state, m, view) for m in moves if m.to_rep_id == rep_id]
    leaving = [move_out(state, m, view) for m in moves if m.from_rep_id == rep_id]
    total = sum(state.scores.potential[state.scores.row[a]] for a in owned if a in state.scores.row)
    return {
        "rep": rep,
        "accounts_total": len(owned),
        "potential_total": float(total),
        "accounts": accounts,
        "joining": sorted(joining, key=lambda m: -m["impact"]),
        "leaving": sorted(leaving, key=lambda m: -m["impact"]),
    }


def moves_page(
    state: ServingState,
    view: DecisionView,
    *,
    region=None,
    rep_id=None,
    reason_type=None,
    status=None,
    offset=0,
    limit=100,
) -> dict:
    """The review queue: moves ranked by impact (then potential), filtered, one page of them."""
    plan = require_plan(state)
    ranked = sorted(
        plan.moves.values(),
        key=lambda m: (-m.impact, -_potential(state, m.account_id), m.account_id),
    )
    rows = []
    counts = {
        "total": len(ranked),
        "proposed": 0,
        "approved": 0,
        "rejected": 0,
        "overridden": 0,
        "contested": 0,
    }
    filters = {"region": region, "rep_id": rep_id, "reason_type": reason_type, "status": status}
    for move in ranked:
        decision = view.decisions.get(move.account_id)
        move_status = STATUS_OF_ACTION[decision.action] if decision else "proposed"
        counts[move_status] += 1
        counts["contested"] += view.open_contests.get(move.account_id, 0) > 0
        if _shown(state, view, move, move_status, **filters):
            rows.append(move)
    involved = {r for m in plan.moves.values() for r in (m.from_rep_id, m.to_rep_id) if r}
    return {
        "plan_id": plan.plan_id,
        "total": len(rows),
        "moves": [move_out(state, m, view) for m in rows[offset : offset + limit]],
        "counts": counts,
        "regions": sorted({a.region for a in state.accounts.values() if a.region}),
        "reps": sorted((rep_ref(state, r) for r in involved), key=lambda r: r["name"]),
        "reason_types": plan.reason_types,
    }


def _shown(
    state: ServingState,
    view: DecisionView,
    move: Move,
    move_status: str,
    *,
    region: str | None,
    rep_id: str | None,
    reason_type: str | None,
    status: str | None,
) -> bool:
    """Whether the review queue's filters keep `move`."""
    info = state.accounts.get(move.account_id)
    if region and (info is None or info.region != region):
        return False
    if rep_id and rep_id not in (move.from_rep_id, move.to_rep_id):
        return False
    if reason_type and all(r.type != reason_type for r in move.reasons):
        return False
    if status == "undecided":
        return move.account_id not in view.decisions
    if status == "contested":
        return bool(view.open_contests.get(move.account_id))
    return status not in {"proposed", *STATUS_OF_ACTION.values()} or status == move_status


def _potential(state: ServingState, account_id: str) -> float:
    i = state.scores.row.get(account_id)
    return float(state.scores.potential[i]) if i is not None else 0.0


def require_move(state: ServingState, account_id: str) -> Move:
    plan = require_plan(state)
    move = plan.moves.get(account_id)
    if move is None:
        state.require_account(account_id)
        raise NotFound(
            f"plan {plan.plan_id} proposes no move for account {account_id} (it stays with "
            f"{state.current_owner.get(account_id, 'no owner')}); pick a move from POST /moves."
        )
    return move


def decided_owners(state: ServingState, view: DecisionView) -> dict[str, str]:
    """Today's owners with approved and overridden moves applied (undecided and rejected stay)."""
    owners = dict(state.current_owner)
    for account_id, decision in view.decisions.items():
        if decision.action in {"approve", "override"}:
            owners[account_id] = decision.final_rep_id
    return owners


def rep_balances(state: ServingState, before: dict, proposed: dict, decided: dict) -> list[dict]:
    out = []
    index = state.balance
    for i, rep_id in enumerate(index.rep_ids):
        capacity = index.capacity[i]
        out.append(
            {
                "rep_id": rep_id,
                "name": state.reps[rep_id].name if rep_id in state.reps else rep_id,
                "capacity": None if capacity != capacity else float(capacity),
                "before": before[rep_id],
                "proposed": proposed[rep_id],
                "decided": decided[rep_id],
            }
        )
    return out


def plan_metrics(state: ServingState, view: DecisionView, record: PlanRecord | None) -> dict:
    """The plan's metrics, move counts and each rep's balance: today, as proposed, as decided."""
    plan = require_plan(state)
    decided = state.balance.totals(decided_owners(state, view))
    return {
        "plan_id": plan.plan_id,
        "status": record.status if record else "proposed",
        "created_at": plan.created_at,
        "path": str(plan.path),
        "metrics": plan.metrics,
        "moves": moves_page(state, view, limit=1)["counts"],
        "report_md": plan.report_md,
        "reps": rep_balances(state, state.balance_before, state.balance_proposed, decided),
    }


def status(
    state: ServingState | None, record: PlanRecord | None, problems: list[str], *, ready: bool
) -> dict:
    """What is loaded (model, scores, plan) and what is missing."""
    plan = state.plan if state else None
    return {
        "ready": ready,
        "model_uri": state.model_uri if state else None,
        "model_version": state.model_version if state else None,
        "scores": len(state.scores) if state else 0,
        "scores_path": str(state.scores.path) if state and state.scores.path else None,
        "accounts": len(state.accounts) if state else 0,
        "plan_id": plan.plan_id if plan else None,
        "plan_status": record.status if record else None,
        "problems": problems,
    }
