"""Activities of one month: owners' routine touches plus the work on each new opportunity."""

from __future__ import annotations

import numpy as np

from features.contract import ACTIVITY_TYPES
from features.sample_world.accounts import Accounts
from features.sample_world.config import WorldParams
from features.sample_world.deals import Exposure, uniform_days
from features.sample_world.reps import Roster

VISIT = ACTIVITY_TYPES.index("visit")
# Routine mix (call, email, meeting, visit, other); visits fall off with distance.
ROUTINE_WEIGHTS = np.array([0.30, 0.42, 0.13, 0.0, 0.07])
ROUTINE_VISIT_WEIGHT = 0.12
ROUTINE_VISIT_KM = 150.0
DEAL_WEIGHTS = np.array([0.35, 0.30, 0.22, 0.08, 0.05])


def _types(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One activity type per row of a (rows x types) weight matrix."""
    cumulative = np.cumsum(weights, axis=1)
    u = rng.random(len(weights)) * cumulative[:, -1]
    return np.minimum((cumulative <= u[:, None]).sum(axis=1), len(ACTIVITY_TYPES) - 1)


def routine_activities(exposure: Exposure, accounts: Accounts, roster: Roster,
                       params: WorldParams, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Owner touches: more for bigger accounts, engaged reps and reps with time to spare."""
    e = exposure
    owned = np.flatnonzero(e.owner >= 0)
    rep = e.owner[owned]
    relative = e.potential[owned] / np.exp(accounts.log_base)
    rate = (params.activity_rate * relative**params.activity_elasticity
            * accounts.activity_factor[e.rows[owned]] * roster.engagement[rep] * e.effort[owned])
    k = np.repeat(owned, rng.poisson(rate / 12.0 * e.share_of_month[owned]))
    weights = np.tile(ROUTINE_WEIGHTS, (len(k), 1))
    weights[:, VISIT] = ROUTINE_VISIT_WEIGHT * np.exp(-e.dist_km[k] / ROUTINE_VISIT_KM)
    return {
        "account": e.rows[k].astype(np.int32), "rep": e.owner[k].astype(np.int32),
        "day": uniform_days(e.first_day[k], e.last_day, rng).astype(np.int32),
        "type": _types(weights, rng).astype(np.int8),
    }


def deal_activities(opportunities: dict[str, np.ndarray], end_day: int, params: WorldParams,
                    rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Touches while an opportunity is worked, by its rep, between creation and close."""
    with_rep = np.flatnonzero(opportunities["rep"] >= 0)
    k = np.repeat(with_rep, rng.poisson(params.touches_per_opportunity, len(with_rep)))
    created = opportunities["created"][k]
    last = np.minimum(opportunities["closed"][k], end_day)
    return {
        "account": opportunities["account"][k], "rep": opportunities["rep"][k],
        "day": uniform_days(created.astype(np.int64), last, rng).astype(np.int32),
        "type": _types(np.tile(DEAL_WEIGHTS, (len(k), 1)), rng).astype(np.int8),
    }
