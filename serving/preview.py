"""Plan previews (/plan_preview), now a solve job: the scenario is queued in a worker process
(serving/scenarios) and the endpoint answers at once. The same body again finds the same job (the
cache keys on the scenario, data and model); once it is done the answer carries the preview:
metrics, each rep's balance and the top moves, like a saved plan. Nothing is solved in the service
process (a solve there held a card for 4.7 s and timed out at 60 s: issue 17).
"""

from __future__ import annotations

from typing import Any

from serving.decisions import DecisionView
from serving.store import ServingState
from serving.views import move_out, rep_balances


def preview_job(
    hub, state: ServingState, author: str, scenario: dict, top_moves: int, time_limit_s: float
) -> dict:
    """The job for ``scenario`` (queued now or found), with the preview once it is done; the
    solver gets at most ``time_limit_s`` (TERRITORY_PLAN_PREVIEW_TIME_LIMIT_S)."""
    job = hub.solve(state, author=author, document=scenario, time_limit_s=time_limit_s)
    answer: dict[str, Any] = {
        "job_id": job["job_id"],
        "job_status": job["status"],
        "progress": job["progress"],
        "fraction": job["fraction"],
        "status": job["status"],
        "error": job.get("error"),
    }
    if job["status"] != "done":
        return answer
    from serving.scenarios.compare import read_folder

    folder = read_folder(state, hub.store.job(job["job_id"]).result_path)
    return {**answer, **preview_of(state, folder, top_moves)}


def preview_of(state: ServingState, folder, top_moves: int) -> dict:
    """Metrics, rep balance and the top moves of a solved plan folder."""
    plan = folder.plan
    moves = sorted(plan.moves, key=lambda m: -m.impact)
    blank = DecisionView("preview", {}, {})
    proposed = {**state.current_owner, **dict(plan.rep_by_account)}
    reps = []
    if plan.feasible:
        totals = state.balance.totals(proposed)
        reps = rep_balances(state, state.balance_before, totals, totals)
    metrics = {k: v for k, v in folder.metrics.items() if k != "scenario_document"}
    return {
        "status": plan.status,
        "metrics": metrics,
        "moves_total": len(plan.moves),
        "top_moves": [move_out(state, m, blank) for m in moves[:top_moves]],
        "reps": reps,
    }
