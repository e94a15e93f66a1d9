"""Reasons for each move, read off the objective's own terms and the limits' shadow prices.

Every word a manager reads about a move is here: the term names, the one-line summary and the
typed reasons the review page filters on. For an account moved from slot ``old`` to slot ``new``:

* fit_value       = potential x (fit[new] - fit[old])       expected revenue gained
* travel_saved    = travel_cost[old] - travel_cost[new]
* continuity_cost = continuity_cost[new]                    revenue lost by the hand-over
* capacity_freed  = price_cap[old] x w - price_cap[new] x w
* balance_restored: the same for the workload and potential band rows
* budget_used     = -(price of each disruption budget row x what this move uses of it)

The first three add up to the change in the plan's objective exactly; with the last three they
add up to the change in the Lagrangian objective the solver weighed. Accounts without an old
slot (the owner left or broke a rule, or there was none) are measured against having no owner.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

from models.solver import AssignmentProblem, Prices

MoveKind = Literal["move", "forced", "new"]
CAPACITY_ROWS = ("capacity",)
BAND_ROWS = ("workload_band", "potential_band")


@dataclass(frozen=True)
class MoveReasons:
    """A move's effect in money per year, split by the objective's own terms.

    ``fit_value + travel_saved - continuity_cost == objective_delta``: the change in the plan's
    objective from giving this account to the new rep instead of keeping it where it was. The
    constraint terms value what the move does for the limits at their shadow prices:
    ``balance_restored`` (workload and potential bands), ``capacity_freed`` (rep capacity) and
    ``budget_used`` (the disruption budget, <= 0); adding them gives ``priced_delta``, the change
    in the Lagrangian objective the solver weighed.
    """

    fit_value: float
    travel_saved: float
    continuity_cost: float
    balance_restored: float
    capacity_freed: float
    budget_used: float

    @property
    def objective_delta(self) -> float:
        return self.fit_value + self.travel_saved - self.continuity_cost

    @property
    def priced_delta(self) -> float:
        return self.objective_delta + self.balance_restored + self.capacity_freed + self.budget_used


@dataclass(frozen=True)
class MoveDetails:
    """A move's absolute figures (money per year, km, workload units) and the fit's drivers."""

    potential: float
    revenue_now: float
    revenue_new: float
    km_now: float | None
    km_new: float | None
    workload: float
    fit_now: float | None
    fit_new: float
    knows_industry_new: bool = False
    fit_drivers: dict[str, float] = field(default_factory=dict, hash=False)
    low_confidence: bool = False

    @property
    def fit_gain(self) -> float:
        return self.revenue_new - self.revenue_now


@dataclass(frozen=True)
class MoveReason:
    """One reason for a move: a type the review page filters on, a sentence, and its money."""

    type: str
    text: str
    value: float | None = None


@dataclass(frozen=True)
class PairTerms:
    """The objective per candidate slot, money per year: value = ev - travel - continuity."""

    expected_value: np.ndarray
    travel_cost: np.ndarray
    continuity_cost: np.ndarray

    @property
    def value(self) -> np.ndarray:
        return self.expected_value - self.travel_cost - self.continuity_cost


def move_reasons(
    problem: AssignmentProblem,
    terms: PairTerms,
    prices: Prices,
    items: np.ndarray,
    new_slot: np.ndarray,
    old_slot: np.ndarray,
) -> list[MoveReasons]:
    """MoveReasons for each (item, new slot, old slot); old slot -1 means no previous owner."""
    has_old = old_slot >= 0
    old = np.where(has_old, old_slot, 0)

    def delta(array: np.ndarray) -> np.ndarray:
        return array[items, new_slot] - np.where(has_old, array[items, old], 0.0)

    fit_value = delta(terms.expected_value)
    travel_saved = -delta(terms.travel_cost)
    continuity = delta(terms.continuity_cost)
    capacity = np.zeros(items.size)
    balance = np.zeros(items.size)
    for rows in problem.agent_rows:
        price = np.asarray(prices.agent.get(rows.name, np.zeros(problem.n_agents)))
        new_use = price[problem.agent[items, new_slot]] * rows.coef[items, new_slot]
        old_use = np.where(has_old, price[problem.agent[items, old]] * rows.coef[items, old], 0.0)
        if rows.name in CAPACITY_ROWS:
            capacity += old_use - new_use
        else:
            balance += old_use - new_use
    budget = np.zeros(items.size)
    for row in problem.global_rows:
        budget -= prices.global_.get(row.name, 0.0) * delta(row.coef)
    return [
        MoveReasons(float(f), float(t), float(c), float(b), float(k), float(u))
        for f, t, c, b, k, u in zip(
            fit_value, travel_saved, continuity, balance, capacity, budget, strict=True
        )
    ]


TERM_WORDS = {
    "fit_value": ("better fit", "weaker fit"),
    "travel_saved": ("travel saved", "more travel"),
    "continuity_cost": ("continuity cost", "continuity cost"),
    "balance_restored": ("balance restored", "balance worsened"),
    "capacity_freed": ("capacity freed", "capacity used"),
    "budget_used": ("disruption budget used", "disruption budget used"),
}
"""Each ``MoveReasons`` term's words when it adds to the move (first) or takes from it."""
TERM_TYPES = {
    "fit_value": "fit",
    "travel_saved": "travel",
    "continuity_cost": "continuity",
    "balance_restored": "balance",
    "capacity_freed": "capacity",
    "budget_used": "disruption",
}
"""The reason type each term gives."""
KIND_REASONS = {
    "forced": "must move: the owner leaves or breaks a rule, or a lock names another rep",
    "new": "had no owner",
}
"""The reason a move's kind gives before its money terms ("move" gives none)."""


def worded_terms(terms: Mapping[str, object]) -> list[tuple[str, str, float]]:
    """(term, words, signed money per year) for each term worth at least 0.5, largest first.

    Continuity is a cost, so it counts negative; missing or non-numeric terms are left out.
    """
    out = []
    for name, (up, down) in TERM_WORDS.items():
        try:
            value = float(terms.get(name))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        signed = -value if name == "continuity_cost" else value
        if math.isnan(signed) or abs(signed) < 0.5:
            continue
        out.append((name, up if signed >= 0 else down, signed))
    return sorted(out, key=lambda t: -abs(t[2]))


def summary(reasons: MoveReasons, to_rep: str, from_rep: str | None) -> str:
    """One line for a manager: the move's terms, largest first, in money per year."""
    shown = worded_terms(asdict(reasons))
    head = f"{from_rep or 'unassigned'} -> {to_rep}: "
    return head + "; ".join(f"{words} {amount:+,.0f}" for _, words, amount in shown)


def reasons_from_terms(terms: Mapping[str, object]) -> tuple[MoveReason, ...]:
    """The money terms as typed reasons, largest first (continuity counts as a cost)."""
    return tuple(
        MoveReason(TERM_TYPES[name], f"{words} {signed:+,.0f} per year", round(signed, 2))
        for name, words, signed in worded_terms(terms)
    )


def move_reason_list(kind: str, terms: Mapping[str, object]) -> tuple[MoveReason, ...]:
    """A move's reasons: its kind's (forced, new) first, then its money terms."""
    head = (MoveReason(kind, KIND_REASONS[kind]),) if kind in KIND_REASONS else ()
    return (*head, *reasons_from_terms(terms))
