"""Opportunities of one month: Poisson arrivals, win coin flips, lognormal amounts and cycles."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.geography import haversine_km
from features.sample_world.accounts import DAYS_PER_YEAR, Accounts
from features.sample_world.config import WorldParams
from features.sample_world.ownership import Ownership
from features.sample_world.reps import NO_DAY, Roster
from features.sample_world.value import pair_multiplier

STAGE_OPEN, STAGE_WON, STAGE_LOST = 0, 1, 2
MAX_WIN_PROBABILITY = 0.95


@dataclass(frozen=True)
class Exposure:
    """The accounts open for business in a month, who serves them and how well."""

    rows: np.ndarray
    first_day: np.ndarray
    last_day: int
    share_of_month: np.ndarray
    owner: np.ndarray
    potential: np.ndarray
    multiplier: np.ndarray
    effort: np.ndarray
    dist_km: np.ndarray


def month_exposure(
    accounts: Accounts,
    state: Ownership,
    roster: Roster,
    effort: np.ndarray,
    month: tuple[int, int],
    end_day: int,
    params: WorldParams,
) -> Exposure:
    """Accounts existing this month: from which day the current owner serves them, P_a, m, f."""
    d0, d1 = month
    rows = np.flatnonzero(accounts.created_day <= d1)
    first = np.maximum.reduce(
        [np.full(len(rows), d0), state.since[rows], accounts.created_day[rows]]
    )
    owner = state.owner[rows]
    owned = owner >= 0
    rep = np.maximum(owner, 0)
    dist = haversine_km(
        accounts.latitude[rows],
        accounts.longitude[rows],
        roster.latitude[rep],
        roster.longitude[rep],
    )
    match = roster.expertise[rep, accounts.industry[rows]]
    multiplier = np.where(owned, pair_multiplier(roster.skill[rep], match, dist, params), 1.0)
    mid_years = ((d0 + d1) / 2.0 - end_day) / DAYS_PER_YEAR
    return Exposure(
        rows=rows,
        first_day=first,
        last_day=d1,
        share_of_month=np.clip((d1 - first + 1) / (d1 - d0 + 1), 0.0, 1.0),
        owner=owner,
        potential=accounts.potential_at(mid_years, rows),
        multiplier=multiplier,
        effort=np.where(owned, effort[rep], params.unowned_arrival_factor),
        dist_km=np.where(owned, dist, np.nan),
    )


def uniform_days(first: np.ndarray, last: int | np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uniform day between first and last (inclusive), per row."""
    return first + np.floor(rng.random(len(first)) * (last - first + 1)).astype(np.int64)


def month_opportunities(
    exposure: Exposure,
    accounts: Accounts,
    end_day: int,
    params: WorldParams,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Opportunities created this month: expected won revenue = P_a * multiplier * effort.

    Arrivals carry ``multiplier ** arrival_share`` (and the owner's effort), the win chance
    ``** win_share`` and the amount ``** amount_share``; the three shares sum to 1.
    """
    e = exposure
    median = np.exp(accounts.log_base)
    size = params.deal_size_median * (e.potential / median) ** params.deal_size_elasticity
    size = size * accounts.deal_size_factor[e.rows]
    win0 = accounts.win_rate_base[e.rows]
    rate = e.potential * e.multiplier**params.arrival_share * e.effort / (win0 * size)
    k = np.repeat(np.arange(len(e.rows)), rng.poisson(rate / 12.0 * e.share_of_month))
    created = uniform_days(e.first_day[k], e.last_day, rng)
    win = np.minimum(win0[k] * e.multiplier[k] ** params.win_share, MAX_WIN_PROBABILITY)
    won = rng.random(len(k)) < win
    log_size = np.clip(np.log(e.potential[k] / median) / 2.0, -0.5, 1.0)
    sd = params.amount_log_sd + params.amount_log_sd_size * log_size
    amount = (
        size[k]
        * e.multiplier[k] ** params.amount_share
        * np.exp(sd * rng.normal(0.0, 1.0, len(k)) - sd**2 / 2.0)
    )
    cycle = (
        params.cycle_median_days
        * (size[k] / params.deal_size_median) ** (params.cycle_size_elasticity)
        * np.exp(rng.normal(0.0, params.cycle_log_sd, len(k)))
    )
    cycle = np.maximum(1, np.round(np.where(won, cycle, cycle * params.lost_cycle_factor)))
    closed = created + cycle.astype(np.int64)
    is_open = closed > end_day
    return {
        "account": e.rows[k].astype(np.int32),
        "rep": e.owner[k].astype(np.int32),
        "created": created.astype(np.int32),
        "closed": np.where(is_open, NO_DAY, closed).astype(np.int32),
        "stage": np.where(is_open, STAGE_OPEN, np.where(won, STAGE_WON, STAGE_LOST)).astype(
            np.int8
        ),
        "amount": np.round(amount, 2),
    }
