"""Sparse candidates: each account's K nearest suitable reps, plus its current owner.

A rep is suitable for an account when it is within the travel limit and, for high-potential
accounts under an expertise rule, qualified (tenure or industry). A locked account has exactly one
candidate: its lock rep. Accounts or reps without coordinates have no distance: such an account
takes the most qualified suitable reps instead, and such a rep is a candidate only where it is the
current owner or the lock.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from features.geography import haversine_km

BRUTE_FORCE_CHUNK = 2048


@dataclass(frozen=True)
class Suitability:
    """Per-pair rules: travel limit, and the reps each high-potential account may take."""

    max_travel_km: float | None
    high_potential: np.ndarray
    qualified_tenure: np.ndarray
    rep_industries: np.ndarray
    account_industry: np.ndarray
    industry_match: bool

    def allows(self, account: np.ndarray, rep: np.ndarray, distance: np.ndarray) -> np.ndarray:
        """Mask of allowed (account, rep) pairs; unknown distances pass the travel limit."""
        ok = np.ones(account.shape, dtype=bool)
        if self.max_travel_km is not None:
            ok &= ~(distance > self.max_travel_km)
        high = self.high_potential[account]
        if high.any():
            qualified = self.qualified_tenure[rep].copy()
            if self.industry_match:
                qualified |= self.rep_industries[rep, self.account_industry[account]]
            ok &= ~high | qualified
        return ok

    def subset(self, accounts: np.ndarray, reps: np.ndarray) -> Suitability:
        """The same rules over a subset of accounts and reps (positions into the full arrays)."""
        return Suitability(
            max_travel_km=self.max_travel_km,
            high_potential=self.high_potential[accounts],
            qualified_tenure=self.qualified_tenure[reps],
            rep_industries=self.rep_industries[reps],
            account_industry=self.account_industry[accounts],
            industry_match=self.industry_match,
        )


@dataclass(frozen=True)
class Candidates:
    """Rep index and distance per candidate slot (-1 / NaN on padding), and each account's
    current owner's slot (-1 when the owner is not a candidate: it leaves or breaks a rule)."""

    rep: np.ndarray
    distance_km: np.ndarray
    current_slot: np.ndarray


def unit_vectors(latitude: np.ndarray, longitude: np.ndarray) -> np.ndarray:
    """Points on the unit sphere, so Euclidean nearest neighbours are great-circle ones."""
    lat, lon = np.radians(latitude), np.radians(longitude)
    return np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])


def build_candidates(
    accounts: pd.DataFrame,
    reps: pd.DataFrame,
    k: int,
    suitability: Suitability,
    current_rep: np.ndarray,
    lock_rep: np.ndarray,
) -> Candidates:
    """K nearest suitable reps per account, the current owner where suitable, locks alone.

    ``current_rep`` and ``lock_rep`` are rep row indices per account (-1 for none).
    """
    n, m = len(accounts), len(reps)
    k = max(1, min(k, m))
    a_lat, a_lon = accounts["latitude"].to_numpy(float), accounts["longitude"].to_numpy(float)
    r_lat, r_lon = reps["latitude"].to_numpy(float), reps["longitude"].to_numpy(float)
    rep_idx = np.full((n, k + 1), -1, dtype=np.int64)
    located = np.isfinite(a_lat) & np.isfinite(a_lon)
    rep_located = np.flatnonzero(np.isfinite(r_lat) & np.isfinite(r_lon))
    if located.any() and rep_located.size:
        rep_idx[located, :k] = _nearest_suitable(
            np.flatnonzero(located), a_lat, a_lon, rep_located, r_lat, r_lon, k, suitability
        )
    if (~located).any():
        rep_idx[~located, :k] = _best_qualified(np.flatnonzero(~located), reps, k, suitability)
    rep_idx = _add_owner(rep_idx, current_rep, suitability, a_lat, a_lon, r_lat, r_lon)
    locked = lock_rep >= 0
    rep_idx[locked] = -1
    rep_idx[locked, 0] = lock_rep[locked]
    distance = np.where(
        rep_idx >= 0,
        haversine_km(a_lat[:, None], a_lon[:, None], r_lat[rep_idx], r_lon[rep_idx]),
        np.nan,
    )
    current_slot = np.argmax(
        (rep_idx == current_rep[:, None]) & (current_rep[:, None] >= 0), axis=1
    )
    has_owner = (rep_idx == current_rep[:, None]).any(axis=1) & (current_rep >= 0)
    return Candidates(rep_idx, distance, np.where(has_owner, current_slot, -1))


