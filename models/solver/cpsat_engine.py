"""Exact engine: the assignment problem as a CP-SAT model (OR-Tools), for small and GAP instances.

CP-SAT needs integers, so values and row coefficients are scaled and rounded; when the data are
already integral (GAP) nothing is rounded. The answer is re-checked in floating point by the
caller, and its bound is widened by the worst rounding error so it stays a valid bound.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from models.solver.core import AssignmentProblem

VALUE_RESOLUTION = 1e7
COEF_RESOLUTION = 1e6


@dataclass(frozen=True)
class ExactResult:
    """CP-SAT's verdict: status name, the choice (or None), and a bound in objective units."""

    status: str
    choice: np.ndarray | None
    bound: float
    seconds: float


def _integer_scale(values: np.ndarray, resolution: float) -> float:
    """1 when the values are whole numbers already, else a factor that maps the largest to ~res."""
    finite = values[np.isfinite(values)]
    if finite.size == 0 or np.allclose(finite, np.round(finite)) and np.abs(finite).max() < 1e12:
        return 1.0
    return resolution / max(float(np.abs(finite).max()), 1e-12)


def solve_exact(
    problem: AssignmentProblem,
    *,
    time_limit_s: float,
    hint: np.ndarray | None = None,
    workers: int = 1,
    seed: int = 0,
    deterministic_time_s: float | None = None,
) -> ExactResult:
    """Solve with CP-SAT; deterministic for ``workers == 1`` when it finishes within the limit."""
    model = cp_model.CpModel()
    valid = problem.valid
    item_idx, slot_idx = np.nonzero(valid)
    x = [
        model.new_bool_var(f"x{i}_{k}")
        for i, k in zip(item_idx.tolist(), slot_idx.tolist(), strict=True)
    ]
    _add_assignment_rows(model, problem, x, item_idx)
    _add_agent_rows(model, problem, x, item_idx, slot_idx)
    _add_global_rows(model, problem, x, item_idx, slot_idx)
    value_scale = _integer_scale(problem.value[valid], VALUE_RESOLUTION)
    weights = np.round(problem.value[item_idx, slot_idx] * value_scale).astype(np.int64)
    model.maximize(cp_model.LinearExpr.weighted_sum(x, weights.tolist()))
    if hint is not None:
        for var, i, k in zip(x, item_idx, slot_idx, strict=True):
            if hint[i] >= 0:
                model.add_hint(var, bool(hint[i] == k))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit_s)
    solver.parameters.num_workers = int(workers)
    solver.parameters.random_seed = int(seed)
    if deterministic_time_s is not None:
        solver.parameters.max_deterministic_time = float(deterministic_time_s)
    status = solver.solve(model)
    name = solver.status_name(status)
    choice = None
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        chosen = np.array([solver.boolean_value(v) for v in x], dtype=bool)
        choice = np.full(problem.n_items, -1, dtype=np.int64)
        choice[item_idx[chosen]] = slot_idx[chosen]
    rounding = 0.0 if value_scale == 1.0 else 0.5 * problem.n_items / value_scale
    bound = solver.best_objective_bound / value_scale + rounding if choice is not None else np.inf
    return ExactResult(name, choice, float(bound), float(solver.wall_time))


def _add_assignment_rows(model, problem, x, item_idx) -> None:
    """Each item takes exactly one of its slots."""
    starts = np.r_[0, np.flatnonzero(np.diff(item_idx)) + 1, item_idx.size]
    present = np.zeros(problem.n_items, dtype=bool)
    for a, b in zip(starts[:-1], starts[1:], strict=True):
        model.add_exactly_one(x[a:b])
        present[item_idx[a]] = True
    if not present.all():
        model.add_bool_or([])  # an item without candidates: no plan exists


def _scaled_bounds(coef, lower, upper):
    scale = _integer_scale(
        np.r_[coef.ravel(), lower[np.isfinite(lower)], upper[np.isfinite(upper)]], COEF_RESOLUTION
    )
    ints = np.round(coef * scale).astype(np.int64)
    # a hair of slack absorbs float drift in residual bounds (LNS); far below one coefficient unit
    lo = np.where(np.isfinite(lower), np.ceil(lower * scale - 1e-6), -np.inf)
    up = np.where(np.isfinite(upper), np.floor(upper * scale + 1e-6), np.inf)
    return ints, lo, up


def _add_agent_rows(model, problem, x, item_idx, slot_idx) -> None:
    """lower[r] <= sum of coef of the items given to r <= upper[r], per agent row."""
    agents = problem.agent[item_idx, slot_idx]
    order = np.argsort(agents, kind="stable")
    bounds = np.searchsorted(agents[order], np.arange(problem.n_agents + 1))
    for rows in problem.agent_rows:
        coef, lo, up = _scaled_bounds(rows.coef[item_idx, slot_idx], rows.lower, rows.upper)
        for r in range(problem.n_agents):
            members = order[bounds[r] : bounds[r + 1]]
            if members.size == 0:
                continue  # nothing can change this row: the caller's plan decides it
            expr = cp_model.LinearExpr.weighted_sum([x[j] for j in members], coef[members].tolist())
            if np.isfinite(up[r]):
                model.add(expr <= int(up[r]))
            if np.isfinite(lo[r]):
                model.add(expr >= int(lo[r]))


def _add_global_rows(model, problem, x, item_idx, slot_idx) -> None:
    """sum of coef over all chosen slots <= upper, per global row."""
    for row in problem.global_rows:
        if not np.isfinite(row.upper):
            continue
        coef, _, up = _scaled_bounds(
            row.coef[item_idx, slot_idx], np.array([-np.inf]), np.array([row.upper])
        )
        nonzero = np.flatnonzero(coef)
        expr = cp_model.LinearExpr.weighted_sum([x[j] for j in nonzero], coef[nonzero].tolist())
        model.add(expr <= int(up[0]))
