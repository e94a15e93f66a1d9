"""Pair value V(a, r): expected next-12-month revenue when rep r owns account a (hidden truth).

    V(a, r) = true_potential_a * multiplier(a, r)
    multiplier = exp(b_skill * s_r + b_match * (match(a, r) - ref_match)
                     - b_dist_per_100km * (min(dist_km(a, r), dist_cap_km) - ref_dist_km) / 100)

An average rep (skill 0, the average match rate ``ref_match``, ``ref_dist_km`` away) has
multiplier 1, so V equals the account's true potential. V assumes the rep works within capacity;
the history also slows overloaded reps (see docs/sample_world.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import pandas as pd

from features.geography import haversine_km
from features.sample_world.accounts import DAYS_PER_YEAR
from features.sample_world.config import WorldParams


def pair_multiplier(
    skill: np.ndarray, match: np.ndarray, dist_km: np.ndarray, params: WorldParams
) -> np.ndarray:
    """How much more an owner closes than an average rep: skill, expertise match and distance."""
    dist = np.minimum(np.asarray(dist_km, dtype=float), params.dist_cap_km)
    return np.exp(
        params.b_skill * np.asarray(skill, dtype=float)
        + params.b_match * (np.asarray(match, dtype=float) - params.ref_match)
        - params.b_dist_per_100km * (dist - params.ref_dist_km) / 100.0
    )


def expertise_matrix(industries: pd.Series, names: Sequence[str]) -> np.ndarray:
    """Boolean (rep x industry) matrix from '|'-separated expertise strings; empty = none."""
    column = {name: j for j, name in enumerate(names)}
    matrix = np.zeros((len(industries), len(names)), dtype=bool)
    for i, text in enumerate(industries.fillna("").astype(str)):
        for name in filter(None, text.split("|")):
            if name in column:
                matrix[i, column[name]] = True
    return matrix


def _positions(ids: pd.Series, wanted: Sequence[str] | np.ndarray, what: str) -> np.ndarray:
    """Row positions of `wanted` ids; KeyError naming the unknown ones."""
    pos = pd.Index(ids).get_indexer(pd.Index(np.asarray(wanted, dtype=object)))
    if (pos < 0).any():
        missing = np.asarray(wanted, dtype=object)[pos < 0]
        raise KeyError(
            f"{int((pos < 0).sum())} {what} id(s) not in the truth files: {list(missing[:5])}; "
            "pass ids from the same sample world as the truth directory."
        )
    return pos


def pair_value(
    truth_accounts: pd.DataFrame,
    truth_reps: pd.DataFrame,
    params: WorldParams,
    account_ids: Sequence[str] | np.ndarray,
    rep_ids: Sequence[str] | np.ndarray,
) -> np.ndarray:
    """V(a, r) for each (account_ids[i], rep_ids[i]) pair, from truth/accounts and truth/reps.

    Uses ``true_potential``, ``industry``, ``latitude``/``longitude`` of the accounts and
    ``true_skill``, ``industries``, ``home_latitude``/``home_longitude`` of the reps.
    """
    if len(account_ids) != len(rep_ids):
        raise ValueError(
            f"account_ids has {len(account_ids)} ids but rep_ids has {len(rep_ids)}; "
            "pass one rep per account (pairs)."
        )
    a = _positions(truth_accounts["account_id"], account_ids, "account")
    r = _positions(truth_reps["rep_id"], rep_ids, "rep")
    names = sorted(truth_accounts["industry"].astype(str).unique())
    expertise = expertise_matrix(truth_reps["industries"], names)
    industry = pd.Index(names).get_indexer(truth_accounts["industry"].astype(str))
    match = expertise[r, industry[a]]
    dist = haversine_km(
        truth_accounts["latitude"].to_numpy()[a],
        truth_accounts["longitude"].to_numpy()[a],
        truth_reps["home_latitude"].to_numpy()[r],
        truth_reps["home_longitude"].to_numpy()[r],
    )
    skill = truth_reps["true_skill"].to_numpy()[r]
    potential = truth_accounts["true_potential"].to_numpy(dtype=float)[a]
    return potential * pair_multiplier(skill, match, dist, params)


def potential_between(
    truth_accounts: pd.DataFrame, end_date: date, start: date, stop: date
) -> np.ndarray:
    """Expected won revenue with an average rep between two dates (integral of P_a over time).

    With start = end_date and stop = one calendar year later this is ``true_potential``; the
    oracle for a backtest window [as_of, as_of + 12 months) uses that window instead.
    """
    day = pd.Timedelta(days=1)
    t0 = (pd.Timestamp(start) - pd.Timestamp(end_date)) / day / DAYS_PER_YEAR
    t1 = (pd.Timestamp(stop) - pd.Timestamp(end_date)) / day / DAYS_PER_YEAR
    log_p = truth_accounts["log_potential_at_end"].to_numpy(dtype=float)
    trend = truth_accounts["trend_per_year"].to_numpy(dtype=float)
    return integrated_potential(log_p, trend, t0, t1)


def integrated_potential(
    log_p_end: np.ndarray, trend: np.ndarray, t0: float, t1: float
) -> np.ndarray:
    """Integral of exp(log_p_end + trend * t) dt from t0 to t1 (years relative to the end)."""
    g = np.asarray(trend, dtype=float)
    safe = np.where(np.abs(g) < 1e-9, 1.0, g)
    exact = (np.exp(g * t1) - np.exp(g * t0)) / safe
    return np.exp(log_p_end) * np.where(np.abs(g) < 1e-9, t1 - t0, exact)
