"""A move's figures: revenue with each owner, km and the fit's drivers add up to its terms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.planning import metrics_document, plan_territories, read_plan_folder, write_plan_folder
from models.repfit import fallback_fit, fit_drivers


@pytest.fixture(scope="module")
def plan_and_data():
    from tests.models.conftest import random_instance

    accounts, reps = random_instance(60, 6, seed=4)
    from models.planning import scenario_from_dict

    scenario = scenario_from_dict(
        {"limits": {"workload_band": 0.3, "potential_band": 0.3, "max_moved_share": 0.3}}
    )
    plan = plan_territories(accounts, reps, scenario, fallback_fit, fit_method="fallback")
    assert plan.feasible and plan.moves
    return plan, accounts, reps


def test_revenue_with_each_owner_differs_by_exactly_the_fit_term(plan_and_data):
    plan, accounts, _ = plan_and_data
    potential = dict(zip(accounts["account_id"], accounts["potential"], strict=True))
    for move in plan.moves:
        d = move.details
        assert d is not None
        assert d.revenue_new - d.revenue_now == pytest.approx(move.terms.fit_value, abs=1e-6)
        assert d.potential == pytest.approx(potential[move.account_id])
        assert d.revenue_new == pytest.approx(d.potential * d.fit_new)
        if d.fit_now is not None:
            assert d.revenue_now == pytest.approx(d.potential * d.fit_now)
        # the net the manager reads is the objective's own change
        net = move.terms.fit_value + move.terms.travel_saved - move.terms.continuity_cost
        assert move.impact == pytest.approx(net)


def test_km_saved_times_the_per_km_cost_is_the_travel_term(plan_and_data):
    plan, _, _ = plan_and_data
    for move in plan.moves:
        d = move.details
        if d.km_now is None:
            continue
        assert 2.0 * (d.km_now - d.km_new) == pytest.approx(move.terms.travel_saved, abs=1e-6)


def test_fit_drivers_add_up_to_the_log_fit_change(plan_and_data):
    plan, _, _ = plan_and_data
    checked = 0
    for move in plan.moves:
        d = move.details
        if d.fit_now is None or abs(math.log(d.fit_new / d.fit_now)) < 1e-9:
            continue
        assert sum(d.fit_drivers.values()) == pytest.approx(math.log(d.fit_new / d.fit_now))
        assert set(d.fit_drivers) <= {"tenure", "industry"}
        checked += 1
    assert checked > 0


def test_fallback_drivers_name_industry_and_tenure_exactly():
    from tests.models.conftest import make_accounts, make_reps

    accounts = make_accounts([100.0], industry=["retail"])
    reps = make_reps([1.0, 1.0], tenure=[1.0, 6.0], industries=["", "retail"])
    (found,) = fit_drivers(
        fallback_fit, accounts, reps, np.array([0]), np.array([1]), np.array([0])
    )
    raw_new, raw_old = 1 + 0.03 * 6 + 0.15, 1 + 0.03 * 1
    scale = math.log(raw_new / raw_old) / (raw_new - raw_old)
    assert found["tenure"] == pytest.approx(0.03 * 5 * scale)
    assert found["industry"] == pytest.approx(0.15 * scale)
    (none,) = fit_drivers(
        fallback_fit, accounts, reps, np.array([0]), np.array([1]), np.array([-1])
    )
    assert none == {}


def test_details_round_trip_through_the_plan_folder(plan_and_data, tmp_path):
    plan, _, _ = plan_and_data
    write_plan_folder(plan, tmp_path, metrics_document(plan, "t", {}), "# t\n")
    back = read_plan_folder(tmp_path)
    for a, b in zip(plan.moves, back.plan.moves, strict=True):
        assert b.details is not None
        assert b.details.revenue_now == pytest.approx(a.details.revenue_now, abs=1e-6)
        assert b.details.revenue_new == pytest.approx(a.details.revenue_new, abs=1e-6)
        assert b.details.low_confidence == a.details.low_confidence
        assert b.details.fit_drivers == pytest.approx(a.details.fit_drivers, abs=1e-5)


def test_low_confidence_marks_moves_whose_net_is_within_the_fit_uncertainty(plan_and_data):
    from models.planning.move_details import FIT_UNCERTAINTY

    plan, _, _ = plan_and_data
    for move in plan.moves:
        d = move.details
        within = abs(move.impact) < FIT_UNCERTAINTY * max(d.revenue_new, d.revenue_now)
        assert d.low_confidence == (within and move.kind == "move")
