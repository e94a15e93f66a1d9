"""Territory planning: scenario, matcher inputs, candidates, the plan model and its assembly,
plan metrics, move reasons, feasibility diagnoses, the plan folder (one schema, one writer, one
reader) and the plan recipe (data -> scenario -> geocoding -> inputs -> solve -> plan). Uses
``models.solver`` to solve.
"""

from __future__ import annotations

from models.planning.candidates import unit_vectors
from models.planning.feasibility import describe_broken_rows
from models.planning.inputs import plan_inputs, rep_frame
from models.planning.matcher import build_plan_model, plan_territories, solve_plan_model
from models.planning.metrics import per_rep_totals
from models.planning.plan import Move, Plan
from models.planning.plan_files import (
    SCHEMA_VERSION,
    PlanFolder,
    PlanFolderError,
    metrics_document,
    plan_id_of,
    read_plan_folder,
    read_plan_metrics,
    read_tradeoff,
    resolve_plan_folder,
    write_plan_folder,
    write_tradeoff,
)
from models.planning.plan_versions import (
    PlanVersion,
    make_current,
    plan_versions,
    point_current,
    write_plan_version,
)
from models.planning.reasons import (
    KIND_REASONS,
    MoveReason,
    MoveReasons,
    move_reason_list,
    reasons_from_terms,
    summary,
    worded_terms,
)
from models.planning.recipe import (
    PlanSetup,
    UnknownCityError,
    plan_from_setup,
    prepare_plan,
    resolve_new_reps,
    run_plan,
    scenario_for,
    with_time_limit,
)
from models.planning.relaxation import LimitChange, Relaxation, relax_until_feasible
from models.planning.report_tradeoff import tradeoff_curve, tradeoff_markdown, write_tradeoff_png
from models.planning.scenario import NewRep, Scenario, ScenarioError, scenario_from_dict

__all__ = [
    "read_tradeoff",
    "tradeoff_curve",
    "tradeoff_markdown",
    "write_tradeoff",
    "write_tradeoff_png",
    "KIND_REASONS",
    "SCHEMA_VERSION",
    "LimitChange",
    "Move",
    "MoveReason",
    "MoveReasons",
    "NewRep",
    "Plan",
    "PlanFolder",
    "PlanFolderError",
    "PlanSetup",
    "Scenario",
    "ScenarioError",
    "UnknownCityError",
    "build_plan_model",
    "describe_broken_rows",
    "metrics_document",
    "move_reason_list",
    "per_rep_totals",
    "plan_inputs",
    "plan_id_of",
    "plan_territories",
    "plan_from_setup",
    "prepare_plan",
    "read_plan_folder",
    "read_plan_metrics",
    "resolve_plan_folder",
    "PlanVersion",
    "Relaxation",
    "make_current",
    "plan_versions",
    "point_current",
    "write_plan_version",
    "reasons_from_terms",
    "rep_frame",
    "resolve_new_reps",
    "relax_until_feasible",
    "run_plan",
    "scenario_for",
    "scenario_from_dict",
    "solve_plan_model",
    "summary",
    "unit_vectors",
    "with_time_limit",
    "worded_terms",
    "write_plan_folder",
]
