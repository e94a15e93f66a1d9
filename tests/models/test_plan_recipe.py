"""The plan recipe (data -> scenario -> geocoding -> inputs -> solve -> plan), its plan folder."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.loaders import load_crm
from models.planning import (
    Plan,
    ScenarioError,
    UnknownCityError,
    metrics_document,
    plan_inputs,
    plan_territories,
    read_plan_folder,
    run_plan,
    scenario_for,
    write_plan_folder,
)
from models.repfit import fallback_fit

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "crm_sample"


@pytest.fixture(scope="module")
def tables():
    return load_crm(str(SAMPLE)).tables


@pytest.fixture(scope="module")
def scores(tables) -> pd.DataFrame:
    ids = tables.accounts["account_id"]
    return pd.DataFrame(
        {"account_id": ids, "potential": [1000.0 * (i + 1) for i in range(len(ids))]}
    )


def fallback(_tables, _as_of):
    return fallback_fit, {"method": "fallback", "reason": "test"}


def test_scenario_places_added_reps_by_the_accounts_city_then_the_worlds(tables):
    document = {
        "name": "hires",
        "add_reps": [
            {"rep_id": "N1", "city": "Seattle, WA"},
            {"rep_id": "N2", "city": "Austin, TX"},
            {"rep_id": "N3", "latitude": 1.0, "longitude": 2.0, "city": "Seattle"},
        ],
    }
    scenario = scenario_for(document, tables.accounts, time_limit_s=7)
    seattle, austin, given = scenario.add_reps
    assert (seattle.latitude, seattle.longitude) == (47.6062, -122.3321)  # the account there
    assert austin.latitude == pytest.approx(30.27, abs=0.05)  # geonames' Austin, Texas
    assert austin.longitude == pytest.approx(-97.74, abs=0.05)
    assert (given.latitude, given.longitude) == (1.0, 2.0)  # coordinates win over the city
    assert scenario.solver.time_limit_s == 7 and scenario.name == "hires"


def test_unknown_city_is_a_scenario_error_naming_the_rep(tables):
    with pytest.raises(UnknownCityError, match="added rep N1: city 'Qzxville'") as caught:
        scenario_for({"add_reps": [{"rep_id": "N1", "city": "Qzxville"}]}, tables.accounts)
    assert isinstance(caught.value, ScenarioError)


def test_run_plan_is_the_step_by_step_plan_and_round_trips_its_folder(tables, scores, tmp_path):
    scenario = scenario_for({"add_reps": [{"rep_id": "N1", "city": "Seattle"}]}, tables.accounts)
    plan, setup = run_plan(tables, scores, scenario, fallback)
    inputs = plan_inputs(tables, scores, scenario)
    direct = plan_territories(inputs.accounts, inputs.reps, scenario, fallback_fit)
    assert plan.feasible and dict(plan.rep_by_account) == dict(direct.rep_by_account)
    assert plan.fit_method == "fallback" and setup.fit_info["reason"] == "test"
    assert "N1" in set(setup.inputs.reps["rep_id"])
    document = metrics_document(plan, scenario.name, {"as_of": str(setup.inputs.as_of.date())})
    write_plan_folder(plan, tmp_path, document, "# report\n")
    folder = read_plan_folder(tmp_path)
    back = folder.plan
    assert isinstance(back, Plan) and back.status == plan.status
    assert dict(back.rep_by_account) == dict(plan.rep_by_account)
    assert [(m.account_id, m.from_rep_id, m.to_rep_id, m.kind) for m in back.moves] == [
        (m.account_id, m.from_rep_id, m.to_rep_id, m.kind) for m in plan.moves
    ]
    for read, made in zip(back.moves, plan.moves, strict=True):
        assert read.impact == pytest.approx(made.impact, abs=0.02)
        assert [r.type for r in read.reasons] == [r.type for r in made.reasons]
    assert folder.metrics["as_of"] == document["as_of"] and folder.report_md == "# report\n"
