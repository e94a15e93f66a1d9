"""Activities of one month: owners' routine touches plus the work on each new opportunity."""

from __future__ import annotations

import numpy as np

from features.contract import ACTIVITY_TYPES
from features.sample_world.accounts import Accounts
from features.sample_world.config import WorldParams
from features.sample_world.deals import Exposure, uniform_days
from features.sample_world.reps import Roster

VISIT = ACTIVITY_TYPES.index("visit")
# Routine mix over (call, email, meeting, other); a visit competes with them by distance.
ROUTINE_TYPES = np.array([ACTIVITY_TYPES.index(t) for t in ("call", "email", "meeting", "other")])
ROUTINE_WEIGHTS = np.array([0.30, 0.42, 0.13, 0.07])
ROUTINE_VISIT_WEIGHT = 0.12
ROUTINE_VISIT_KM = 150.0
DEAL_TYPES = np.arange(len(ACTIVITY_TYPES))
DEAL_WEIGHTS = np.array([0.35, 0.30, 0.22, 0.08, 0.05])  # in ACTIVITY_TYPES order


def _draw_types(
    types: np.ndarray, weights: np.ndarray, n: int, rng: np.random.Generator
) -> np.ndarray:
    """n activity type codes drawn from `types` with fixed `weights`."""
    cumulative = np.cumsum(weights) / np.sum(weights)
    pick = np.searchsorted(cumulative, rng.random(n), side="right")
    return types[np.minimum(pick, len(types) - 1)].astype(np.int8)


def _routine_types(dist_km: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Visits when the owner is near (weight decays with distance), else the routine mix."""
    visit = ROUTINE_VISIT_WEIGHT * np.exp(-np.nan_to_num(dist_km, nan=np.inf) / ROUTINE_VISIT_KM)
    is_visit = rng.random(len(dist_km)) * (visit + ROUTINE_WEIGHTS.sum()) < visit
    return np.where(
        is_visit, np.int8(VISIT), _draw_types(ROUTINE_TYPES, ROUTINE_WEIGHTS, len(dist_km), rng)
    )


def routine_activities(
    exposure: Exposure,
    accounts: Accounts,
    roster: Roster,
    params: WorldParams,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Owner touches: more for bigger accounts, engaged reps and reps with time to spare."""
    e = exposure
    owned = np.flatnonzero(e.owner >= 0)
    rep = e.owner[owned]
    relative = e.potential[owned] / np.exp(accounts.log_base)
    rate = (
        params.activity_rate
        * relative**params.activity_elasticity
        * accounts.activity_factor[e.rows[owned]]
        * roster.engagement[rep]
        * e.effort[owned]
    )
    k = np.repeat(owned, rng.poisson(rate / 12.0 * e.share_of_month[owned]))
    return {
        "account": e.rows[k].astype(np.int32),
        "rep": e.owner[k].astype(np.int32),
        "day": uniform_days(e.first_day[k], e.last_day, rng).astype(np.int32),
        "type": _routine_types(e.dist_km[k], rng),
    }


def deal_activities(
    opportunities: dict[str, np.ndarray],
    end_day: int,
    params: WorldParams,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Touches while an opportunity is worked, by its rep, between creation and close."""
    with_rep = np.flatnonzero(opportunities["rep"] >= 0)
    k = np.repeat(with_rep, rng.poisson(params.touches_per_opportunity, len(with_rep)))
    created = opportunities["created"][k]
    last = np.minimum(opportunities["closed"][k], end_day)
    return {
        "account": opportunities["account"][k],
        "rep": opportunities["rep"][k],
        "day": uniform_days(created.astype(np.int64), last, rng).astype(np.int32),
        "type": _draw_types(DEAL_TYPES, DEAL_WEIGHTS, len(k), rng),
    }
