"""The served plan's value-versus-moves curve, read through the plan folder's one reader."""

from __future__ import annotations

from models.planning import PlanFolderError, read_tradeoff
from serving.errors import NotReady
from serving.plans import Plan


def tradeoff_of(plan: Plan) -> dict:
    """{plan_id, points, note}: no points (and a note saying how to get them) when the plan was
    written without the curve."""
    try:
        points = read_tradeoff(plan.path)
    except PlanFolderError as exc:
        raise NotReady(str(exc)) from exc
    if points is None:
        return {
            "plan_id": plan.plan_id,
            "points": [],
            "note": "this plan has no value-versus-moves curve: run `territory plan --tradeoff` "
            "to write one, then reload.",
        }
    return {"plan_id": plan.plan_id, "points": points, "note": ""}
