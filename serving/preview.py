"""Plan previews: run the planner on a scenario in memory and summarise it like a saved plan.

The preview uses the loaded scores and CRM data, the same plan recipe as `territory plan`
(models.planning.run_plan, added reps' cities included) and the learned rep fit when the history
supports it (chosen once per load). Nothing is written: a manager compares scenarios before someone
runs the real planning job.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping
from typing import Any

import pandas as pd

from features.errors import TerritoryError
from serving.decisions import DecisionView
from serving.errors import BadRequest, PlannerFailed
from serving.store import ServingState
from serving.views import rep_balances

_fit_lock = threading.Lock()
logger = logging.getLogger(__name__)


def _rep_fit(state: ServingState, as_of: pd.Timestamp):
    """The rep fit `territory plan --fit auto` would use (learned or fallback), once per as_of."""
    with _fit_lock:
        cache = state.__dict__.setdefault("_rep_fits", {})
        # nanosecond unit like the CRM frames: the fit merges its query dates against them
        as_of = pd.Timestamp(as_of).as_unit("ns")
        if as_of not in cache:
            from models.repfit import choose_rep_fit

            cache[as_of] = choose_rep_fit(state.tables, as_of)
        return cache[as_of]


def _scores_frame(state: ServingState) -> pd.DataFrame:
    table = state.scores
    ids = list(table.row)
    return pd.DataFrame(
        {
            "account_id": ids,
            "potential": table.potential,
            "percentile": table.percentile,
            "tier": table.tier,
        }
    )


def _plain(value: Any) -> Any:
    """JSON-safe copy of planner metrics (no NaN or infinities, no numpy scalars)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def preview_plan(
    state: ServingState, scenario: dict, *, top_moves: int, time_limit_s: float
) -> dict:
    """Metrics, rep balance and the top moves of the plan the scenario would produce."""
    from models.planning import ScenarioError, run_plan, scenario_for, with_time_limit

    try:
        parsed = scenario_for(scenario, state.tables.accounts)
    except ScenarioError as exc:  # a bad key or value, or an added rep's unknown city
        raise BadRequest(f"scenario: {exc}") from exc
    parsed = with_time_limit(parsed, min(parsed.solver.time_limit_s, time_limit_s))
    try:
        plan, setup = run_plan(
            state.tables, _scores_frame(state), parsed, lambda _, as_of: _rep_fit(state, as_of)
        )
        fit_info = setup.fit_info
    except TerritoryError:
        raise
    except Exception as exc:  # a planner bug: say which, keep the traceback in the log
        logger.exception("plan preview failed")
        raise PlannerFailed(
            f"the planner failed on this scenario ({type(exc).__name__}: {exc}); the server log "
            "has the traceback. Try `territory plan` with the same scenario to reproduce it."
        ) from exc
    metrics = {
        "status": plan.status,
        "objective": plan.objective,
        "bound": plan.bound,
        "gap": plan.gap,
        "fit_method": fit_info.get("method", "fallback"),
        "conflicts": list(plan.conflicts),
        **dict(plan.metrics),
    }
    moves = sorted(plan.moves, key=lambda m: -m.impact)
    shown = [_move_out(state, m) for m in moves[:top_moves]]
    proposed = {**state.current_owner, **dict(plan.rep_by_account)}
    reps = (
        rep_balances(
            state,
            state.balance_before,
            state.balance.totals(proposed),
            state.balance.totals(proposed),
        )
        if plan.feasible
        else []
    )
    return {
        "status": plan.status,
        "metrics": _plain(metrics),
        "moves_total": len(plan.moves),
        "top_moves": shown,
        "reps": reps,
    }


def _move_out(state: ServingState, move) -> dict:
    from serving.views import move_out

    return move_out(state, move, DecisionView("preview", {}, {}))
