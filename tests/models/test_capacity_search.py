"""Capacity-only (GAP-shaped) path: knapsack bound, reduced-cost fixing, determinism."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from models.assignment_core import AgentRows, AssignmentProblem, is_feasible, objective_value
from models.knapsack_bound import applies, knapsack_bound
from models.lagrangian import priced_scores, solve_dual
from models.reduced_costs import reduced_costs, without_slots
from models.solver import SolverOptions, solve


def tiny_gap(seed: int, n: int = 7, m: int = 3) -> AssignmentProblem:
    rng = np.random.default_rng(seed)
    weight = rng.integers(1, 10, (n, m)).astype(float)
    capacity = np.floor(weight.sum(axis=0) / m * 1.1)
    rows = (AgentRows("capacity", weight, np.full(m, -np.inf), capacity),)
    value = -rng.integers(1, 30, (n, m)).astype(float)
    return AssignmentProblem(np.tile(np.arange(m), (n, 1)), value, m, rows)


def every_plan(problem: AssignmentProblem):
    for combo in itertools.product(range(problem.n_agents), repeat=problem.n_items):
        choice = np.array(combo)
        if is_feasible(problem, choice):
            yield choice, objective_value(problem, choice)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_knapsack_bound_and_slot_bounds_hold_for_every_plan(seed):
    problem = tiny_gap(seed)
    plans = list(every_plan(problem))
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
    best_choice, optimum = max(every_plan(problem), key=lambda p: p[1])
    lp = reduced_costs(problem, solve_dual(problem).prices)
    kb = knapsack_bound(problem, priced_scores(problem, lp.prices).max(axis=1), optimum)
    smaller = without_slots(problem, kb.keep(optimum) & lp.keep(optimum))
    assert smaller.n_pairs() < problem.n_pairs()
    assert max(v for _, v in every_plan_within(smaller)) == optimum
    assert is_feasible(smaller, best_choice)


def every_plan_within(problem: AssignmentProblem):
    slots = [np.flatnonzero(problem.valid[i]) for i in range(problem.n_items)]
    for combo in itertools.product(*slots):
        choice = np.array(combo)
        if is_feasible(problem, choice):
            yield choice, objective_value(problem, choice)


def test_only_whole_number_capacity_rows_qualify():
    problem = tiny_gap(0)
    assert applies(problem)
    rows = problem.agent_rows[0]
    banded = AgentRows("capacity", rows.coef, np.ones(problem.n_agents), rows.upper)
    assert not applies(AssignmentProblem(problem.agent, problem.value, 3, (banded,)))
    fractional = AgentRows("capacity", rows.coef * 0.5, rows.lower, rows.upper)
    assert not applies(AssignmentProblem(problem.agent, problem.value, 3, (fractional,)))


def test_deterministic_mode_repeats_on_the_capacity_path():
    problem = tiny_gap(11, n=40, m=5)
    options = SolverOptions(time_limit_s=5, exact_max_pairs=10**9, lns_steps=30)
    first, second = solve(problem, options), solve(problem, options)
    assert (first.choice == second.choice).all()
    assert first.objective == second.objective
    assert first.bound >= first.objective


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mip_beats_a_plan_or_proves_none_is_better(seed):
    from models.mip_engine import solve_mip

    problem = tiny_gap(seed)
    best = max(value for _, value in every_plan(problem))
    found = solve_mip(problem, beat=best - 5, time_limit_s=10)
    assert found.status == "OPTIMAL" and is_feasible(problem, found.choice)
    assert objective_value(problem, found.choice) == best and found.bound >= best - 1e-9
    assert solve_mip(problem, beat=best + 1, time_limit_s=10).status == "INFEASIBLE"
    exact = solve_mip(problem, beat=best, time_limit_s=10)  # the cutoff keeps a plan worth beat
    assert objective_value(problem, exact.choice) == best


def test_mip_cutoff_keeps_a_plan_worth_exactly_beat_with_fractional_values():
    from models.mip_engine import solve_mip

    whole = tiny_gap(4)
    problem = AssignmentProblem(whole.agent, whole.value / 7.0, whole.n_agents, whole.agent_rows)
    best = max(value for _, value in every_plan(problem))
    found = solve_mip(problem, beat=best, time_limit_s=10)
    assert found.status == "OPTIMAL"
    assert objective_value(problem, found.choice) == pytest.approx(best, rel=1e-12)
    assert solve_mip(problem, beat=best + 1e-3, time_limit_s=10).status == "INFEASIBLE"


def _timed_phase(problem, start, deadline_s=30.0):
    """The timed last phase's inputs: fixing at ``start``'s value and a fresh search."""
    import time

    from models import capacity_search as cs

    lp = reduced_costs(problem, solve_dual(problem).prices)
    first = priced_scores(problem, lp.prices).max(axis=1)
    fixing = cs._Fixing(lp, knapsack_bound(problem, first, objective_value(problem, start)), True)
    deadline = time.monotonic() + deadline_s
    search = cs._Search(problem, fixing, deadline, False, seed=0, steps_left=10**9)
    return fixing, search, deadline


def _worst_and_best(problem):
    """The worst feasible plan (a start far from the optimum) and the optimum's value."""
    from models.mip_engine import solve_mip

    best = solve_mip(problem, beat=-1e9, time_limit_s=10).choice
    flipped = AssignmentProblem(problem.agent, -problem.value, problem.n_agents, problem.agent_rows)
    worst = solve_mip(flipped, beat=-1e9, time_limit_s=10).choice
    return worst, objective_value(problem, best)


