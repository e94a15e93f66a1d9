"""The generic problem under the matcher: assign each item to one candidate agent under side rows.

Items are accounts (or GAP jobs), agents are reps (or GAP agents). Each item has up to K candidate
agents stored as dense ``(n, K)`` arrays padded with ``-1``, so every step stays vectorised. A
solution is one slot index per item. Side constraints come in two kinds:

* ``AgentRows``: one row per agent, ``lower[r] <= sum of coef over items given to r <= upper[r]``
  (capacity, workload band, potential band; GAP capacity with per-pair weights);
* ``GlobalRow``: one row over all items, ``sum of coef <= upper`` (the disruption budget).

The objective is always maximised; GAP costs enter negated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from models.solver.findings import BrokenRow, Finding, MoreBrokenRows, UnassignedItems

Status = Literal["optimal", "feasible", "infeasible", "unknown"]

FEASIBILITY_RTOL = 1e-7
"""Relative slack allowed on a row (of its bound's magnitude), for float round-off only."""


@dataclass(frozen=True)
class AgentRows:
    """One constraint per agent over the coefficients of the items given to it."""

    name: str
    coef: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


@dataclass(frozen=True)
class GlobalRow:
    """One constraint over all items: the sum of the chosen coefficients stays within ``upper``."""

    name: str
    coef: np.ndarray
    upper: float


@dataclass(frozen=True)
class AssignmentProblem:
    """Sparse candidates, their values and the side rows; see the module docstring."""

    agent: np.ndarray
    value: np.ndarray
    n_agents: int
    agent_rows: tuple[AgentRows, ...] = ()
    global_rows: tuple[GlobalRow, ...] = ()

    @property
    def n_items(self) -> int:
        return int(self.agent.shape[0])

    @property
    def valid(self) -> np.ndarray:
        """Mask of real candidate slots (padding is False)."""
        return self.agent >= 0

    def n_pairs(self) -> int:
        return int(self.valid.sum())


@dataclass(frozen=True)
class Prices:
    """Shadow prices in objective units per unit of each row's coefficient.

    ``agent[name][r]`` is positive when agent r's upper bound binds (using it costs) and negative
    when its lower bound binds (filling it pays); ``global_[name]`` is >= 0.
    """

    agent: Mapping[str, np.ndarray] = field(default_factory=dict)
    global_: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Solution:
    """A solver's answer: a slot per item (-1 where none), its value and an upper bound."""

    status: Status
    choice: np.ndarray
    objective: float
    bound: float
    method: str
    seconds: float
    prices: Prices = field(default_factory=Prices)
    findings: tuple[Finding, ...] = ()
    """Without a plan: why (a ``Verdict``), the rows the best attempt broke, how far limits must
    widen (``models.solver.findings``)."""

    @property
    def gap(self) -> float:
        """Relative distance from the objective to the bound (0 = proven optimal)."""
        return relative_gap(self.objective, self.bound)


def relative_gap(objective: float, bound: float) -> float:
    """``(bound - objective) / max(|bound|, |objective|, 1e-9)``, or inf when either is missing."""
    if not (np.isfinite(objective) and np.isfinite(bound)):
        return float("inf")
    return max(0.0, bound - objective) / max(abs(bound), abs(objective), 1e-9)


def chosen(problem: AssignmentProblem, array: np.ndarray, choice: np.ndarray) -> np.ndarray:
    """``array[i, choice[i]]`` per item (0 where no slot is chosen)."""
    rows = np.arange(problem.n_items)
    safe = np.where(choice >= 0, choice, 0)
    return np.where(choice >= 0, array[rows, safe], 0)


def objective_value(problem: AssignmentProblem, choice: np.ndarray) -> float:
    """Total value of a choice."""
    return float(chosen(problem, problem.value, choice).sum())


def agent_loads(problem: AssignmentProblem, rows: AgentRows, choice: np.ndarray) -> np.ndarray:
    """Left-hand side of each agent's row under ``choice``."""
    agents = chosen(problem, problem.agent, choice)
    weights = chosen(problem, rows.coef, choice)
    mask = choice >= 0
    return np.bincount(agents[mask], weights=weights[mask], minlength=problem.n_agents)


def row_violations(
    problem: AssignmentProblem, choice: np.ndarray
) -> list[UnassignedItems | BrokenRow | MoreBrokenRows]:
    """Every broken row as a typed record, the first three per side of each agent row listed
    (empty when the choice is feasible)."""
    broken: list[UnassignedItems | BrokenRow | MoreBrokenRows] = []
    if (choice < 0).any():
        broken.append(UnassignedItems(int((choice < 0).sum())))
    for rows in problem.agent_rows:
        load = agent_loads(problem, rows, choice)
        over = load > rows.upper + _tolerance(rows.upper)
        under = load < rows.lower - _tolerance(rows.lower)
        for r in np.flatnonzero(over)[:3]:
            broken.append(
                BrokenRow(rows.name, int(r), float(load[r]), "upper", float(rows.upper[r]))
            )
        for r in np.flatnonzero(under)[:3]:
            broken.append(
                BrokenRow(rows.name, int(r), float(load[r]), "lower", float(rows.lower[r]))
            )
        extra = int(over.sum() + under.sum()) - min(3, int(over.sum())) - min(3, int(under.sum()))
        if extra > 0:
            broken.append(MoreBrokenRows(rows.name, extra))
    for row in problem.global_rows:
        total = float(chosen(problem, row.coef, choice).sum())
        if total > row.upper + float(_tolerance(np.array([row.upper]))[0]):
            broken.append(BrokenRow(row.name, None, total, "upper", float(row.upper)))
    return broken


def is_feasible(problem: AssignmentProblem, choice: np.ndarray) -> bool:
    """True when every item has an agent and every row holds."""
    return not row_violations(problem, choice)


def _tolerance(bound: np.ndarray) -> np.ndarray:
    finite = np.where(np.isfinite(bound), np.abs(bound), 0.0)
    return FEASIBILITY_RTOL * np.maximum(finite, 1.0)


def with_items(problem: AssignmentProblem, items: np.ndarray) -> AssignmentProblem:
    """The same problem restricted to ``items`` (agent rows keep their full bounds)."""
    return AssignmentProblem(
        agent=problem.agent[items],
        value=problem.value[items],
        n_agents=problem.n_agents,
        agent_rows=tuple(
            AgentRows(r.name, r.coef[items], r.lower, r.upper) for r in problem.agent_rows
        ),
        global_rows=tuple(GlobalRow(g.name, g.coef[items], g.upper) for g in problem.global_rows),
    )
