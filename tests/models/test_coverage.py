"""Band coverage: a remote rep gets enough candidate accounts to reach its band, within rules."""

from __future__ import annotations

import pytest

import models.planning.matcher
from features.geography import haversine_km
from models.planning import build_plan_model, plan_territories, scenario_from_dict
from models.repfit import fallback_fit

# Three reps side by side and one ~255 km east of them; one candidate per account (K = 1), so the
# remote rep r3 is listed only by the one account next to it, half its +-5% band's lower end.
REP_POSITIONS = [(40.0, -100.0), (40.0, -100.5), (40.0, -99.5), (40.0, -97.0)]
ACCOUNT_POSITIONS = [
    (40.0, -100.01),
    (40.0, -99.99),  # r0's
    (40.0, -100.51),
    (40.0, -100.49),  # r1's
    (40.0, -99.51),
    (40.0, -99.45),  # r2's; a5 is the nearest to r3 after a6
    (40.0, -97.01),  # r3's only neighbour
    (40.0, -99.49),  # r2's
]
R3_LOWER = 0.95 * 8 / 4  # +-5% of the mean: 2 accounts of workload 1


def remote_rep(mk):
    accounts = mk.accounts([100.0] * 8, positions=ACCOUNT_POSITIONS)
    reps = mk.reps([10.0] * 4, positions=REP_POSITIONS)
    return accounts, reps, mk.fit([[1.0] * 4] * 8)


def scenario(limits=None, **extra):
    return scenario_from_dict(
        {
            "limits": {"balance_band": 0.05, **(limits or {})},
            "weights": {"travel_cost_per_km": 1.0},  # the cheapest hand-over is unique
            "solver": {"candidates_per_account": 1},
            **extra,
        }
    )


def listing(accounts, reps, scn, rep_id):
    """Accounts that list ``rep_id`` as a candidate (one region here)."""
    (region,) = build_plan_model(accounts, reps, scn, fallback_fit).models
    rep = list(reps["rep_id"]).index(rep_id)
    rows = (region.candidates.rep == rep).any(axis=1)
    return sorted(accounts["account_id"].to_numpy()[region.region.accounts[rows]])


def test_remote_rep_band_is_unreachable_with_k_nearest_alone(mk, monkeypatch):
    accounts, reps, fit = remote_rep(mk)
    monkeypatch.setattr(models.planning.matcher, "cover_bands", lambda candidates, *_: candidates)
    plan = plan_territories(accounts, reps, scenario(), fit)
    assert plan.status == "infeasible"
    assert any("rep(s) r3 can reach only 1.0 workload" in c for c in plan.conflicts)


def test_remote_rep_reaches_its_band_after_coverage(mk):
    accounts, reps, fit = remote_rep(mk)
    plan = plan_territories(accounts, reps, scenario(), fit)
    assert plan.status in {"optimal", "feasible"}
    assert list(plan.conflicts) == []
    per_rep = plan.metrics["after"]["per_rep"]
    assert per_rep["r3"]["workload"] == pytest.approx(2.0)
    assert R3_LOWER <= per_rep["r3"]["workload"] <= 1.05 * 2
    assert per_rep["r3"]["potential"] == pytest.approx(200.0)
    assert [per_rep[r]["workload"] for r in ("r0", "r1", "r2")] == pytest.approx([2.0] * 3)
    assert plan.rep_by_account["a6"] == "r3"
    assert plan.rep_by_account["a5"] == "r3"  # the account nearest to r3 after a6
    assert listing(accounts, reps, scenario(), "r3") == ["a4", "a5", "a6", "a7"]


def test_coverage_skips_locked_accounts(mk):
    accounts, reps, fit = remote_rep(mk)
    locks = [{"account_id": "a5", "rep_id": "r2"}]
    plan = plan_territories(accounts, reps, scenario(locks=locks), fit)
    assert plan.status in {"optimal", "feasible"}
    assert plan.rep_by_account["a5"] == "r2"
    assert plan.rep_by_account["a7"] == "r3"  # the next nearest unlocked account
    assert plan.metrics["after"]["per_rep"]["r3"]["workload"] == pytest.approx(2.0)
    assert listing(accounts, reps, scenario(locks=locks), "r3") == ["a1", "a4", "a6", "a7"]


def test_travel_limit_that_isolates_a_rep_is_still_explained(mk):
    accounts, reps, fit = remote_rep(mk)
    assert haversine_km(40.0, -99.45, 40.0, -97.0) > 200  # every other account is out of reach
    plan = plan_territories(accounts, reps, scenario({"max_travel_km": 100}), fit)
    assert plan.status == "infeasible"
    assert any(
        "rep(s) r3 can reach only 1.0 workload" in c and "max_travel_km" in c
        for c in plan.conflicts
    )


def test_reps_short_together_are_listed_further_until_a_flow_fills_them():
    # r0 and r1 share ten accounts (workload 1) and each needs 6: each alone is listed by
    # accounts holding 10 >= its lower end, together they need 12; r2, a degree east, has ten
    # accounts and needs 2, so two of its accounts nearest the pair must list them as well
    import numpy as np
    import pandas as pd

    from models.planning.candidates import Candidates, Suitability
    from models.planning.coverage import BandNeed, _flow_shortfall, cover_flows

    west = [(40.0, -100.0 + 0.01 * i) for i in range(10)]
    east = [(40.0, -99.0 + 0.01 * i) for i in range(10)]
    accounts = pd.DataFrame(
        {"latitude": [p[0] for p in west + east], "longitude": [p[1] for p in west + east]}
    )
    reps = pd.DataFrame({"latitude": [40.0, 40.0, 40.0], "longitude": [-100.0, -99.9, -98.9]})
    rep = np.array([[0, 1]] * 10 + [[2, -1]] * 10)
    candidates = Candidates(rep, np.zeros(rep.shape), np.full(20, -1))
    suitability = Suitability(
        None,
        np.zeros(20, bool),
        np.zeros(3, bool),
        np.zeros((3, 1), bool),
        np.zeros(20, int),
        False,
    )
    need = BandNeed(np.ones(20), np.array([6.0, 6.0, 2.0]), np.array([10.0, 10.0, 10.0]))
    assert _flow_shortfall(rep, need).sum() == pytest.approx(2.0)
    covered = cover_flows(candidates, accounts, reps, suitability, np.zeros(20, bool), [need])
    assert _flow_shortfall(covered.rep, need).sum() == 0.0
    np.testing.assert_array_equal(covered.rep[:, :2][:10], rep[:10])  # old pairs stay put
    added = np.flatnonzero((covered.rep[10:, 1:] >= 0).any(axis=1)) + 10
    assert 2 <= added.size < 10  # the nearest ones: a prefix of the east accounts
    assert added.tolist() == list(range(10, 10 + added.size))
    # a lock keeps an account's single candidate: with every east account locked, no room
    locked = np.r_[np.zeros(10, bool), np.ones(10, bool)]
    kept = cover_flows(candidates, accounts, reps, suitability, locked, [need])
    assert _flow_shortfall(kept.rep, need).sum() == pytest.approx(2.0)
