"""Matcher: hand-checkable optima and every constraint bound exercised."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from models.planning import plan_territories, scenario_from_dict

FIT_3X3 = [[1.05, 1.3, 0.8], [1.2, 1.0, 1.1], [0.9, 1.4, 1.0]]


def scenario(**limits):
    base = {"workload_band": None, "potential_band": None}
    return scenario_from_dict(
        {"limits": {**base, **limits}, "weights": {"travel_cost_per_km": 0.0}}
    )


def test_3x3_known_optimum(mk):
    potential = [100.0, 200.0, 300.0]
    accounts = mk.accounts(potential)
    reps = mk.reps([1.0, 1.0, 1.0])
    best = max(
        itertools.permutations(range(3)),
        key=lambda p: sum(potential[a] * FIT_3X3[a][r] for a, r in enumerate(p)),
    )
    expected = sum(potential[a] * FIT_3X3[a][r] for a, r in enumerate(best))
    plan = plan_territories(accounts, reps, scenario(), mk.fit(FIT_3X3))
    assert best == (0, 2, 1)
    assert plan.status == "optimal"
    assert plan.rep_by_account == {"a0": "r0", "a1": "r2", "a2": "r1"}
    assert plan.objective == pytest.approx(expected)
    assert plan.bound >= plan.objective - 1e-6
    assert plan.gap == pytest.approx(0.0, abs=1e-9)
    assert plan.fit_method == "table"


def test_capacity_bound(mk):
    accounts = mk.accounts([100.0, 300.0, 200.0])
    reps = mk.reps([1.0, 5.0])
    fit = mk.fit([[2.0, 1.0]] * 3)  # everyone wins more with r0, who has room for one
    plan = plan_territories(accounts, reps, scenario(), fit)
    assert plan.rep_by_account == {"a0": "r1", "a1": "r0", "a2": "r1"}
    assert plan.metrics["after"]["per_rep"]["r0"]["workload"] == pytest.approx(1.0)


def test_workload_band_bound(mk):
    accounts = mk.accounts([100.0] * 4)
    reps = mk.reps([10.0, 10.0])
    fit = mk.fit([[2.0, 1.0]] * 4)
    unbanded = plan_territories(accounts, reps, scenario(), fit)
    banded = plan_territories(accounts, reps, scenario(workload_band=0.10), fit)
    assert list(unbanded.rep_by_account.values()).count("r0") == 4
    assert list(banded.rep_by_account.values()).count("r0") == 2  # 2 +- 10% leaves exactly 2


def test_potential_band_bound(mk):
    accounts = mk.accounts([400.0, 100.0, 100.0, 100.0, 100.0])
    reps = mk.reps([10.0, 10.0])
    fit = mk.fit([[1.5, 1.0]] * 5)
    plan = plan_territories(accounts, reps, scenario(potential_band=0.05), fit)
    per_rep = plan.metrics["after"]["per_rep"]
    assert per_rep["r0"]["potential"] == pytest.approx(400.0)  # 400 each, the only balanced split
    assert per_rep["r1"]["potential"] == pytest.approx(400.0)


def test_disruption_budget_bound(mk):
    accounts = mk.accounts([100.0, 400.0, 200.0, 300.0], current=["r1"] * 4)
    reps = mk.reps([10.0, 10.0])
    fit = mk.fit([[2.0, 1.0]] * 4)
    plan = plan_territories(accounts, reps, scenario(max_moved_share=0.25), fit)
    moved = [m for m in plan.moves if m.kind == "move"]
    assert [m.account_id for m in moved] == ["a1"]  # one move allowed: the biggest gain
    assert plan.metrics["after"]["accounts_moved"] == 1


def test_disruption_budget_on_potential(mk):
    accounts = mk.accounts([100.0, 400.0, 200.0, 300.0], current=["r1"] * 4)
    reps = mk.reps([10.0, 10.0])
    plan = plan_territories(
        accounts, reps, scenario(max_moved_potential_share=0.35), mk.fit([[2.0, 1.0]] * 4)
    )
    assert plan.metrics["after"]["potential_moved"] <= 0.35 * 1000 + 1e-9
    assert plan.metrics["after"]["potential_moved"] == pytest.approx(300.0)  # 300 beats 200 + 100


def test_travel_limit_bound(mk):
    accounts = mk.accounts([100.0], positions=[(40.0, -100.0)])
    reps = mk.reps([5.0, 5.0], positions=[(45.0, -100.0), (40.1, -100.0)])  # r0 ~556 km away
    fit = mk.fit([[3.0, 1.0]])
    free = plan_territories(accounts, reps, scenario(), fit)
    limited = plan_territories(accounts, reps, scenario(max_travel_km=100), fit)
    assert free.rep_by_account == {"a0": "r0"}
    assert limited.rep_by_account == {"a0": "r1"}
    assert limited.metrics["after"]["travel_km_total"] < 20


def test_expertise_rule_bound(mk):
    accounts = mk.accounts([1000.0, 10.0], industry=["energy", "energy"])
    reps = mk.reps([5.0, 5.0, 5.0], tenure=[1.0, 1.0, 8.0], industries=["", "energy", ""])
    fit = mk.fit([[3.0, 1.0, 1.0], [3.0, 1.0, 1.0]])  # the junior generalist fits best
    rule = {"potential_threshold": 500.0, "min_tenure_years": 3.0}
    plan = plan_territories(accounts, reps, scenario(expertise=rule), fit)
    assert plan.rep_by_account["a0"] in {"r1", "r2"}  # an expert or a veteran
    assert plan.rep_by_account["a1"] == "r0"  # below the threshold: the rule does not apply
    strict = plan_territories(
        accounts, reps, scenario(expertise={**rule, "industry_match": False}), fit
    )
    assert strict.rep_by_account["a0"] == "r2"


def test_objective_never_exceeds_bound_and_status_is_consistent(mk):
    accounts, reps = mk.random(300, 6, seed=3)
    plan = plan_territories(
        accounts,
        reps,
        scenario_from_dict(
            {
                "limits": {"balance_band": 0.10, "max_moved_share": 0.3},
                "solver": {"time_limit_s": 3, "lns_steps": 10},
            }
        ),
    )
    assert plan.status in {"optimal", "feasible"}
    assert plan.objective <= plan.bound + 1e-6 * abs(plan.bound)
    assert 0.0 <= plan.gap < 0.02
    after = plan.metrics["after"]
    assert after["accounts_moved"] <= 0.3 * 300
    loads = np.array([v["workload"] for v in after["per_rep"].values()])
    target = accounts["workload"].sum() / 6
    assert loads.min() >= 0.9 * target - 1e-6
    assert loads.max() <= 1.1 * target + 1e-6