def _nearest_suitable(rows, a_lat, a_lon, rep_rows, r_lat, r_lon, k, suitability) -> np.ndarray:
    """Query 4K nearest by KD-tree, filter, and brute-force the accounts left short."""
    tree = cKDTree(unit_vectors(r_lat[rep_rows], r_lon[rep_rows]))
    query = min(rep_rows.size, 4 * k)
    _, near = tree.query(unit_vectors(a_lat[rows], a_lon[rows]), k=query)
    near = rep_rows[np.asarray(near).reshape(rows.size, query)]
    out = _first_allowed(rows, near, a_lat, a_lon, r_lat, r_lon, k, suitability)
    short = np.flatnonzero((out >= 0).sum(axis=1) < min(k, rep_rows.size))
    if short.size and query < rep_rows.size:
        for start in range(0, short.size, BRUTE_FORCE_CHUNK):
            chunk = short[start : start + BRUTE_FORCE_CHUNK]
            d = haversine_km(
                a_lat[rows[chunk], None], a_lon[rows[chunk], None], r_lat[rep_rows], r_lon[rep_rows]
            )
            everyone = rep_rows[np.argsort(d, axis=1, kind="stable")]
            out[chunk] = _first_allowed(
                rows[chunk], everyone, a_lat, a_lon, r_lat, r_lon, k, suitability
            )
    return out


def _first_allowed(rows, ordered, a_lat, a_lon, r_lat, r_lon, k, suitability) -> np.ndarray:
    """The first ``k`` allowed reps of each row of ``ordered`` (nearest first), -1 padded."""
    account = np.broadcast_to(rows[:, None], ordered.shape)
    d = haversine_km(a_lat[account], a_lon[account], r_lat[ordered], r_lon[ordered])
    ok = suitability.allows(account, ordered, d)
    rank = np.cumsum(ok, axis=1) - 1
    out = np.full((rows.size, k), -1, dtype=np.int64)
    keep = ok & (rank < k)
    r_i, c_i = np.nonzero(keep)
    out[r_i, rank[r_i, c_i]] = ordered[r_i, c_i]
    return out


def _best_qualified(rows, reps: pd.DataFrame, k: int, suitability: Suitability) -> np.ndarray:
    """For accounts without coordinates: allowed reps by tenure, longest first."""
    order = np.argsort(-reps["tenure_years"].to_numpy(float), kind="stable")
    account = np.broadcast_to(rows[:, None], (rows.size, order.size))
    ordered = np.broadcast_to(order[None, :], account.shape)
    ok = suitability.allows(account, ordered, np.full(account.shape, np.nan))
    rank = np.cumsum(ok, axis=1) - 1
    out = np.full((rows.size, k), -1, dtype=np.int64)
    r_i, c_i = np.nonzero(ok & (rank < k))
    out[r_i, rank[r_i, c_i]] = ordered[r_i, c_i]
    return out


def _add_owner(rep_idx, current_rep, suitability, a_lat, a_lon, r_lat, r_lon) -> np.ndarray:
    """Put the current owner in the spare last slot where it is allowed and not already there."""
    n = rep_idx.shape[0]
    has = current_rep >= 0
    safe = np.where(has, current_rep, 0)
    d = haversine_km(a_lat, a_lon, r_lat[safe], r_lon[safe])
    allowed = has & suitability.allows(np.arange(n), safe, d)
    missing = allowed & ~(rep_idx == current_rep[:, None]).any(axis=1)
    rep_idx[missing, -1] = current_rep[missing]
    return _compact(rep_idx)


def _compact(rep_idx: np.ndarray) -> np.ndarray:
    """Move padding to the right and drop columns that are padding everywhere."""
    order = np.argsort(rep_idx < 0, axis=1, kind="stable")
    packed = np.take_along_axis(rep_idx, order, axis=1)
    width = max(1, int((packed >= 0).sum(axis=1).max())) if packed.size else 1
    return packed[:, :width]
