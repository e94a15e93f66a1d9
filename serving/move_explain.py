"""A move in business terms: revenue with each owner, the net, the limits it serves, why the new rep
fits, one dominant reason; the optimiser's shadow prices kept apart in ``optimiser_detail``.

Every figure comes from the plan folder (models.planning's MoveDetails and MoveReasons), so the
terms add up: ``revenue_new - revenue_now == fit_gain`` and
``fit_gain + travel_saved - continuity_cost == net == move.impact``. Pure: dicts out.
"""

from __future__ import annotations

from models.explain import currency
from models.repfit import DRIVER_WORDS
from serving.plans import Move
from serving.store import ServingState

POTENTIAL_NOTE = (
    "Potential is what an average rep is expected to win here; each rep's expected revenue is "
    "potential x that rep's fit, so a strong rep's figure can exceed it (fit {new:.2f}x vs "
    "{now:.2f}x for the current owner)."
)
CHIPS = {
    "fit": "better fit",
    "travel": "shorter travel",
    "balance": "balance",
    "capacity": "capacity",
    "forced": "owner leaving",
    "new": "no owner",
}
"""The dominant-reason chip's words per reason type."""


def explain_move(state: ServingState, move: Move) -> dict | None:
    """The move's explained block (None for a plan folder written without move details)."""
    d = move.details
    if d is None:
        return None
    t = move.terms
    terms = [
        {"term": "fit_gain", "label": "expected revenue gained", "value": round(d.fit_gain, 2)},
        {"term": "travel_saved", "label": "travel cost saved", "value": round(t.travel_saved, 2)},
        {
            "term": "continuity_cost",
            "label": "hand-over risk",
            "value": round(-t.continuity_cost, 2),
        },
    ]
    net = round(sum(x["value"] for x in terms), 2)
    return {
        "potential": round(d.potential, 2),
        "revenue_now": round(d.revenue_now, 2),
        "revenue_new": round(d.revenue_new, 2),
        "fit_gain": round(d.fit_gain, 2),
        "net": net,
        "terms": terms,
        "limits": limits_served(state, move),
        "fit_reasons": fit_reasons(move),
        "dominant": dominant_reason(move),
        "low_confidence": d.low_confidence,
        "note": _note(move),
        "optimiser_detail": {
            "balance_restored": round(t.balance_restored, 2),
            "capacity_freed": round(t.capacity_freed, 2),
            "budget_used": round(t.budget_used, 2),
            "priced_delta": round(t.priced_delta, 2),
            "summary": move.summary,
        },
    }


def _note(move: Move) -> str | None:
    d = move.details
    if d.fit_now is not None and d.revenue_new > d.potential:
        return POTENTIAL_NOTE.format(new=d.fit_new, now=d.fit_now)
    if move.kind == "forced":
        return "The current owner leaves or may not keep it: the plan counts its revenue from zero."
    if move.kind == "new":
        return "The account had no owner: the plan counts its revenue from zero."
    return None


def fit_reasons(move: Move, k: int = 3) -> list[dict]:
    """The fit's top drivers, largest first, worded from the repfit catalogue (manager's view)."""
    d = move.details
    ranked = sorted(d.fit_drivers.items(), key=lambda kv: -abs(kv[1]))[:k]
    total = sum(d.fit_drivers.values())
    out = []
    for driver, share in ranked:
        label, up, _ = DRIVER_WORDS.get(driver, (driver, driver, driver))
        # each driver's part of the fit gain, in proportion to its share of the log change, so
        # the parts of all drivers add up to the fit gain the row shows
        effect = d.fit_gain * share / total if total else 0.0
        text = f"{'new rep' if share > 0 else 'current owner'}: {up}"
        out.append(
            {
                "driver": driver,
                "label": label,
                "text": text,
                "log_share": round(share, 4),
                "revenue_effect": round(effect, 2),
                "favours": "new" if share > 0 else "current",
            }
        )
    return out


def limits_served(state: ServingState, move: Move) -> list[dict]:
    """The limits the move serves, in accounts, km, workload and % of target (not money)."""
    d, t = move.details, move.terms
    out = []
    if d.km_new is not None:
        if d.km_now is not None:
            gap = d.km_now - d.km_new
            way = "closer" if gap >= 0 else "further"
            text = (
                f"{abs(gap):,.0f} km {way}: {d.km_new:,.0f} km from the new rep's base "
                f"(now {d.km_now:,.0f} km)"
            )
        else:
            text = f"{d.km_new:,.0f} km from the new rep's base"
        out.append({"type": "travel", "text": text, "km_now": d.km_now, "km_new": d.km_new})
    for side, rep_id in (("from", move.from_rep_id), ("to", move.to_rep_id)):
        load = _load(state, rep_id)
        if load is None:
            continue
        word = "gives up" if side == "from" else "takes on"
        name = state.reps[rep_id].name if rep_id in state.reps else rep_id
        out.append(
            {
                "type": "balance",
                "rep_id": rep_id,
                "text": f"{name} {word} {d.workload:,.1f} workload units: book at "
                f"{load['before']:.0%} of target today, {load['after']:.0%} after the plan",
                "share_of_target_before": round(load["before"], 4),
                "share_of_target_after": round(load["after"], 4),
                "accounts_before": load["accounts_before"],
                "accounts_after": load["accounts_after"],
            }
        )
    if t.continuity_cost > 0.5 and d.potential > 0:
        share = t.continuity_cost / d.potential
        out.append(
            {
                "type": "continuity",
                "text": f"hand-over risk {currency(t.continuity_cost)} ({share:.1%} of potential)",
            }
        )
    return out


def _load(state: ServingState, rep_id: str | None) -> dict | None:
    """A rep's workload today and after the plan as a share of the rep's target (its capacity's
    share of all workload), with account counts; None when unknown."""
    before, after = state.balance_before.get(rep_id or ""), state.balance_proposed.get(rep_id or "")
    if not before or not after or after.get("workload") is None or state.balance is None:
        return None
    caps = {
        r: c for r, c in zip(state.balance.rep_ids, state.balance.capacity, strict=True) if c == c
    }
    owners = [r for r, v in state.balance_proposed.items() if v["accounts"] > 0]
    total = sum(v["workload"] or 0.0 for v in state.balance_proposed.values())
    cap_total = sum(caps.get(r, 0.0) for r in owners)
    if rep_id not in caps or cap_total <= 0:
        return None
    target = total * caps[rep_id] / cap_total
    if target <= 0:
        return None
    return {
        "before": (before.get("workload") or 0.0) / target,
        "after": after["workload"] / target,
        "accounts_before": before["accounts"],
        "accounts_after": after["accounts"],
    }


def dominant_reason(move: Move) -> dict:
    """The one chip a row shows: why the plan moves this account, in a few words."""
    if move.kind in ("forced", "new"):
        return {"type": move.kind, "text": CHIPS[move.kind]}
    t, d = move.terms, move.details
    sizes = {
        "fit": d.fit_gain if d is not None else t.fit_value,
        "travel": t.travel_saved,
        "balance": t.balance_restored,
        "capacity": t.capacity_freed,
    }
    kind, size = max(sizes.items(), key=lambda kv: kv[1])
    if size <= 0:
        kind = "balance"  # a move that costs money on every term is there for a limit
    return {"type": kind, "text": CHIPS[kind]}
