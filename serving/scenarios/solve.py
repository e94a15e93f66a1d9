"""The worker's solve: data -> the one plan recipe -> a plan version folder and a summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from models.planning import (
    Plan,
    metrics_document,
    run_plan,
    scenario_for,
    write_plan_version,
)


def _report(doc: dict[str, Any], plan: Plan) -> str:
    lines = [f"# Scenario {doc['scenario']}", "", f"Status **{doc['status']}**."]
    if doc["conflicts"]:
        lines += ["", "## Why no plan", "", *[f"- {c}" for c in doc["conflicts"]]]
    top = sorted(plan.moves, key=lambda m: -m.impact)[:10]
    lines += ["", "## Largest moves", "", *[f"- {m.account_id}: {m.summary}" for m in top]]
    return "\n".join(lines) + "\n"


def summary_of(doc: dict[str, Any]) -> dict[str, Any]:
    """What the job row keeps: the verdict, metrics before and after, moves, conflicts."""
    keep = ("scenario", "status", "objective", "gap", "fit_method", "moves", "conflicts")
    out = {k: doc.get(k) for k in keep}
    out["before"], out["after"] = doc.get("before") or {}, doc.get("after") or {}
    out["moves_by_kind"] = doc.get("moves_by_kind") or {}
    return out


def solve_job(document: dict, inputs: dict[str, Any], progress) -> tuple[dict, Path]:
    """Solve ``document`` on the job's data; write the plan under ``inputs['out_dir']``."""
    from features.loaders import load_crm
    from serving.scores import read_scores

    tables = load_crm(inputs["crm_source"]).tables
    scores = read_scores(Path(inputs["scores_path"]))
    frame = scores[["account_id", "potential"]]
    progress.phase("preparing the plan model (candidates, rep fit)", 100)
    scenario = scenario_for(document, tables.accounts, time_limit_s=inputs.get("time_limit_s"))
    plan, setup = run_plan(tables, frame, scenario, progress=progress.solver)
    progress.phase("writing the plan", 960)
    extra = {
        "as_of": str(setup.inputs.as_of.date()),
        "fit": dict(setup.fit_info),
        "unscored_accounts": setup.inputs.unscored_accounts,
        "unknown_scores": setup.inputs.unknown_scores,
        "scenario_document": document,
    }
    doc = metrics_document(plan, scenario.name, extra)
    version = write_plan_version(plan, Path(inputs["out_dir"]), doc, _report(doc, plan))
    return summary_of(doc), version.folder