def test_timed_phase_gets_its_proof_from_highs():
    """Both bounds stay above the optimum here, so only HiGHS can prove it."""
    from models import capacity_search as cs

    problem = tiny_gap(1, n=14, m=4)
    worst, optimum = _worst_and_best(problem)
    fixing, search, deadline = _timed_phase(problem, worst)
    assert fixing.bound > optimum  # the bound alone cannot close it
    result = cs._mip_beside_search(problem, fixing, worst, search, deadline, "start")
    assert result.exact_status == "OPTIMAL"
    assert is_feasible(problem, result.choice)
    assert objective_value(problem, result.choice) == optimum
    assert result.bound == pytest.approx(optimum)
    assert result.method in ("start+highs+fixing", "start+lns+fixing")


def _worker_running(monkeypatch, code: str) -> list:
    """Replace HiGHS's child process by ``python -c code``; returns the runs started."""
    from models import capacity_search as cs
    from models.mip_engine import MipRun

    runs = []

    class Scripted(MipRun):
        WORKER = ("-c", code)

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            runs.append(self)

    monkeypatch.setattr(cs, "MipRun", Scripted)
    return runs


def test_timed_phase_keeps_the_search_plan_when_highs_fails(monkeypatch):
    from models import capacity_search as cs

    runs = _worker_running(monkeypatch, "import sys; sys.exit('HiGHS crashed')")
    problem = tiny_gap(1, n=14, m=4)
    worst, optimum = _worst_and_best(problem)
    fixing, search, deadline = _timed_phase(problem, worst, deadline_s=3.0)
    result = cs._mip_beside_search(problem, fixing, worst, search, deadline, "start")
    assert len(runs) == 1 and runs[0].process.returncode == 1
    assert is_feasible(problem, result.choice)
    assert objective_value(problem, result.choice) > objective_value(problem, worst)
    assert result.exact_status == "FEASIBLE"  # nothing proved it
    assert result.bound == fixing.bound and result.method == "start+lns+fixing"


def test_a_failed_highs_child_is_named_with_what_it_printed():
    from models.mip_engine import MipError, MipRun

    class Crashing(MipRun):
        WORKER = ("-c", "import sys; sys.exit('no licence for this model')")

    run = Crashing(tiny_gap(0), beat=0.0, time_limit_s=5)
    with pytest.raises(MipError, match="code 1: no licence for this model"):
        run.result()
    assert not run.folder.exists()


def test_timed_phase_stops_highs_once_search_proves(monkeypatch):
    """A search proof returns at once and ends the HiGHS process, which would run 60 s more."""
    from models import capacity_search as cs

    runs = _worker_running(monkeypatch, "import time; time.sleep(60)")
    problem = tiny_gap(3, n=9)
    plans = list(every_plan(problem))
    optimum = max(v for _, v in plans)
    worst = min(plans, key=lambda p: p[1])[0]
    fixing, search, deadline = _timed_phase(problem, worst)
    assert fixing.bound == optimum  # reachable by search alone
    result = cs._mip_beside_search(problem, fixing, worst, search, deadline, "start")
    assert runs and all(run.process.returncode == -9 for run in runs)  # killed, not finished
    assert not any(run.folder.exists() for run in runs)
    assert result.exact_status == "OPTIMAL"
    assert objective_value(problem, result.choice) == optimum
    assert result.method == "start+lns+fixing"


def test_timed_phase_restarts_highs_from_each_better_plan(monkeypatch):
    """HiGHS's fixing and cutoff come from the plan it starts from: each search gain stops the
    running HiGHS and starts one from the better plan."""
    from models import capacity_search as cs

    runs = _worker_running(monkeypatch, "import time; time.sleep(60)")
    problem = tiny_gap(1, n=14, m=4)
    worst, _ = _worst_and_best(problem)
    fixing, search, deadline = _timed_phase(problem, worst, deadline_s=8.0)
    monkeypatch.setattr(cs, "HIGHS_RESTART_MIN_S", 1.0)
    monkeypatch.setattr(cs, "LNS_CHUNK_S", 0.3)  # a round that gains ends within a second
    monkeypatch.setattr("models.mip_engine.LATE_S", 0.0)  # the last one hangs
    result = cs._mip_beside_search(problem, fixing, worst, search, deadline, "start")
    beats = [run.beat for run in runs]
    assert len(runs) >= 2
    assert all(run.process.returncode == -9 for run in runs)  # stopped, none finished
    assert beats[0] == objective_value(problem, worst) + 1 and beats[-1] > beats[0]
    assert beats == sorted(beats)  # a second HiGHS on a stall starts from the same plan
    assert is_feasible(problem, result.choice)
    assert objective_value(problem, result.choice) >= runs[-1].beat - 1
    assert result.exact_status == "FEASIBLE"  # the last HiGHS hung and was given up
    assert result.method == "start+lns+fixing"


