"""Band coverage: list a rep on more accounts until those accounts can fill its balance bands.

Each account lists its K nearest suitable reps, so a rep far from its neighbours (or on a region
border, where part of its area went to the next region with its owners) can be listed by too few
accounts to reach its band's lower end, and a +-5% band becomes infeasible on the candidate graph
though not in reality. For every rep whose listing accounts hold less than ``slack`` x a band's
lower end (workload or potential), this adds the rep as a candidate to its nearest further
accounts in the region until they do. The travel limit and expertise rule still apply and locked
accounts keep their single candidate, so a rep that truly cannot reach its band stays short and
the feasibility check explains it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from features.geography import haversine_km
from models.planning.candidates import Candidates, Suitability, unit_vectors

COVERAGE_SLACK = 2.0  # headroom over the lower end, so the solver is not left one exact packing
FIRST_QUERY = 512


@dataclass(frozen=True)
class BandNeed:
    """One band: the value each account brings (region rows) and each rep's lower end."""

    values: np.ndarray
    lower: np.ndarray


@dataclass(frozen=True)
class _Places:
    a_lat: np.ndarray
    a_lon: np.ndarray
    r_lat: np.ndarray
    r_lon: np.ndarray


def cover_bands(
    candidates: Candidates,
    accounts: pd.DataFrame,
    reps: pd.DataFrame,
    suitability: Suitability,
    locked: np.ndarray,
    needs: list[BandNeed],
    slack: float = COVERAGE_SLACK,
) -> Candidates:
    """``candidates`` plus pairs that let every rep reach ``slack`` x each band's lower end.

    ``locked`` marks accounts (region rows) that must keep their single lock candidate.
    """
    places = _Places(
        accounts["latitude"].to_numpy(float),
        accounts["longitude"].to_numpy(float),
        reps["latitude"].to_numpy(float),
        reps["longitude"].to_numpy(float),
    )
    goals = [slack * np.maximum(need.lower, 0.0) for need in needs]
    reach = [_reach(candidates.rep, need.values, len(reps)) for need in needs]
    short = np.zeros(len(reps), dtype=bool)
    for r, g in zip(reach, goals, strict=True):
        short |= r < g - 1e-9
    short &= np.isfinite(places.r_lat) & np.isfinite(places.r_lon)  # no distance, no nearest
    pool = np.flatnonzero(np.isfinite(places.a_lat) & np.isfinite(places.a_lon) & ~locked)
    if not short.any() or pool.size == 0:
        return candidates
    tree = cKDTree(unit_vectors(places.a_lat[pool], places.a_lon[pool]))
    values = [need.values for need in needs]
    added = {
        j: _covering_accounts(
            tree,
            pool,
            j,
            candidates.rep,
            suitability,
            places,
            values,
            [g[j] - r[j] for g, r in zip(goals, reach, strict=True)],
        )
        for j in np.flatnonzero(short).tolist()
    }
    account = np.concatenate(list(added.values()))
    rep = np.concatenate([np.full(rows.size, j, dtype=np.int64) for j, rows in added.items()])
    return _with_pairs(candidates, account, rep, places) if account.size else candidates


def _reach(rep_idx: np.ndarray, values: np.ndarray, n_reps: int) -> np.ndarray:
    """Sum of ``values`` over the accounts that list each rep."""
    items, slots = np.nonzero(rep_idx >= 0)
    return np.bincount(rep_idx[items, slots], weights=values[items], minlength=n_reps)


def _covering_accounts(
    tree: cKDTree,
    pool: np.ndarray,
    j: int,
    rep_idx: np.ndarray,
    suitability: Suitability,
    places: _Places,
    values: list[np.ndarray],
    deficit: list[float],
) -> np.ndarray:
    """Rep ``j``'s nearest allowed accounts not listing it yet, as few as cover every deficit
    (all it may take when none suffices). The query grows 4x until it covers the deficits or
    runs past the travel limit or the pool."""
    query = min(pool.size, FIRST_QUERY)
    here = unit_vectors(places.r_lat[j : j + 1], places.r_lon[j : j + 1])[0]
    limit = suitability.max_travel_km
    while True:
        _, near = tree.query(here, k=query)
        rows = pool[np.atleast_1d(near)]
        km = haversine_km(places.a_lat[rows], places.a_lon[rows], places.r_lat[j], places.r_lon[j])
        ok = suitability.allows(rows, np.full(rows.size, j), km)
        ok &= ~(rep_idx[rows] == j).any(axis=1)
        take = _covering_length(rows[ok], values, deficit)
        exhausted = query == pool.size or (limit is not None and km[-1] > limit)
        if take is not None or exhausted:
            return rows[ok][:take]
        query = min(pool.size, 4 * query)


def _covering_length(
    rows: np.ndarray, values: list[np.ndarray], deficit: list[float]
) -> int | None:
    """Length of the shortest prefix of ``rows`` covering every deficit; None if none does."""
    take = 0
    for v, need in zip(values, deficit, strict=True):
        if need <= 0:
            continue
        total = np.cumsum(v[rows])
        if total.size == 0 or total[-1] < need - 1e-9:
            return None
        take = max(take, int(np.searchsorted(total, need - 1e-9)) + 1)
    return take


def _with_pairs(
    candidates: Candidates, account: np.ndarray, rep: np.ndarray, places: _Places
) -> Candidates:
    """Append (account, rep) pairs after each account's valid slots (widening where needed);
    existing slots keep their positions, so ``current_slot`` still holds."""
    order = np.argsort(account, kind="stable")
    account, rep = account[order], rep[order]
    first = np.searchsorted(account, account, side="left")
    slot = (candidates.rep[account] >= 0).sum(axis=1) + np.arange(account.size) - first
    width = max(candidates.rep.shape[1], int(slot.max()) + 1)
    pad = width - candidates.rep.shape[1]
    rep_idx = np.pad(candidates.rep, ((0, 0), (0, pad)), constant_values=-1)
    distance = np.pad(candidates.distance_km, ((0, 0), (0, pad)), constant_values=np.nan)
    rep_idx[account, slot] = rep
    distance[account, slot] = haversine_km(
        places.a_lat[account], places.a_lon[account], places.r_lat[rep], places.r_lon[rep]
    )
    return Candidates(rep_idx, distance, candidates.current_slot)
