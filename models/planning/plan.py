"""What a plan is: an owner per account, the moves with their reasons, and the solver's verdict."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

PlanStatus = Literal["optimal", "feasible", "infeasible", "unknown"]
MoveKind = Literal["move", "forced", "new"]


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
class Move:
    """One account whose planned owner differs from its current one.

    ``kind``: "move" (a choice, counted against the disruption budget), "forced" (the owner leaves
    or breaks a rule, or a lock names another rep) or "new" (the account had no owner).
    """

    account_id: str
    from_rep: str | None
    to_rep: str
    kind: MoveKind
    reasons: MoveReasons
    summary: str


@dataclass(frozen=True)
class Plan:
    """One owner for every active account, with the solver's verdict and the plan's metrics."""

    status: PlanStatus
    rep_by_account: Mapping[str, str]
    objective: float
    bound: float
    gap: float
    moves: tuple[Move, ...] = ()
    metrics: Mapping[str, Any] = field(default_factory=dict)
    fit_method: str = "fallback"
    solver: str = ""
    conflicts: tuple[str, ...] = ()
    regions: int = 1
    timings: Mapping[str, float] = field(default_factory=dict)
    assignments: pd.DataFrame | None = None
    """Per account: rep_id, current_rep, kind, potential, workload, fit, distance_km, region."""

    @property
    def feasible(self) -> bool:
        return self.status in ("optimal", "feasible")
