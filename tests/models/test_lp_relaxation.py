"""The LP relaxation behind the solver's rescue: exact optimum, prices, stretch and rounding."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from models.solver import (
    AgentRows,
    AssignmentProblem,
    BrokenRow,
    GlobalRow,
    MoreBrokenRows,
    Prices,
    SolverOptions,
    Stretch,
    UnassignedItems,
    Verdict,
    Widening,
    dual_bound,
    is_feasible,
    solve,
    solve_lp,
    widening,
)

NO_EXACT = SolverOptions(time_limit_s=20, exact_max_pairs=0, lns_steps=0)


def banded_instance(seed: int, n: int = 300, k: int = 5, m: int = 12) -> AssignmentProblem:
    """Random accounts, +-3% workload bands and a budget that lets 20% of accounts leave slot 0."""
    rng = np.random.default_rng(seed)
    agent = np.stack([rng.choice(m, k, replace=False) for _ in range(n)])
    value = rng.uniform(0, 10, (n, k))
    work = np.repeat(rng.uniform(0.5, 2.0, (n, 1)), k, axis=1)
    target = work[:, 0].sum() / m
    band = AgentRows("workload_band", work, np.full(m, 0.97 * target), np.full(m, 1.03 * target))
    leaves = np.broadcast_to((np.arange(k) > 0).astype(float), (n, k)).copy()
    moved = GlobalRow("moved_accounts", leaves, 0.8 * n)
    return AssignmentProblem(agent, value, m, (band,), (moved,))


def split_pair() -> AssignmentProblem:
    """Two reps, three accounts; A0 and A1 prefer R0, whose capacity holds only one of them."""
    agent = np.array([[0, 1], [0, 1], [0, 1]])
    value = np.array([[10.0, 4.0], [9.0, 5.0], [1.0, 3.0]])
    work = np.ones((3, 2))
    capacity = AgentRows("capacity", work, np.full(2, -np.inf), np.array([1.5, 5.0]))
    return AssignmentProblem(agent, value, 2, (capacity,))


def test_lp_optimum_splits_one_item_and_bounds_every_plan():
    lp = solve_lp(split_pair(), time_limit_s=10)
    assert lp.status == "optimal"
    # R0 takes A0 whole and half of A1: 10 + 0.5 * 9 + 0.5 * 5 + 3
    assert lp.value == pytest.approx(20.0)
    np.testing.assert_allclose(lp.x.sum(axis=1), 1.0)
    assert lp.x[0, 0] == pytest.approx(1.0) and lp.x[1, 0] == pytest.approx(0.5)
    # R0's capacity binds: it is worth (9 - 5) per unit; the Lagrangian at these prices is the LP
    assert lp.prices.agent["capacity"][0] == pytest.approx(4.0)
    assert dual_bound(split_pair(), lp.prices) == pytest.approx(20.0)


def test_widening_says_how_far_the_bands_must_give_and_which_rep_binds():
    # A0 can only go to R0 and A1 only to R1: workloads 1 and 3 cannot both land in [1.8, 2.2]
    agent = np.array([[0, -1], [1, -1]])
    work = np.array([[1.0, 0.0], [3.0, 0.0]])
    band = AgentRows("workload_band", work, np.array([1.8, 1.8]), np.array([2.2, 2.2]))
    problem = AssignmentProblem(agent, np.zeros((2, 2)), 2, (band,))
    assert solve_lp(problem, 10).status == "infeasible"
    found = widening(problem, frozenset({"workload_band"}), 10)
    # each row widens by t of its own limit: R0 needs 1 >= 1.8 (1 - t), t >= 0.444; R1 needs
    # 3 <= 2.2 (1 + t), t >= 0.364; R0's floor binds
    assert found.status == "infeasible" and found.widen == pytest.approx(0.8 / 1.8)
    assert [(s.agent, s.side) for s in found.stretches] == [(0, "lower")]
    assert found.stretches[0].amount == pytest.approx(0.8)
    assert widening(problem, frozenset({"capacity"}), 10).status == "absent"
    capacity = AgentRows("capacity", work, np.full(2, -np.inf), np.array([5.0, 2.5]))
    blocked = AssignmentProblem(agent, np.zeros((2, 2)), 2, (band, capacity))
    assert widening(blocked, frozenset({"workload_band"}), 10).status == "no room"


def test_solver_proves_infeasibility_with_the_lp_when_the_heuristic_fails():
    agent = np.array([[0, -1], [1, -1], [0, 1]])
    work = np.array([[1.0, 0.0], [3.0, 0.0], [0.5, 0.5]])
    band = AgentRows("workload_band", work, np.array([2.0, 2.0]), np.array([2.2, 2.2]))
    problem = AssignmentProblem(agent, np.ones((3, 2)), 2, (band,))
    solution = solve(problem, NO_EXACT)
    assert solution.status == "infeasible"
    assert solution.findings[0] == Verdict("lp_infeasible")
    bands = next(f for f in solution.findings if isinstance(f, Widening) and f.group == "bands")
    assert bands.share == pytest.approx(0.8 / 2.2)  # R1 holds 3: 3 <= 2.2 (1 + t)
    assert [(s.row, s.agent, s.side) for s in bands.stretches] == [("workload_band", 1, "upper")]
    assert bands.stretches[0].needed == pytest.approx(3.0)


def test_a_proven_region_gets_time_to_say_what_must_widen_whatever_its_share(monkeypatch):
    """A split plan's region may get 2 s of the scenario's limit; naming its widenings took
    3.3 s on a 2,858-account region of the 1M world, so they get ``EXPLAIN_MIN_S`` at least."""
    from models.solver import engine

    asked = []
    real = engine._widenings

    def recorded(problem, seconds):
        asked.append(seconds)
        return real(problem, seconds)

    monkeypatch.setattr(engine, "_widenings", recorded)
    agent = np.array([[0, -1], [1, -1], [0, 1]])
    work = np.array([[1.0, 0.0], [3.0, 0.0], [0.5, 0.5]])
    band = AgentRows("workload_band", work, np.array([2.0, 2.0]), np.array([2.2, 2.2]))
    problem = AssignmentProblem(agent, np.ones((3, 2)), 2, (band,))
    for options in (replace(NO_EXACT, time_limit_s=2.0), SolverOptions(time_limit_s=2.0)):
        solution = solve(problem, options)  # the LP proves it, then CP-SAT does
        assert solution.status == "infeasible" and any(
            isinstance(f, Widening) for f in solution.findings
        )
    assert len(asked) == 2 and min(asked) > 2.0 * 5  # well past the region's 2 s
    assert max(asked) <= engine.EXPLAIN_MIN_S


def test_lp_rescue_rounds_to_a_feasible_plan_near_the_lp_bound():
    from models.solver.engine import _lp_rescue

    problem = banded_instance(seed=3)
    n, value = problem.n_items, problem.value
    choice, status, findings, bound = _lp_rescue(
        problem, deadline=1e18, bound=1e12, prices=Prices()
    )
    assert status == "optimal" and findings == [] and bound == 1e12
    assert is_feasible(problem, choice)
    lp_value = solve_lp(problem, 30).value
    assert 0.97 * lp_value <= value[np.arange(n), choice].sum() <= lp_value + 1e-6


def test_solver_plans_from_the_lp_when_the_heuristic_finds_nothing(monkeypatch):
    import models.solver.engine as solver

    # the default world's balanced.yaml is the real case (bench_plan_value); here the heuristic
    # is switched off so the rescue path runs on a small instance
    monkeypatch.setattr(solver, "_heuristic", lambda *args: (None, [Verdict("diverged")], None))
    problem = banded_instance(seed=4)
    heard: list[str] = []
    solution = solver.solve(problem, NO_EXACT, progress=heard.append)
    assert heard[0].startswith("bounding 300 items") and "LP relaxation" in heard[-2]
    assert heard[-1] == f"{solution.status} ({solution.method}) in {solution.seconds:.0f} s"
    assert solution.method.startswith("lp+repair")
    assert solution.status in ("feasible", "optimal")
    assert is_feasible(problem, solution.choice)
    assert solution.objective <= solution.bound + 1e-6


def test_a_problem_too_large_for_the_lp_ends_with_its_broken_rows_not_in_highs(monkeypatch):
    import models.solver.engine as solver
    from models.planning import describe_broken_rows

    # HiGHS ignored its time limit for over 20 minutes on a 2M-pair region; above the size
    # limit the rescue is never entered and the heuristic's best attempt names what broke
    problem = banded_instance(seed=4)
    broken = BrokenRow("workload_band", 2, 5.0, "lower", 6.0)
    monkeypatch.setattr(solver, "_heuristic", lambda *args: (None, [broken], None))
    monkeypatch.setattr(solver, "LP_RESCUE_MAX_PAIRS", problem.n_pairs() - 1)

    def no_lp(*args, **kwargs):
        raise AssertionError("the LP rescue ran on a problem above its size limit")

    monkeypatch.setattr(solver, "_lp_rescue", no_lp)
    heard: list[str] = []
    solution = solver.solve(problem, NO_EXACT, progress=heard.append)
    assert solution.status == "unknown" and (solution.choice < 0).all()
    assert solution.findings == (Verdict("lp_skipped", value=float(problem.n_pairs())), broken)
    assert "too large for the LP relaxation" in heard[-2]
    assert heard[-1].startswith("unknown (lagrangian+repair) in ")
    lines = describe_broken_rows(solution.findings, np.array([f"R{i}" for i in range(12)]), "")
    assert lines[0].startswith(
        "rounding and repair found no plan, and with 1,500 candidate pairs the region is too "
        "large for the LP relaxation"
    )
    assert "`solver.max_accounts_per_region`" in lines[0]
    assert "workload band of rep R2" in lines[1]
    # at the limit itself the rescue runs as before
    monkeypatch.setattr(solver, "LP_RESCUE_MAX_PAIRS", problem.n_pairs())
    with pytest.raises(AssertionError, match="LP rescue ran"):
        solver.solve(problem, NO_EXACT)


def test_widenings_read_as_trade_offs_naming_reps():
    from models.planning import describe_broken_rows

    findings = [
        Widening("bands", 0.25, (Stretch("workload_band", 1, "upper", 2.2, 0.8),)),
        Widening("budget", 1.5, (Stretch("moved_accounts", -1, "upper", 60.0, 90.0),)),
    ]
    lines = describe_broken_rows(findings, np.array(["R0", "R7"]), "")
    assert lines == [
        "keeping the disruption budget, the balance bands must widen: if every band widens by "
        "the same share of its own limit, by at least 25.0%; where that binds:",
        "  rep R7's workload band would need 3.0 (upper limit 2.2)",
        "keeping the balance bands, the disruption budget must grow: if its limits all grow by "
        "the same share, by at least 150.0%; where that binds:",
        "  accounts moved would need 150 (limit 60)",
    ]
    none = describe_broken_rows([Widening("budget", None)], np.array(["R0"]), "")
    assert none[0].startswith("raising the disruption budget alone cannot make room")


def test_broken_rows_and_verdicts_are_worded_from_typed_findings():
    from models.planning import describe_broken_rows

    findings = [
        Verdict("lp_unfinished", seconds=61.4, reason="time limit"),
        UnassignedItems(2),
        BrokenRow("capacity", 1, 12.25, "upper", 10.0),
        MoreBrokenRows("capacity", 4),
        BrokenRow("moved_potential", None, 150.0, "upper", 60.0),
        BrokenRow("some_other_row", 0, 1.0, "upper", 0.0),  # not a planner row: left out
    ]
    assert describe_broken_rows(findings, np.array(["R0", "R7"]), "region west: ") == [
        "region west: the LP relaxation did not finish (time limit after 61 s), so whether these "
        "limits leave room for any plan is unknown.",
        "region west: 2 item(s) without an agent",
        "region west: no plan found keeping capacity of rep R7 within limits (best attempt 12.2 "
        "vs upper 10.0); widen that limit or add capacity nearby.",
        "region west: ... and 4 more capacity row(s)",
        "region west: potential moved = 150 > upper 60; raise the disruption budget",
    ]


def test_column_generation_prices_columns_exactly_even_past_the_lagrangian_cap():
    # agent 1 must take 1000 + 2.5e-4 units: item 0 (1000) plus three small items (1e-4 each);
    # that row's dual is huge, which the Lagrangian's capped priced scores cannot express, so a
    # start without agent 1 on the cheap items must still let them enter
    n, k = 11, 4
    agent = np.tile(np.array([0, 2, 3, 1]), (n, 1))
    value = np.zeros((n, k))
    value[:, 0], value[:, 1], value[:, 2] = 1.0, 0.5, 0.5
    value[1:4, 0] = 2.0
    coef = np.full((n, k), 1e-4)
    coef[0, :] = 1000.0
    lower = np.array([-np.inf, 1000 + 2.5e-4, -np.inf, -np.inf])
    band = AgentRows("workload_band", coef, lower, np.full(4, np.inf))
    moved = GlobalRow("moved_accounts", np.tile([0.0, 0.0, 0.0, 1.0], (n, 1)), 1e6)
    problem = AssignmentProblem(agent, value, 4, (band,), (moved,))
    hint = value.copy()
    hint[:4, 3] = 10.0  # agent 1 among the first columns of items 0-3 only
    full = solve_lp(problem, 30)
    generated = solve_lp(problem, 30, hint=hint)
    assert full.value == pytest.approx(10.5)
    assert generated.value == pytest.approx(full.value) and generated.rounds >= 2


@pytest.mark.parametrize("start", ["priced", "worst"])
def test_column_generation_reaches_the_full_lp_optimum(start):
    from models.solver import priced_scores, solve_dual

    problem = banded_instance(seed=5, k=8)
    full = solve_lp(problem, 30)
    if start == "priced":
        hint = priced_scores(problem, solve_dual(problem, max_iter=20).prices)
    else:
        hint = -problem.value  # start from each item's worst slots: columns must enter
    generated = solve_lp(problem, 30, hint=hint)
    assert full.status == generated.status == "optimal"
    assert generated.value == pytest.approx(full.value, rel=1e-7)
    if start == "worst":
        assert generated.rounds >= 2
