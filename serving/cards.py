"""The account card and the score answers: which entry serves an account (precomputed or scored
on request) and how it is shaped. Pure apart from the on-request scorer the state holds.
"""

from __future__ import annotations

from serving import views
from serving.decisions import DecisionView
from serving.errors import NotReady
from serving.freshness import freshness
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
