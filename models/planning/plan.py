"""What a plan is: an owner per account, the moves with their reasons, and the solver's verdict."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any, Literal

import pandas as pd

from models.planning.reasons import (
    MoveDetails,
    MoveKind,
    MoveReason,
    MoveReasons,
    move_reason_list,
)

PlanStatus = Literal["optimal", "feasible", "infeasible", "unknown"]


@dataclass(frozen=True)
class Move:
    """One account whose planned owner differs from its current one.

    ``terms`` are its effect in money per year; ``summary`` is them in one line.
    ``kind``: "move" (a choice, counted against the disruption budget), "forced" (the owner leaves
    or breaks a rule, or a lock names another rep) or "new" (the account had no owner).
    """

    account_id: str
    from_rep_id: str | None
    to_rep_id: str
    kind: MoveKind
    terms: MoveReasons
    summary: str
    details: MoveDetails | None = None
    """Revenue with each owner, km, workload and fit drivers (None: a plan folder without them)."""

    @property
    def impact(self) -> float:
        """The change in the plan's objective (money per year) this move brings."""
        return self.terms.objective_delta

    @cached_property  # the service filters every move by reason type on each request
    def reasons(self) -> tuple[MoveReason, ...]:
        """Why, as typed reasons a page can filter on (models.planning.reasons words them)."""
        return move_reason_list(self.kind, asdict(self.terms))


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
