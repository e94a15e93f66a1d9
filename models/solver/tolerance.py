"""The rounding tolerance: a plan that misses rows only by a stated share of their bounds.

An assignment of whole accounts cannot hit a band's end exactly; where the search finds no plan
that keeps every band, the best attempt is kept (never thrown away) when each row it misses is
named in the tolerance and missed by at most that share of its bound, and nothing else breaks.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from models.solver.core import AssignmentProblem, GlobalRow, agent_loads
from models.solver.findings import BrokenRow, WithinTolerance


def total_violation(problem: AssignmentProblem, choice: np.ndarray) -> float:
    """Sum over agent rows of how far each load lies outside its bounds, relative to the bound."""
    out = 0.0
    for rows in problem.agent_rows:
        load = agent_loads(problem, rows, choice)
        over = np.maximum(load - rows.upper, 0.0) / np.maximum(np.abs(rows.upper), 1e-9)
        under = np.maximum(rows.lower - load, 0.0) / np.maximum(np.abs(rows.lower), 1e-9)
        out += float(np.nan_to_num(over).sum() + np.nan_to_num(under).sum())
    return out


def within_tolerance(
    problem: AssignmentProblem, choice: np.ndarray | None, tolerance: Mapping[str, float]
) -> WithinTolerance | None:
    """The rows ``choice`` misses when it misses only agent rows named in ``tolerance``, each by
    at most that share of its bound; None otherwise (or when nothing is missed)."""
    if choice is None or not tolerance or (choice < 0).any():
        return None
    missed: list[BrokenRow] = []
    for rows in problem.agent_rows:
        load = agent_loads(problem, rows, choice)
        rtol = tolerance.get(rows.name, 0.0)
        for side, bound, gap in (
            ("upper", rows.upper, load - rows.upper),
            ("lower", rows.lower, rows.lower - load),
        ):
            slack = 1e-7 * np.maximum(np.abs(np.nan_to_num(bound, posinf=1, neginf=1)), 1.0)
            broken = np.flatnonzero(gap > slack)
            if broken.size and (gap[broken] > rtol * np.abs(bound[broken]) + slack[broken]).any():
                return None
            missed += [
                BrokenRow(rows.name, int(r), float(load[r]), side, float(bound[r])) for r in broken
            ]
    if any(
        g.upper + 1e-7 * max(abs(g.upper), 1.0) < _global_total(problem, g, choice)
        for g in problem.global_rows
    ):
        return None
    return WithinTolerance(tuple(missed), max(tolerance.values())) if missed else None


def _global_total(problem: AssignmentProblem, row: GlobalRow, choice: np.ndarray) -> float:
    rows = np.arange(problem.n_items)
    return float(row.coef[rows, choice].sum())
