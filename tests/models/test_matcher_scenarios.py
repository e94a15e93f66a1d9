"""Matcher: locks, departures, infeasible scenarios explained, reasons that add up, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.geography import haversine_km
from models.planning import ScenarioError, plan_territories, scenario_from_dict


def scenario(limits=None, **extra):
    base = {"workload_band": None, "potential_band": None}
    return scenario_from_dict({"limits": {**base, **(limits or {})}, **extra})


def test_locks_are_kept_and_expired_locks_ignored(mk):
    accounts = mk.accounts([100.0, 100.0], current=["r0", "r0"])
    reps = mk.reps([5.0, 5.0, 5.0])
    fit = mk.fit([[3.0, 1.0, 0.5], [3.0, 1.0, 0.5]])
    locks = [
        {
            "account_id": "a0",
            "rep_id": "r2",
            "reason": "renewal in flight",
            "expires": "2030-01-01",
        },
        {"account_id": "a1", "rep_id": "r1", "reason": "old", "expires": "2020-01-01"},
    ]
    plan = plan_territories(accounts, reps, scenario(locks=locks, as_of="2025-06-30"), fit)
    assert plan.rep_by_account == {"a0": "r2", "a1": "r0"}
    assert any("expired" in note for note in plan.metrics["ignored_locks"])


def test_departing_rep_accounts_move_as_forced(mk):
    accounts = mk.accounts([100.0, 200.0], current=["r0", "r1"])
    reps = mk.reps([5.0, 5.0], active=[False, True])
    plan = plan_territories(accounts, reps, scenario({"max_moved_share": 0.0}))
    assert plan.rep_by_account == {"a0": "r1", "a1": "r1"}
    assert [(m.account_id, m.kind) for m in plan.moves] == [("a0", "forced")]


def test_infeasible_total_capacity_is_explained(mk):
    accounts = mk.accounts([100.0] * 3, workload=[2.0, 2.0, 2.0])
    plan = plan_territories(accounts, mk.reps([2.0, 2.0]), scenario())
    assert plan.status == "infeasible"
    assert plan.rep_by_account == {}
    assert any("total workload 6.0 exceeds total capacity 4.0" in c for c in plan.conflicts)


def test_infeasible_locked_workload_is_explained(mk):
    accounts = mk.accounts([100.0] * 3, workload=[2.0, 2.0, 1.0])
    locks = [{"account_id": "a0", "rep_id": "r0"}, {"account_id": "a1", "rep_id": "r0"}]
    plan = plan_territories(accounts, mk.reps([3.0, 10.0]), scenario(locks=locks))
    assert plan.status == "infeasible"
    assert any("rep r0 has locked workload 4.0 above its capacity 3.0" in c for c in plan.conflicts)


def test_infeasible_travel_limit_is_explained(mk):
    accounts = mk.accounts([100.0, 100.0], positions=[(40.0, -100.0), (48.0, -100.0)])
    reps = mk.reps([5.0], positions=[(40.0, -100.0)])
    plan = plan_territories(accounts, reps, scenario({"max_travel_km": 200}))
    assert plan.status == "infeasible"
    assert any(
        "1 account(s) have no allowed rep (a1)" in c and "max_travel_km=200" in c
        for c in plan.conflicts
    )


def test_infeasible_locks_against_band_are_explained(mk):
    accounts = mk.accounts([100.0] * 4)
    locks = [{"account_id": f"a{i}", "rep_id": "r0"} for i in range(3)]
    plan = plan_territories(
        accounts, mk.reps([5.0, 5.0]), scenario({"workload_band": 0.1}, locks=locks)
    )
    assert plan.status == "infeasible"
    assert any(
        "rep r0 has locked workload 3.0 above the workload band's upper end 2.2" in c
        for c in plan.conflicts
    )


def test_lock_to_departing_rep_is_a_conflict(mk):
    accounts = mk.accounts([100.0])
    reps = mk.reps([5.0, 5.0], active=[True, False])
    plan = plan_territories(accounts, reps, scenario(locks=[{"account_id": "a0", "rep_id": "r1"}]))
    assert plan.status == "infeasible"
    assert any("r1 is inactive or leaves" in c for c in plan.conflicts)


@pytest.mark.slow  # one plan per move's counterfactual (12 s under load)
def test_reasons_add_up_to_each_moves_objective_difference(mk):
    accounts, reps = mk.random(200, 5, seed=1)
    weights = {
        "travel_cost_per_km": 3.0,
        "continuity_cost_share": 0.15,
        "same_industry_continuity_factor": 0.5,
    }
    plan = plan_territories(
        accounts,
        reps,
        scenario_from_dict(
            {
                "limits": {"balance_band": 0.10},
                "weights": weights,
                "solver": {"time_limit_s": 3, "lns_steps": 10},
            }
        ),
    )
    assert plan.feasible and plan.moves
    acc = accounts.set_index("account_id")
    rep = reps.set_index("rep_id")
    from models.repfit import fallback_fit

    def value(account_id: str, rep_id: str, owner: str | None) -> float:
        a, r = acc.index.get_loc(account_id), rep.index.get_loc(rep_id)
        fit = fallback_fit(accounts, reps, np.array([a]), np.array([r]))[0]
        km = haversine_km(
            acc.at[account_id, "latitude"],
            acc.at[account_id, "longitude"],
            rep.at[rep_id, "latitude"],
            rep.at[rep_id, "longitude"],
        )
        knows = acc.at[account_id, "industry"] in rep.at[rep_id, "industries"].split("|")
        moving = owner is not None and owner != rep_id
        continuity = 0.15 * acc.at[account_id, "potential"] * (0.5 if knows else 1.0) * moving
        return acc.at[account_id, "potential"] * fit - 3.0 * float(km) - continuity

    for move in plan.moves:
        why = move.terms
        direct = value(move.account_id, move.to_rep_id, move.from_rep_id) - value(
            move.account_id, move.from_rep_id, move.from_rep_id
        )
        assert why.fit_value + why.travel_saved - why.continuity_cost == pytest.approx(
            why.objective_delta
        )
        assert why.objective_delta == pytest.approx(direct, rel=1e-6, abs=1e-6)
        assert why.priced_delta == pytest.approx(
            why.objective_delta + why.balance_restored + why.capacity_freed + why.budget_used
        )
    total = sum(
        value(a, r, o)
        for a, r, o in zip(
            plan.assignments["account_id"],
            plan.assignments["rep_id"],
            plan.assignments["current_rep"],
            strict=True,
        )
    )
    assert total == pytest.approx(plan.objective, rel=1e-9)


@pytest.mark.slow  # plans twice with the full solver (25 s under load)
def test_same_input_gives_the_same_plan(mk):
    accounts, reps = mk.random(400, 8, seed=2)
    chosen = scenario_from_dict(
        {
            "limits": {"balance_band": 0.05, "max_moved_share": 0.25},
            "solver": {"time_limit_s": 3, "lns_steps": 10},
        }
    )
    first = plan_territories(accounts, reps, chosen)
    second = plan_territories(accounts.copy(), reps.copy(), chosen)
    assert first.feasible
    assert first.rep_by_account == second.rep_by_account
    assert first.objective == second.objective
    assert [m.account_id for m in first.moves] == [m.account_id for m in second.moves]


def test_region_decomposition_plans_each_region(mk):
    accounts, reps = mk.random(300, 6, seed=4)
    reps = reps.assign(region=["west", "west", "west", "east", "east", "east"])
    chosen = scenario_from_dict(
        {"limits": {"balance_band": 0.15}, "solver": {"decompose": "region"}}
    )
    plan = plan_territories(accounts, reps, chosen)
    assert plan.feasible and plan.regions == 2
    owner_region = reps.set_index("rep_id")["region"]
    current = owner_region.reindex(accounts["current_rep"]).to_numpy()
    planned = owner_region.reindex(list(plan.rep_by_account.values())).to_numpy()
    assert (current == planned).all()  # nobody crosses a region border


def test_scenario_errors_name_the_key():
    with pytest.raises(ScenarioError, match="unknown key"):
        scenario_from_dict({"limits": {"balance_bnd": 0.1}})
    with pytest.raises(ScenarioError, match="outside"):
        scenario_from_dict({"limits": {"workload_band": 5}})
    with pytest.raises(ScenarioError, match="no home"):
        scenario_from_dict({"add_reps": [{"name": "Texas hire"}]})
    for bad in (0, -3, 2.5, "all", True):
        with pytest.raises(ScenarioError, match=r"candidates_per_account=.*>= 1 or 'auto'"):
            scenario_from_dict({"solver": {"candidates_per_account": bad}})
    with pytest.raises(ScenarioError, match="candidate_pair_budget=0"):
        scenario_from_dict({"solver": {"candidate_pair_budget": 0}})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"limits": {"balance_band": "ten percent"}},
            "limits.balance_band='ten percent' is not a number; allowed 0 to 1",
        ),
        ({"limits": {"balance_band": -0.1}}, "limits.balance_band=-0.1 is outside [0, 1]"),
        ({"limts": {"balance_band": 0.1}}, "limts: unknown key; did you mean `limits`?"),
        (
            {"limits": {"workload_bnad": 0.1}},
            "limits.workload_bnad: unknown key; did you mean `workload_band`?",
        ),
        ({"solver": {"time_limit_s": "fast"}}, "solver.time_limit_s='fast' is not a number"),
        ({"locks": {"account_id": "A1"}}, "locks: expected a list"),
    ],
)
def test_scenario_problems_name_the_path_value_and_fix(raw, message):
    with pytest.raises(ScenarioError) as error:
        scenario_from_dict(raw)
    assert message in str(error.value)
    assert "Traceback" not in str(error.value)


def test_every_scenario_problem_is_reported_at_once():
    with pytest.raises(ScenarioError) as error:
        scenario_from_dict({"limits": {"balance_band": 2, "max_travel_km": "far"}, "wieghts": {}})
    text = str(error.value)
    assert "the scenario has 3 problem(s)" in text
    assert "limits.balance_band=2 is outside" in text
    assert "limits.max_travel_km='far' is not a number" in text
    assert "wieghts: unknown key; did you mean `weights`?" in text


def test_auto_candidates_list_every_rep_within_the_pair_budget(mk):
    from models.planning import build_plan_model
    from models.repfit import fallback_fit

    accounts, reps = mk.random(300, 40, seed=3)

    def listed(solver):
        sc = scenario(solver=solver)
        model = build_plan_model(accounts, reps, sc, fallback_fit).models[0]
        return (model.candidates.rep >= 0).sum(axis=1)

    assert (listed({}) == 40).all()  # auto, 12,000 pairs: every rep
    # a 3,000-pair budget fits 10 per account, but auto never lists fewer than 20 (plus the
    # owner where it is farther)
    assert set(np.unique(listed({"candidate_pair_budget": 3_000}))) == {20, 21}
    # 9,000 pairs: 30 nearest
    assert set(np.unique(listed({"candidate_pair_budget": 9_000}))) <= {30, 31}
    assert set(np.unique(listed({"candidates_per_account": 5}))) <= {5, 6}
    solver = scenario_from_dict({}).solver
    assert solver.candidates_for(125_000, 250) == 20  # a 1M x 2,000 team's region
    assert solver.candidates_for(20_000, 200) == 100


def test_workload_formula():
    from models.potential import account_workload

    employees = pd.Series([40.0] * 9 + [10_000.0])
    potential = pd.Series(np.arange(1.0, 11.0))
    work = account_workload(employees, potential)
    assert work.iloc[0] == pytest.approx(0.5 + 0.25 * np.log10(41))  # tier C
    assert work.iloc[8] == pytest.approx(0.5 + 0.25 * np.log10(41) + 0.25)  # tier B
    assert work.iloc[9] == pytest.approx(0.5 + 0.25 * np.log10(10_001) + 0.5)  # tier A
    unknown = account_workload(pd.Series([10.0, None, 1000.0]), pd.Series([1.0, 1.0, 1.0]))
    assert unknown.iloc[1] == pytest.approx(0.5 + 0.25 * np.log10(506))  # median staff, tier C


def test_move_summary_words_follow_the_sign():
    from models.planning import MoveReasons, summary

    worse = MoveReasons(100.0, -20.0, 15.0, -240.0, -30.0, -50.0)
    line = summary(worse, "R2", "R1")
    assert line.startswith("R1 -> R2: balance worsened -240; better fit +100")
    assert "more travel -20" in line and "capacity used -30" in line
    assert "continuity cost -15" in line and "disruption budget used -50" in line
    better = summary(MoveReasons(-10.0, 5.0, 0.0, 80.0, 12.0, 0.0), "R3", None)
    assert better == (
        "unassigned -> R3: balance restored +80; capacity freed +12; weaker fit -10; "
        "travel saved +5"
    )
