"""Territory planning: scenario, matcher inputs, candidates, the plan model and its assembly,
plan metrics, move reasons and feasibility diagnoses. Uses ``models.solver`` to solve.
"""

from __future__ import annotations

from models.planning.candidates import unit_vectors
from models.planning.feasibility import describe_broken_rows
from models.planning.inputs import plan_inputs
from models.planning.matcher import build_plan_model, plan_territories, solve_plan_model
from models.planning.metrics import per_rep_totals
from models.planning.plan import Move, MoveReasons, Plan
from models.planning.reasons import summary, worded_terms
from models.planning.scenario import NewRep, Scenario, ScenarioError, scenario_from_dict

__all__ = [
    "Move",
    "MoveReasons",
    "NewRep",
    "Plan",
    "Scenario",
    "ScenarioError",
    "build_plan_model",
    "describe_broken_rows",
    "per_rep_totals",
    "plan_inputs",
    "plan_territories",
    "scenario_from_dict",
    "solve_plan_model",
    "summary",
    "unit_vectors",
    "worded_terms",
]
