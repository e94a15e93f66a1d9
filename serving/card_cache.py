"""Account cards kept as the JSON bytes /card answers, so a repeated card costs a dict lookup.

A card is built from the loaded state (scores, CRM facts, plan: replaced whole on every reload),
its account's latest decision and open-contest count (the decisions snapshot), and two freshness
ages rounded to 0.01 day. Each cached card keeps that stamp; it is served only while the state is
the same object and the stamp is equal, so a reload, a decision or contest on the account, or an
age ticking over rebuilds it. Nothing here is ever stale by design, not even for a moment.
"""

from __future__ import annotations

import weakref
from datetime import datetime

from serving.decisions import DecisionView
from serving.freshness import age_days
from serving.store import ServingState

MAX_CARDS = 20_000
"""Cards kept per loaded state (~2.5 KB each, ~60 MB in all); past it the cache starts over, so
memory stays flat on any number of accounts and readers."""

CardKey = tuple[str, str, str | None]
"""(account_id, the reader's role, the reader's rep_id): reps read their own version of a card."""


def card_stamp(
    state: ServingState, view: DecisionView | None, account_id: str, now: datetime
) -> tuple:
    """What an account's card depends on besides the state: its decision and open contests in
    the snapshot (or that there is no snapshot), and the scores' and data's ages."""
    decision = view.decisions.get(account_id) if view is not None else None
    return (
        view is None,
        decision.decision_id if decision is not None else None,
        view.open_contests.get(account_id, 0) if view is not None else 0,
        age_days(state.scores.scored_at, now),
        age_days(state.data_latest, now),
    )


class CardCache:
    """Serialized cards by CardKey, each with the stamp it was built under, for one state."""

    def __init__(self, max_cards: int = MAX_CARDS) -> None:
        self.max_cards = max_cards
        # weak: a reloaded-away state (tables, model) is freed at once, not at the next card
        self._state: weakref.ref[ServingState] | None = None
        self._cards: dict[CardKey, tuple[tuple, bytes]] = {}

    def __len__(self) -> int:
        return len(self._cards)

    def get(self, state: ServingState, key: CardKey, stamp: tuple) -> bytes | None:
        """The cached card, or None when it is missing or was built from anything else."""
        if not self._holds(state):
            self._cards = {}  # built from another state: never served again
            return None
        found = self._cards.get(key)
        if found is None or found[0] != stamp:
            return None
        return found[1]

    def put(self, state: ServingState, key: CardKey, stamp: tuple, body: bytes) -> None:
        """Keep `body`; a new state drops every card of the old one."""
        if not self._holds(state) or len(self._cards) >= self.max_cards:
            self._cards = {}  # a new dict, never cleared in place: readers hold the old one
            self._state = weakref.ref(state)
        self._cards[key] = (stamp, body)

    def _holds(self, state: ServingState) -> bool:
        return self._state is not None and self._state() is state