def test_first_highs_proof_ends_the_race():
    """Two HiGHS runs from one plan: a real one that proves the optimum, and one that hangs;
    the proof comes back without waiting for the other, which is stopped."""
    import time

    from models import capacity_search as cs
    from models.mip_engine import MipRun

    class Hanging(MipRun):
        WORKER = ("-c", "import time; time.sleep(60)")

    problem = tiny_gap(1, n=14, m=4)
    worst, optimum = _worst_and_best(problem)
    fixing, _, _ = _timed_phase(problem, worst)
    beat = objective_value(problem, worst) + 1
    smaller = without_slots(problem, fixing.keep(beat), worst)
    runs = [
        Hanging(smaller, beat=beat, time_limit_s=60),
        MipRun(smaller, beat=beat, time_limit_s=9),
    ]
    started = time.monotonic()
    choice, status, _ = cs._first_proof(problem, fixing, worst, runs)
    assert time.monotonic() - started < 30
    assert status == "OPTIMAL" and objective_value(problem, choice) == optimum
    assert runs[0].process.returncode == -9 and not runs[0].folder.exists()


def test_timed_phase_searches_on_when_highs_cannot_start(monkeypatch):
    import subprocess
    import tempfile
    from pathlib import Path

    from models import capacity_search as cs
    from models.mip_engine import MipError, MipRun

    def no_process(*args, **kwargs):
        raise OSError("Resource temporarily unavailable")

    problem = tiny_gap(1, n=14, m=4)
    worst, _ = _worst_and_best(problem)
    monkeypatch.setattr(subprocess, "Popen", no_process)
    folders = set(Path(tempfile.gettempdir()).glob("territory-highs-*"))
    with pytest.raises(MipError, match="could not start HiGHS's process: Resource"):
        MipRun(problem, beat=0.0, time_limit_s=5)
    assert set(Path(tempfile.gettempdir()).glob("territory-highs-*")) == folders  # none left
    fixing, search, deadline = _timed_phase(problem, worst, deadline_s=2.0)
    result = cs._mip_beside_search(problem, fixing, worst, search, deadline, "start")
    assert is_feasible(problem, result.choice)
    assert objective_value(problem, result.choice) > objective_value(problem, worst)
    assert result.method in ("start+lns+fixing", "start+fixing")


def d_type_gap(seed: int, n: int, m: int) -> AssignmentProblem:
    """A tightly packed instance like OR-Library's type D (cost falls as weight rises,
    capacities at 80% of the average load), which the bounds alone do not close."""
    rng = np.random.default_rng(seed)
    weight = rng.integers(1, 101, (n, m)).astype(float)
    cost = 111 - weight + rng.integers(-10, 11, (n, m))
    capacity = np.floor(0.8 * weight.sum(axis=0) / m)
    rows = (AgentRows("capacity", weight, np.full(m, -np.inf), capacity),)
    return AssignmentProblem(np.tile(np.arange(m), (n, 1)), -cost, m, rows)


def test_timed_solve_ends_by_its_limit_and_leaves_no_highs_behind():
    """The whole timed path (search beside HiGHS children) on an instance it cannot close in
    the limit: a feasible plan with a valid bound, by the limit, every child process gone."""
    import tempfile
    import time
    from pathlib import Path

    import psutil

    problem = d_type_gap(1, n=60, m=5)
    folders = set(Path(tempfile.gettempdir()).glob("territory-highs-*"))
    options = SolverOptions(
        time_limit_s=4, exact_max_pairs=10**9, lns_steps=10**9, deterministic=False
    )
    started = time.monotonic()
    solution = solve(problem, options)
    assert time.monotonic() - started < 4 + 2.0  # HiGHS is killed, not awaited, past the limit
    assert solution.method.endswith("+fixing")  # the capacity-only path, through HiGHS
    assert is_feasible(problem, solution.choice)
    assert solution.bound >= solution.objective - 1e-9
    children = psutil.Process().children(recursive=True)
    assert not [c for c in children if "models.highs_worker" in " ".join(c.cmdline())]
    assert set(Path(tempfile.gettempdir()).glob("territory-highs-*")) == folders
