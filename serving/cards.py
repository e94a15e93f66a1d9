"""The account card and the score answers: which entry serves an account (precomputed or scored
on request) and how it is shaped. Pure apart from the on-request scorer the state holds.
"""

from __future__ import annotations

from models.explain import currency
from serving import views
from serving.decisions import DecisionView
from serving.errors import NotReady
from serving.freshness import freshness
from serving.reasons import rep_facing_reasons, without_phrases
from serving.store import ScoreEntry, ServingState


def entry_for(state: ServingState, account_id: str) -> ScoreEntry:
    """Precomputed entry, or one computed on request (never for an unknown id)."""
    state.require_account(account_id)
    entry = state.entry(account_id)
    if entry is None:
        entry = state.score_many([account_id]).get(account_id)
        if entry is None:
            raise NotReady(
                f"account {account_id} has no score and cannot be scored from the loaded data "
                f"(created on or after {state.feature_as_of}); "
                "reload after the next scoring job."
            )
    return entry


def card(state: ServingState, account_id: str, view: DecisionView | None) -> tuple[dict, str]:
    """(the card of an account, its source: "precomputed" or "on_request")."""
    entry = entry_for(state, account_id)
    source = "on_request" if entry.computed_on_request else "precomputed"
    out = views.card(state, account_id, entry, view)
    out["freshness"].update(freshness(state))  # ages, the scores' model, warnings
    return out, source


def score_results(
    state: ServingState, account_ids: list[str], *, top_k: int, recompute: bool
) -> dict:
    """Scores (and top_k reasons) of known ids, in request order; unknown ids listed apart."""
    ids = list(dict.fromkeys(account_ids))
    unknown = [a for a in ids if a not in state.accounts]
    entries = state.score_many(
        [a for a in ids if a in state.accounts], top_k=max(top_k, 3), recompute=recompute
    )
    results = [
        _score_out(account_id, entry, top_k)
        for account_id in ids
        if (entry := entries.get(account_id)) is not None
    ]
    return {**state.answered_by(), "results": results, "unknown_ids": unknown}


def _score_out(account_id: str, entry: ScoreEntry, top_k: int) -> dict:
    return {
        "account_id": account_id,
        "potential": entry.potential,
        "percentile": entry.percentile,
        "tier": entry.tier,
        "reasons": entry.reasons[:top_k],
        "narrative": entry.narrative if top_k else "",
        "source": "computed on request" if entry.computed_on_request else "precomputed",
    }


def for_rep(card: dict, rep_id: str | None) -> dict:
    """The card as a rep reads it: no owner deficits among the score drivers or the narrative,
    and the move told as what it means for this rep (the manager's card keeps the full picture)."""
    reasons, dropped = rep_facing_reasons(card["reasons"])
    out = {**card, "reasons": reasons, "narrative": without_phrases(card["narrative"], dropped)}
    move = card["owner"]["move"]
    if move is not None:
        out["owner"] = {**card["owner"], "move": rep_move(move, rep_id)}
    return out


def rep_move(move: dict, rep_id: str | None) -> dict:
    """A move as a rep reads it: what it means for them, the new rep's strengths (never the
    current owner's shortcomings), no optimiser detail."""
    explained = move.get("explained")
    to_rep, from_rep = move["to_rep"], move["from_rep"]
    out = {**move, "for_you": _for_you(move, rep_id)}
    if explained is None:
        return out
    who = "you" if rep_id == to_rep["rep_id"] else to_rep["name"]
    strengths = [
        {**r, "text": f"{who}: " + r["text"].split(": ", 1)[-1]}
        for r in explained["fit_reasons"]
        if r["favours"] == "new"
    ]
    limits = [x for x in explained["limits"] if x["type"] != "balance" or x.get("rep_id") == rep_id]
    rep_explained = {
        k: v for k, v in explained.items() if k not in ("optimiser_detail", "fit_reasons")
    }
    out["explained"] = {**rep_explained, "fit_reasons": strengths, "limits": limits}
    chip = explained["dominant"]
    out["reasons"] = [{"type": chip["type"], "text": chip["text"], "value": None}]
    if from_rep is not None and rep_id == from_rep["rep_id"]:
        out["reasons"].append(
            {"type": "plan", "text": f"proposed for {to_rep['name']}", "value": None}
        )
    return out


def _for_you(move: dict, rep_id: str | None) -> str:
    explained = move.get("explained") or {}
    chip = (explained.get("dominant") or {}).get("text", "the plan's balance")
    to_rep, from_rep = move["to_rep"], move["from_rep"]
    if rep_id == to_rep["rep_id"]:
        revenue = explained.get("revenue_new")
        figure = f" (expected {currency(revenue)} a year with you)" if revenue is not None else ""
        return f"This account is proposed to join your book{figure}; main reason: {chip}."
    if from_rep is not None and rep_id == from_rep["rep_id"]:
        return (
            f"This account is proposed to move to {to_rep['name']}; main reason: {chip}. "
            "Nothing changes until your manager approves it, and you can contest it."
        )
    return f"This account is proposed to move to {to_rep['name']}; main reason: {chip}."


def for_rep_view(body: dict, rep_id: str | None) -> dict:
    """A rep view as the rep reads it: owner deficits out of the score drivers, moves told as
    what they mean for this rep."""
    accounts = [{**a, "reasons": rep_facing_reasons(a["reasons"])[0]} for a in body["accounts"]]
    return {
        **body,
        "accounts": accounts,
        "joining": [rep_move(m, rep_id) for m in body["joining"]],
        "leaving": [rep_move(m, rep_id) for m in body["leaving"]],
    }
