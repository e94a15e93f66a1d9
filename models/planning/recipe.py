"""The plan recipe: data -> scenario -> geocoding -> inputs -> rep fit -> solve -> plan.

One path for every caller: `territory plan`, the service's plan preview and the benchmarks. The
callers only differ in where the data, scores and scenario document come from and in how the rep
fit is chosen (``choose_fit``); they write or show the plan as they need.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from features.geography import city_location
from features.tables import CrmTables
from models.planning.inputs import PlanInputs, plan_inputs
from models.planning.matcher import RegionSolver, plan_territories
from models.planning.plan import Plan
from models.planning.scenario import NewRep, Scenario, ScenarioError, scenario_from_dict
from models.repfit import choose_rep_fit

FitChooser = Callable[[CrmTables, pd.Timestamp], tuple[Any, Mapping[str, Any]]]
"""(tables, plan date) -> (rep fit, its description with at least ``method``)."""


class UnknownCityError(ScenarioError):
    """An added rep's city could not be found."""


@dataclass(frozen=True)
class PlanSetup:
    """Everything the solve needs: the scenario, the matcher frames and the chosen rep fit."""

    scenario: Scenario
    inputs: PlanInputs
    fit: Any
    fit_info: Mapping[str, Any] = field(default_factory=dict)


def resolve_new_reps(scenario: Scenario, accounts: pd.DataFrame) -> Scenario:
    """The scenario with latitude/longitude filled in for every added rep given by city."""
    return replace(scenario, add_reps=tuple(_resolve(r, accounts) for r in scenario.add_reps))


def _resolve(rep: NewRep, accounts: pd.DataFrame) -> NewRep:
    if rep.latitude is not None and rep.longitude is not None or not rep.city:
        return rep
    found = city_location(rep.city, accounts)
    if found is None:
        raise UnknownCityError(
            f"added rep {rep.rep_id}: city {rep.city!r} is not among the "
            "accounts' cities or known world cities; give latitude/longitude."
        )
    return replace(rep, latitude=found[0], longitude=found[1])


def with_time_limit(scenario: Scenario, seconds: float) -> Scenario:
    """The scenario with the solver's wall-clock budget set to ``seconds``."""
    return replace(scenario, solver=replace(scenario.solver, time_limit_s=seconds))


def scenario_for(
    document: Mapping[str, Any] | None,
    accounts: pd.DataFrame,
    *,
    time_limit_s: float | None = None,
) -> Scenario:
    """A scenario document parsed (None: the defaults), its added reps geocoded against
    ``accounts`` and the world's cities, and ``time_limit_s`` applied when given."""
    scenario = Scenario() if document is None else scenario_from_dict(dict(document))
    scenario = resolve_new_reps(scenario, accounts)
    return scenario if time_limit_s is None else with_time_limit(scenario, time_limit_s)


def prepare_plan(
    tables: CrmTables,
    scores: pd.DataFrame,
    scenario: Scenario,
    choose_fit: FitChooser = choose_rep_fit,
) -> PlanSetup:
    """The matcher frames for the scenario's plan date and the rep fit chosen for that date."""
    inputs = plan_inputs(tables, scores, scenario)
    fit, info = choose_fit(tables, inputs.as_of)
    return PlanSetup(scenario, inputs, fit, dict(info))


def plan_from_setup(
    setup: PlanSetup,
    progress: Callable[[str], None] | None = None,
    solve_regions: RegionSolver | None = None,
) -> Plan:
    """The plan for a prepared setup; ``progress`` hears of each solver phase; ``solve_regions``
    solves the regions elsewhere (in parallel on a Dask cluster)."""
    return plan_territories(
        setup.inputs.accounts,
        setup.inputs.reps,
        setup.scenario,
        setup.fit,
        fit_method=setup.fit_info.get("method"),
        progress=progress,
        solve_regions=solve_regions,
    )


def run_plan(
    tables: CrmTables,
    scores: pd.DataFrame,
    scenario: Scenario,
    choose_fit: FitChooser = choose_rep_fit,
    progress: Callable[[str], None] | None = None,
    solve_regions: RegionSolver | None = None,
) -> tuple[Plan, PlanSetup]:
    """The whole recipe after the scenario: inputs, rep fit, solve; the plan and its setup."""
    setup = prepare_plan(tables, scores, scenario, choose_fit)
    return plan_from_setup(setup, progress, solve_regions), setup
