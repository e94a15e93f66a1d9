"""Adopt a solved scenario: its plan becomes a NEW version beside the served plan's versions
(models.planning.write_plan_version: never rewriting one, ``current`` moved to it), which the
service then serves to /moves and the review page."""

from __future__ import annotations

import re
from pathlib import Path

from models.planning import PlanVersion, write_plan_version
from serving.errors import BadRequest

STAMPED = ("plan_id", "plan_version", "created_at")


def versions_root(state, settings) -> Path:
    """Where the adopted version goes: beside the served plan's versions when it is one
    (ROOT/v0003 -> ROOT), else TERRITORY_PLANS_ROOT, else <data_dir>/plans."""
    plan = state.plan
    if plan is not None and re.fullmatch(r"v\d{4,}", Path(plan.path).name):
        return Path(plan.path).parent
    if settings.plans_root:
        return Path(settings.plans_root)
    return Path(settings.data_dir) / "plans"


def adopt(state, settings, job, folder, author: str) -> PlanVersion:
    """Write the job's plan as the next version of the served plan's root; refuse an infeasible
    one (it has no owners to serve)."""
    if folder.plan.assignments is None or not folder.plan.feasible:
        raise BadRequest(
            f"scenario {job.name!r} (job {job.job_id}) found no feasible plan; only a feasible "
            "plan can be adopted. Widen its limits and solve it again."
        )
    doc = {k: v for k, v in folder.metrics.items() if k not in STAMPED}
    doc["adopted"] = {"job_id": job.job_id, "scenario": job.name, "by": author}
    report = folder.report_md + f"\nAdopted from scenario job {job.job_id} by {author}.\n"
    return write_plan_version(folder.plan, versions_root(state, settings), doc, report)
