"""What a solve reports besides its plan: typed records of broken rows, widenings and verdicts.

The solver never words them; models.planning.feasibility turns them into sentences that name reps
and limits. Nothing reads text back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Side = Literal["upper", "lower"]
VerdictKind = Literal[
    "diverged",
    "lp_infeasible",
    "cpsat_infeasible",
    "lp_unfinished",
    "lp_rounding_failed",
    "lp_skipped",
]


@dataclass(frozen=True)
class BrokenRow:
    """A row the best attempt broke: its left-hand side ``value`` against ``bound`` on ``side``."""

    row: str
    agent: int | None
    """Agent index; None for a global row."""
    value: float
    side: Side
    bound: float


@dataclass(frozen=True)
class MoreBrokenRows:
    """``count`` further broken rows of the agent rows ``row`` (only the first few are listed)."""

    row: str
    count: int


@dataclass(frozen=True)
class UnassignedItems:
    """``count`` items the best attempt left without an agent."""

    count: int


@dataclass(frozen=True)
class Stretch:
    """One limit that binds at a widening: ``amount`` it widened by, in the row's units."""

    row: str
    agent: int
    """Agent index, -1 for a global row."""
    side: Side
    bound: float
    amount: float

    @property
    def needed(self) -> float:
        """The row's value at the widening: its bound moved out by ``amount``."""
        return self.bound + self.amount if self.side == "upper" else self.bound - self.amount


@dataclass(frozen=True)
class Widening:
    """How far one group of limits must widen, all by the same ``share`` of their own limits,
    while the others hold; ``share`` None when widening that group alone cannot make room."""

    group: Literal["bands", "budget"]
    share: float | None
    stretches: tuple[Stretch, ...] = ()


@dataclass(frozen=True)
class Verdict:
    """Why the solve ended without a plan.

    ``diverged``: the Lagrangian dual diverged; ``lp_infeasible`` / ``cpsat_infeasible``: no plan
    exists (proven by the LP relaxation or by CP-SAT's full search); ``lp_unfinished``: HiGHS
    stopped (``reason``) after ``seconds``; ``lp_rounding_failed``: the LP has a solution of
    ``value`` but rounding it broke a limit; ``lp_skipped``: the problem (``value`` candidate
    pairs) is too large for the LP relaxation to decide within minutes, so it was not tried.
    """

    kind: VerdictKind
    seconds: float = 0.0
    reason: str = ""
    value: float = float("nan")


@dataclass(frozen=True)
class WithinTolerance:
    """The plan misses these rows, each by at most ``rtol`` of its bound (the stated rounding
    tolerance), where no plan keeping them exactly was found: kept, never thrown away."""

    rows: tuple[BrokenRow, ...]
    rtol: float


Finding = BrokenRow | MoreBrokenRows | UnassignedItems | Widening | Verdict | WithinTolerance
