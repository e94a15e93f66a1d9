"""A manager's view of one rep under the plan: accounts coming in and going out, the net
potential, and accounts, potential, workload and travel today, as proposed and as decided, each
against the target band. Pure: the served state and a DecisionView in, a dict out.
"""

from __future__ import annotations

from serving.decisions import DecisionView, PlanRecord
from serving.store import ServingState
from serving.triage import METRICS, balance_chart, move_status
from serving.views import move_out, plan_metrics, rep_ref, require_plan


def rep_plan(
    state: ServingState,
    view: DecisionView,
    record: PlanRecord | None,
    rep_id: str,
    *,
    limit: int = 200,
) -> dict:
    """Incoming and outgoing moves of `rep_id` (largest impact first, `limit` each) and the rep's
    figures before / proposed / decided with the band each should sit in."""
    rep = state.require_rep(rep_id)
    plan = require_plan(state)
    approved = record is not None and record.status == "approved"
    incoming = [m for m in plan.moves.values() if m.to_rep_id == rep_id]
    outgoing = [m for m in plan.moves.values() if m.from_rep_id == rep_id]
    # moves overridden to this rep come in too, though the plan sent them elsewhere
    overridden_in = [
        plan.moves[a]
        for a, d in view.decisions.items()
        if d.action == "override" and d.final_rep_id == rep_id and a in plan.moves
    ]
    incoming += [m for m in overridden_in if m not in incoming]

    def rows(moves):
        out = []
        for m in sorted(moves, key=lambda m: -m.impact)[:limit]:
            row = move_out(state, m, view)
            row["status"] = move_status(view, m.account_id, approved)
            out.append(row)
        return out

    def potential(moves) -> float:
        rows_ = (state.scores.row.get(m.account_id) for m in moves)
        return sum(float(state.scores.potential[i]) for i in rows_ if i is not None)

    metrics = plan_metrics(state, view, record)
    chart = balance_chart(state, metrics["reps"], plan.metrics)
    mine = next((r for r in metrics["reps"] if r["rep_id"] == rep_id), None)
    figures = {}
    for metric in METRICS:
        if mine is None or mine["before"].get(metric) is None:
            continue
        band = chart["bands"].get(metric)
        figures[metric] = {
            "before": mine["before"][metric],
            "proposed": mine["proposed"][metric],
            "decided": mine["decided"][metric],
            "band_low": band["low"] if band else None,
            "band_high": band["high"] if band else None,
            "in_band_proposed": _within(mine["proposed"][metric], band),
            "in_band_decided": _within(mine["decided"][metric], band),
        }
    proposed_in = [m for m in incoming if m.to_rep_id == rep_id]
    proposed_net = potential(proposed_in) - potential(outgoing)
    return {
        "rep": rep_ref(state, rep_id),
        "active": rep.active,
        "plan_id": plan.plan_id,
        "band": chart["band"],
        "incoming_total": len(incoming),
        "outgoing_total": len(outgoing),
        "incoming": rows(incoming),
        "outgoing": rows(outgoing),
        "net_potential_proposed": proposed_net,
        "net_potential_decided": (
            (mine["decided"]["potential"] - mine["before"]["potential"]) if mine else 0.0
        ),
        "figures": figures,
    }


def _within(value, band) -> bool | None:
    if value is None or band is None:
        return None
    return band["low"] <= value <= band["high"]
