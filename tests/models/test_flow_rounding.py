"""The flow rounding and the least-moves estimate (models.solver.flow_rounding), and the region
budgets raised to it (models.planning.matcher.budgets_within_reach)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from models.planning.matcher import RegionModel, budgets_within_reach
from models.solver import AgentRows, AssignmentProblem, GlobalRow, SolverOptions, engine, solve
from models.solver.core import Prices, agent_loads, objective_value
from models.solver.flow_rounding import flow_rounding, flow_start, least_moves, row_groups


def crowded(n: int = 400, m: int = 4, seed: int = 0) -> AssignmentProblem:
    """Every item prefers agent 0; each agent must take exactly n/m items (unit workload), and
    a capacity row on the same weights (merged with the band into one group)."""
    rng = np.random.default_rng(seed)
    agent = np.tile(np.arange(m), (n, 1))
    value = rng.uniform(0, 10, (n, m))
    value[:, 0] += 20.0
    ones = np.ones((n, m))
    size = n / m
    band = AgentRows("workload_band", ones, np.full(m, size), np.full(m, size))
    capacity = AgentRows("capacity", ones, np.full(m, -np.inf), np.full(m, size + 5))
    return AssignmentProblem(agent, value, m, (capacity, band))


def test_rows_on_the_same_weights_merge_and_per_pair_weights_stay_out():
    problem = crowded()
    (group,) = row_groups(problem)
    assert group.names == ("capacity", "workload_band")
    assert (group.upper == 100).all() and (group.lower == 100).all()
    per_pair = AgentRows("gap", np.arange(1600.0).reshape(400, 4), np.zeros(4), np.full(4, 1e9))
    gap = AssignmentProblem(problem.agent, problem.value, 4, (per_pair,))
    assert row_groups(gap) == []
    assert flow_start(gap, Prices(), problem.value.argmax(axis=1)) is None


def test_flow_rounding_meets_the_rows_at_the_best_value():
    problem = crowded()
    greedy = problem.value.argmax(axis=1)
    band = problem.agent_rows[1]
    assert agent_loads(problem, band, greedy)[0] == 400  # each item alone: all on agent 0
    (group,) = row_groups(problem)
    choice = flow_rounding(problem, problem.value, group)
    assert (agent_loads(problem, band, choice) == 100).all()
    # with unit weights and exact bands this is an assignment problem: 100 seats per agent
    seats = np.repeat(problem.value, 100, axis=1)
    rows, cols = linear_sum_assignment(seats, maximize=True)
    best = float(seats[rows, cols].sum())
    assert objective_value(problem, choice) == pytest.approx(best, rel=1e-4)


def test_flow_start_keeps_its_rows_and_prices_the_others():
    problem = crowded()
    prices = Prices(agent={"workload_band": np.array([1e7, -1e7, 5e6, 0.0])})  # degenerate
    choice = flow_start(problem, prices, problem.value.argmax(axis=1))
    assert (agent_loads(problem, problem.agent_rows[1], choice) == 100).all()
    # the huge band prices were left out: the value is the flow's best, not the prices' pick
    (group,) = row_groups(problem)
    unpriced = flow_rounding(problem, problem.value, group)
    assert objective_value(problem, choice) == pytest.approx(objective_value(problem, unpriced))


def owned_by_first(weights: np.ndarray, lower_second: float) -> AssignmentProblem:
    """Every item owned by agent 0; agent 1 must get at least ``lower_second`` of the weight."""
    n = weights.size
    agent = np.tile(np.arange(2), (n, 1))
    coef = np.repeat(weights[:, None], 2, axis=1)
    band = AgentRows("workload_band", coef, np.array([0.0, lower_second]), np.full(2, np.inf))
    moved = np.tile([0.0, 1.0], (n, 1))
    rows = (GlobalRow("moved_accounts", moved, 1.0), GlobalRow("moved_potential", moved * 7, 7.0))
    return AssignmentProblem(agent, np.ones((n, 2)), 2, (band,), rows)


def test_least_moves_takes_the_largest_items_first():
    problem = owned_by_first(np.arange(1.0, 11.0), 15.0)  # 10 + 9 >= 15: two moves
    moves, potential = least_moves(problem, [g.coef for g in problem.global_rows])
    assert moves == 2 and potential == 14


def test_a_region_budget_below_its_flow_need_is_raised_and_the_note_says_so():
    problem = owned_by_first(np.arange(1.0, 11.0), 15.0)
    region = RegionModel(SimpleNamespace(name="West-2"), None, None, None, problem)
    info = {
        "max_moved_share": 0.1,
        "max_moved_potential_share": 0.1,
        "used_share": 0.1,
        "used_potential_share": 0.1,
        "reps_over_limits": 1,
        "must_shed_accounts": 1,
        "split_transfers": 0,
        "note": "Budget kept.",
    }
    (model,), raised = budgets_within_reach([region], info, n_accounts=10, total_potential=70.0)
    uppers = {g.name: g.upper for g in model.problem.global_rows}
    assert uppers == {"moved_accounts": 3.0, "moved_potential": 21.0}  # 1.5x the need
    assert raised["regions_raised"] == ["West-2"] and raised["flow_need_accounts"] == 2
    assert raised["used_share"] == pytest.approx(0.1 + 2 / 10)
    assert raised["used_potential_share"] == pytest.approx(0.1 + 14 / 70)
    assert "needs 2 moves" in raised["note"] and "2 more accounts" in raised["note"]
    assert raised["note"].startswith("Disruption budget raised (accounts from 10.0% to 30.0%")
    roomy = replace_uppers(problem, 5.0, 50.0)
    region = RegionModel(SimpleNamespace(name="East"), None, None, None, roomy)
    (kept,), same = budgets_within_reach([region], info, n_accounts=10, total_potential=70.0)
    assert [g.upper for g in kept.problem.global_rows] == [5.0, 50.0]
    assert same["regions_raised"] == [] and same["note"] == "Budget kept."


def replace_uppers(problem: AssignmentProblem, moved: float, potential: float):
    a, p = problem.global_rows
    rows = (GlobalRow(a.name, a.coef, moved), GlobalRow(p.name, p.coef, potential))
    return AssignmentProblem(problem.agent, problem.value, 2, problem.agent_rows, rows)


def test_large_problems_start_repair_from_the_flow_when_it_breaks_less(monkeypatch):
    problem = crowded(n=800, m=8, seed=3)
    monkeypatch.setattr(engine, "FLOW_MIN_ITEMS", 0)
    started = []
    real_repair = engine.repair

    def spy(problem_, choice, score, deadline):
        started.append(choice.copy())
        return real_repair(problem_, choice, score, deadline)

    monkeypatch.setattr(engine, "repair", spy)
    solution = solve(problem, SolverOptions(time_limit_s=5, exact_max_pairs=0, lns_steps=0))
    assert solution.status in ("feasible", "optimal")
    band = problem.agent_rows[1]
    assert (agent_loads(problem, band, started[0]) == 100).all()  # the flow met the band
