"""The rounding tolerance: a plan missing a band by a hair is kept and named, never thrown away."""

from __future__ import annotations

import numpy as np

from models.solver import (
    AgentRows,
    AssignmentProblem,
    SolverOptions,
    WithinTolerance,
    solve,
    within_tolerance,
)


def _problem(lower: float) -> AssignmentProblem:
    """Two items (1.0 and 0.998) and two agents that must each carry at least ``lower``."""
    agent = np.array([[0, 1], [0, 1]])
    coef = np.array([[1.0, 1.0], [0.998, 0.998]])
    band = AgentRows("workload_band", coef, np.full(2, lower), np.full(2, 1.5))
    return AssignmentProblem(agent, np.array([[2.0, 1.0], [1.0, 2.0]]), 2, (band,))


def test_a_miss_within_the_stated_share_of_the_bound_is_named():
    problem = _problem(0.999)
    found = within_tolerance(problem, np.array([0, 1]), {"workload_band": 0.005})
    assert isinstance(found, WithinTolerance) and found.rtol == 0.005
    (row,) = found.rows
    assert (row.row, row.agent, row.side, row.bound) == ("workload_band", 1, "lower", 0.999)
    assert row.value == 0.998


def test_a_miss_beyond_the_tolerance_or_on_an_unnamed_row_is_not_tolerated():
    problem = _problem(0.999)
    assert within_tolerance(problem, np.array([0, 1]), {"workload_band": 0.0005}) is None
    assert within_tolerance(problem, np.array([0, 1]), {"capacity": 0.5}) is None
    assert within_tolerance(problem, np.array([0, 0]), {"workload_band": 0.005}) is None  # 0 vs 1
    assert within_tolerance(problem, np.array([0, 1]), {}) is None
    assert within_tolerance(_problem(0.99), np.array([0, 1]), {"workload_band": 0.005}) is None


def test_solve_keeps_the_best_attempt_within_tolerance_as_feasible():
    problem = _problem(0.999)  # no plan meets the band exactly: one agent gets 0.998
    options = SolverOptions(time_limit_s=5, exact_max_pairs=0, tolerance={"workload_band": 0.005})
    solution = solve(problem, options)
    assert solution.status == "feasible"
    assert solution.choice.tolist() == [0, 1]
    assert solution.objective == 4.0
    assert "tolerance" in solution.method
    (found,) = solution.findings
    assert isinstance(found, WithinTolerance) and found.rows[0].value == 0.998


def test_without_tolerance_the_same_problem_has_no_plan():
    solution = solve(_problem(0.999), SolverOptions(time_limit_s=5, exact_max_pairs=0))
    assert solution.status in ("infeasible", "unknown")
    assert (solution.choice < 0).all()
