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
from models.solver import AssignmentProblem, RowGroup, flow_rounding

FLOW_ROUNDS = 6
"""Flow checks (each may list short reps on more accounts) before the candidates are kept. On
the 1M world's South-2-1 the workload shortfall went 890 -> 857 -> 866 -> 32 (the rounding of
split accounts) in the first four; each check of its 2M pairs takes ~2.5 s."""
FLOW_COVER_FACTOR = 4.0
"""A rep the flow leaves short is listed on accounts holding this times its shortfall: the
nearest accounts are the ones its short neighbours want too (at 2x, three rounds left South-2-1
292 short and repair stalled there)."""
COVERAGE_SLACK = 2.0  # headroom over the lower end, so the solver is not left one exact packing
FIRST_QUERY = 512


@dataclass(frozen=True)
class BandNeed:
    """One band: the value each account brings (region rows), each rep's lower end and, for the
    flow check, its upper end (for workload: the band's or the capacity, whichever is lower)."""

    values: np.ndarray
    lower: np.ndarray
    upper: np.ndarray | None = None


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
    """``candidates`` plus pairs that let every rep reach ``slack`` x each band's lower end,
    then (``cover_flows``) pairs for the reps a flow over the candidates still leaves short.

    ``locked`` marks accounts (region rows) that must keep their single lock candidate.
    """
    pool = _pool(accounts, reps, locked)
    covered = _cover_each(candidates, pool, suitability, needs, slack)
    return _cover_flows(covered, pool, suitability, needs, FLOW_ROUNDS)


@dataclass(frozen=True)
class _Pool:
    """Where pairs may be added: the located, unlocked accounts (``rows``, with a KD-tree over
    them) and the located reps."""

    places: _Places
    rows: np.ndarray
    tree: cKDTree | None
    located: np.ndarray


def _pool(accounts: pd.DataFrame, reps: pd.DataFrame, locked: np.ndarray) -> _Pool:
    places = _Places(
        accounts["latitude"].to_numpy(float),
        accounts["longitude"].to_numpy(float),
        reps["latitude"].to_numpy(float),
        reps["longitude"].to_numpy(float),
    )
    rows = np.flatnonzero(np.isfinite(places.a_lat) & np.isfinite(places.a_lon) & ~locked)
    tree = cKDTree(unit_vectors(places.a_lat[rows], places.a_lon[rows])) if rows.size else None
    located = np.isfinite(places.r_lat) & np.isfinite(places.r_lon)  # no distance, no nearest
    return _Pool(places, rows, tree, located)


def _cover_each(candidates, pool: _Pool, suitability, needs, slack) -> Candidates:
    """Per rep: pairs until the accounts listing it hold ``slack`` x each lower end."""
    n_reps = pool.located.size
    goals = [slack * np.maximum(need.lower, 0.0) for need in needs]
    reach = [_reach(candidates.rep, need.values, n_reps) for need in needs]
    short = np.zeros(n_reps, dtype=bool)
    for r, g in zip(reach, goals, strict=True):
        short |= r < g - 1e-9
    deficits = [g - r for g, r in zip(goals, reach, strict=True)]
    return _listed_further(candidates, pool, suitability, needs, short, deficits)


def _listed_further(
    candidates: Candidates,
    pool: _Pool,
    suitability: Suitability,
    needs: list[BandNeed],
    short: np.ndarray,
    deficits: list[np.ndarray],
) -> Candidates:
    """Each located rep marked ``short`` added to its nearest accounts not listing it yet, as
    few as cover its ``deficits`` (one per band); the same object when none is added."""
    short = short & pool.located
    if not short.any() or pool.tree is None:
        return candidates
    values = [need.values for need in needs]
    added = {
        j: _covering_accounts(
            pool.tree, pool.rows, j, candidates.rep, suitability, pool.places, values,
            [d[j] for d in deficits],
        )
        for j in np.flatnonzero(short).tolist()
    }  # fmt: skip
    account = np.concatenate(list(added.values()))
    if account.size == 0:
        return candidates
    rep = np.concatenate([np.full(rows.size, j, dtype=np.int64) for j, rows in added.items()])
    return _with_pairs(candidates, account, rep, pool.places)


def cover_flows(
    candidates: Candidates,
    accounts: pd.DataFrame,
    reps: pd.DataFrame,
    suitability: Suitability,
    locked: np.ndarray,
    needs: list[BandNeed],
    rounds: int = FLOW_ROUNDS,
) -> Candidates:
    """Pairs for the reps that no assignment over the candidates can bring to a band's lower
    end: per band with an upper end, a min-cost flow (models.solver.flow_rounding) fills every
    rep's lower end where it can within the upper ends; each rep it leaves short by more than an
    average account is listed on its nearest further accounts holding ``FLOW_COVER_FACTOR`` x
    the shortfall, and the flow runs again (at most ``rounds`` times).

    Covering each rep alone is not enough: on the 1M-account world's South-2-1 (50,613 accounts,
    119 reps, each account listing its 39 nearest) every rep was listed by accounts holding more
    than twice its lower end, yet the flow left 29 reps 890 workload short, because their
    accounts were needed by neighbours' lower ends too; with every rep listed it left 15.6 (the
    rounding of split accounts). Rounding and repair then ended ~1,470 violation units short,
    whatever the disruption budget (1.5x or 2x its need), and the LP rescue could not finish.
    After these checks (16,471 more pairs, +0.8%) repair reached a plan in 18 s."""
    return _cover_flows(candidates, _pool(accounts, reps, locked), suitability, needs, rounds)


def _cover_flows(candidates, pool: _Pool, suitability, needs, rounds: int) -> Candidates:
    checks = [need for need in needs if need.upper is not None]
    if not checks or pool.tree is None:
        return candidates
    for _ in range(rounds):
        shortfalls = [_flow_shortfall(candidates.rep, need) for need in checks]
        short = np.zeros(pool.located.size, dtype=bool)
        for need, gap in zip(checks, shortfalls, strict=True):
            short |= gap > float(need.values.mean())
        deficits = [FLOW_COVER_FACTOR * gap for gap in shortfalls]
        covered = _listed_further(candidates, pool, suitability, checks, short, deficits)
        if covered is candidates:
            break
        candidates = covered
    return candidates


def _flow_shortfall(rep_idx: np.ndarray, need: BandNeed) -> np.ndarray:
    """Per rep, how far below its lower end the best flow over the candidates leaves it."""
    problem = AssignmentProblem(rep_idx, np.zeros(rep_idx.shape), int(need.lower.size))
    group = RowGroup(("band",), need.values, need.lower, need.upper)
    score = np.where(rep_idx >= 0, 0.0, -np.inf)
    choice = flow_rounding(problem, score, group)
    if choice is None:
        return np.zeros(need.lower.size)
    rep = rep_idx[np.arange(rep_idx.shape[0]), choice]
    load = np.bincount(rep, weights=need.values, minlength=need.lower.size)
    return np.maximum(np.where(np.isfinite(need.lower), need.lower, 0.0) - load, 0.0)


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
