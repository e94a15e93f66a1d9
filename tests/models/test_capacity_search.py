"""Capacity-only (GAP-shaped) path: knapsack bound, reduced-cost fixing, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from models.capacity_exact import CAPACITY_ONLY
from models.capacity_exact.knapsack_bound import applies, knapsack_bound
from models.capacity_exact.reduced_costs import reduced_costs, without_slots
from models.solver import (
    AgentRows,
    AssignmentProblem,
    SolverOptions,
    is_feasible,
    priced_scores,
    solve,
    solve_dual,
)
from tests.models.brute_force import feasible_plans


def tiny_gap(seed: int, n: int = 7, m: int = 3) -> AssignmentProblem:
    rng = np.random.default_rng(seed)
    weight = rng.integers(1, 10, (n, m)).astype(float)
    capacity = np.floor(weight.sum(axis=0) / m * 1.1)
    rows = (AgentRows("capacity", weight, np.full(m, -np.inf), capacity),)
    value = -rng.integers(1, 30, (n, m)).astype(float)
    return AssignmentProblem(np.tile(np.arange(m), (n, 1)), value, m, rows)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_knapsack_bound_and_slot_bounds_hold_for_feasible_plans(seed):
    problem = tiny_gap(seed)
    plans = list(feasible_plans(problem))
    optimum = max(v for _, v in plans)
    dual = solve_dual(problem)
    lp = reduced_costs(problem, dual.prices)
    start = priced_scores(problem, lp.prices).max(axis=1)
    kb = knapsack_bound(problem, start, optimum)
    assert kb.bound >= optimum - 1e-9
    assert kb.bound <= lp.bound + 1e-9  # never weaker than the LP bound it starts from
    rows = np.arange(problem.n_items)
    for choice, value in plans:
        assert (kb.slot_bound[rows, choice] >= value - 1e-7).all()
    # fixing at the optimum keeps every optimal plan
    keep = kb.keep(optimum) & lp.keep(optimum)
    for choice, value in plans:
        if value == optimum:
            assert keep[rows, choice].all()


def test_fixing_drops_slots_but_keeps_the_optimum():
    problem = tiny_gap(5, n=8)
    best_choice, optimum = max(feasible_plans(problem), key=lambda p: p[1])
    lp = reduced_costs(problem, solve_dual(problem).prices)
    kb = knapsack_bound(problem, priced_scores(problem, lp.prices).max(axis=1), optimum)
    smaller = without_slots(problem, kb.keep(optimum) & lp.keep(optimum))
    assert smaller.n_pairs() < problem.n_pairs()
    assert max(v for _, v in feasible_plans(smaller)) == optimum
    assert is_feasible(smaller, best_choice)


def test_only_whole_number_capacity_rows_qualify():
    problem = tiny_gap(0)
    assert applies(problem)
    rows = problem.agent_rows[0]
    banded = AgentRows("capacity", rows.coef, np.ones(problem.n_agents), rows.upper)
    assert not applies(AssignmentProblem(problem.agent, problem.value, 3, (banded,)))
    fractional = AgentRows("capacity", rows.coef * 0.5, rows.lower, rows.upper)
    assert not applies(AssignmentProblem(problem.agent, problem.value, 3, (fractional,)))


def test_two_slots_to_one_agent_leave_the_capacity_path():
    """Review finding: the branch and bound keeps one slot per (agent, item), so an item listing
    an agent twice (here item 0: agent 0 worth 5 or worth 1) must be planned by the generic
    path, which finds the optimum, 8."""
    agent = np.array([[0, 0], [1, -1]])
    value = np.array([[5.0, 1.0], [3.0, 0.0]])
    weight = np.array([[1.0, 1.0], [1.0, 0.0]])
    rows = (AgentRows("capacity", weight, np.full(2, -np.inf), np.ones(2)),)
    problem = AssignmentProblem(agent, value, 2, rows)
    assert not applies(problem)
    options = SolverOptions(time_limit_s=5, deterministic=False, exact_engine=CAPACITY_ONLY)
    solution = solve(problem, options)
    assert solution.objective == 8.0 and solution.status == "optimal"


def test_deterministic_mode_repeats_on_the_capacity_path():
    problem = tiny_gap(11, n=40, m=5)
    options = SolverOptions(
        time_limit_s=5, exact_max_pairs=10**9, lns_steps=30, exact_engine=CAPACITY_ONLY
    )
    first, second = solve(problem, options), solve(problem, options)
    assert (first.choice == second.choice).all()
    assert first.objective == second.objective
    assert first.bound >= first.objective


@pytest.mark.parametrize(
    ("seed", "method"), [(0, "+fixing"), (1, "+bnb+fixing"), (8, "+bnb+fixing")]
)
def test_timed_solve_proves_the_optimum_by_branch_and_bound(seed, method):
    """Seeds whose repaired plan the bound does not prove: branch and bound proves it (seed 0)
    or finds the optimum first and then proves it (seeds 1 and 8)."""
    problem = tiny_gap(seed, n=9)
    optimum = max(value for _, value in feasible_plans(problem))
    options = SolverOptions(
        time_limit_s=20, exact_max_pairs=10**9, deterministic=False, exact_engine=CAPACITY_ONLY
    )
    solution = solve(problem, options)
    assert solution.status == "optimal"
    assert solution.objective == optimum and solution.bound == optimum
    assert is_feasible(problem, solution.choice)
    assert solution.method == "lagrangian+repair" + method


def test_timed_solve_stops_with_a_valid_bound_and_leaves_no_thread_behind(d_type_gap):
    """The whole timed path on a d10200-sized type-D instance that it cannot close in 4 s: a
    feasible plan with a valid bound, and both search threads gone. How fast it stops, which
    phase finds the plan and what the branch and bound achieves in 4 s depend on the machine's
    load: `bench/timed_search.py` measures those."""
    import threading

    from models.capacity_exact import warm_up

    warm_up()
    problem = d_type_gap(1, n=200, m=10)
    before = threading.active_count()
    options = SolverOptions(
        time_limit_s=4, exact_max_pairs=10**9, deterministic=False, exact_engine=CAPACITY_ONLY
    )
    solution = solve(problem, options)
    assert solution.status == "feasible"
    assert is_feasible(problem, solution.choice)
    assert solution.bound >= solution.objective + 1  # whole numbers: at least a unit apart
    assert threading.active_count() == before
