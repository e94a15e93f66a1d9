"""Split a plan into regions that are solved on their own (decomposition for scale).

Each region gets a set of active reps and the accounts that stay or land there. Reps take their
region from the `region` column when every active rep has one (else from the majority region of
the accounts they own); without labels, reps are clustered by home location (k-means on the unit
sphere, deterministic). An account goes to its current active owner's region, else to its own
label's region, else to its nearest rep's region.

Bands stay the team's: every rep's target is the whole team's total times its share of the team's
capacity, whatever region it is solved in. So each region must hold about its capacity share of the
team's workload and potential, and today's books rarely do (on a 100k-account sample world the
Midwest reps owned 120% of their capacity while the Northeast held 74%). ``balance_regions`` moves
border accounts (the ones that add least distance, locked ones never) from regions above their
share to regions below it until every region is within half of each band of its share (without
bands: within capacity, keeping half the team's spare capacity), the way a joint solve would move
them. Those accounts are moves by choice (``Region.transfers``) and spend the disruption budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.cluster.vq import kmeans2
from scipy.spatial import cKDTree

from models.planning.candidates import unit_vectors
from models.planning.match_data import MatchData
from models.planning.region_balance import Goal, balance_regions
from models.planning.scenario import Limits, SolverSettings


@dataclass(frozen=True)
class Region:
    """Account rows and active rep rows (positions into MatchData frames) of one region.

    ``transfers``: account rows moved here from their active owner's region by the split (moves
    by choice, counted against the disruption budget).
    """

    name: str
    accounts: np.ndarray
    reps: np.ndarray
    transfers: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def split_regions(
    data: MatchData, settings: SolverSettings, limits: Limits | None = None
) -> tuple[Region, ...]:
    """One region unless decomposition is asked for (or, on "auto", the team is large); split
    regions are balanced to their capacity share of the team's bands (``limits``)."""
    active = np.flatnonzero(data.active)
    everyone = Region("all", np.arange(len(data.accounts)), active)
    wants = settings.decompose == "region" or (
        settings.decompose == "auto" and active.size > settings.max_reps_per_region
    )
    if not wants or active.size < 2:
        return (everyone,)
    labels = _rep_labels(data, active, settings)
    names = sorted(set(labels))
    if len(names) < 2:
        return (everyone,)
    rep_region = np.searchsorted(names, labels)
    home = np.searchsorted(names, _account_labels(data, active, labels))
    region = balance_regions(
        home,
        _region_distances(data, active, rep_region, len(names)),
        _goals(data, active, rep_region, len(names), limits or Limits()),
    )
    owner_region = np.full(len(data.reps), -1)
    owner_region[active] = rep_region
    owned = np.where(data.current_rep >= 0, owner_region[np.maximum(data.current_rep, 0)], -1)
    moved = (owned >= 0) & (region != owned)
    return tuple(
        Region(
            str(name),
            np.flatnonzero(region == g),
            active[rep_region == g],
            np.flatnonzero((region == g) & moved),
        )
        for g, name in enumerate(names)
    )


def _goals(
    data: MatchData, active: np.ndarray, rep_region: np.ndarray, n: int, limits: Limits
) -> list[Goal]:
    """Per band (or capacity without bands): the range each region's total should end in."""
    capacity = np.nan_to_num(data.reps["capacity"].to_numpy(float)[active])
    weight = capacity if capacity.sum() > 0 else np.ones(active.size)
    share = np.bincount(rep_region, weights=weight, minlength=n) / weight.sum()
    region_capacity = np.bincount(rep_region, weights=capacity, minlength=n)
    goals = []
    bands = ((limits.workload_band, data.workload), (limits.potential_band, data.potential))
    for band, values in bands:
        if band is None:
            continue
        target = values.sum() * share
        upper = target * (1 + band / 2)
        if values is data.workload and capacity.sum() > 0:
            upper = np.minimum(upper, np.maximum(region_capacity, target))
        goals.append(Goal(values, target * (1 - band / 2), upper))
    if limits.workload_band is None and capacity.sum() > 0:
        fill = min(1.0, data.workload.sum() / capacity.sum())
        goals.append(Goal(data.workload, np.full(n, -np.inf), region_capacity * (1 + fill) / 2))
    return goals


def _region_distances(
    data: MatchData, active: np.ndarray, rep_region: np.ndarray, n: int
) -> np.ndarray:
    """(accounts, regions): distance on the unit sphere from each account to each region's
    nearest rep; inf for locked accounts and where a location is unknown."""
    reps = data.reps.iloc[active]
    r_lat, r_lon = reps["latitude"].to_numpy(float), reps["longitude"].to_numpy(float)
    a_lat = data.accounts["latitude"].to_numpy(float)
    a_lon = data.accounts["longitude"].to_numpy(float)
    known = np.isfinite(a_lat) & np.isfinite(a_lon) & (data.lock_rep < 0)
    out = np.full((len(data.accounts), n), np.inf)
    here = unit_vectors(a_lat[known], a_lon[known])
    for g in range(n):
        mine = (rep_region == g) & np.isfinite(r_lat) & np.isfinite(r_lon)
        if mine.any():
            out[known, g] = cKDTree(unit_vectors(r_lat[mine], r_lon[mine])).query(here)[0]
    return out


def _rep_labels(data: MatchData, active: np.ndarray, settings: SolverSettings) -> np.ndarray:
    reps = data.reps.iloc[active]
    if "region" in reps.columns and reps["region"].notna().all():
        return reps["region"].astype(str).to_numpy()
    owned = _majority_owned_region(data, active)
    if owned is not None:
        return owned
    return _cluster(reps, int(np.ceil(active.size / settings.max_reps_per_region)))


def _majority_owned_region(data: MatchData, active: np.ndarray) -> np.ndarray | None:
    if "region" not in data.accounts.columns:
        return None
    owners = pd.DataFrame({"rep": data.current_rep, "region": data.accounts["region"]})
    owners = owners[(owners["rep"] >= 0) & owners["region"].notna()]
    top = owners.groupby("rep")["region"].agg(lambda s: s.value_counts().index[0])
    labels = top.reindex(active)
    return labels.astype(str).to_numpy() if labels.notna().all() else None


def _cluster(reps: pd.DataFrame, k: int) -> np.ndarray:
    xyz = unit_vectors(
        reps["latitude"].fillna(0).to_numpy(float), reps["longitude"].fillna(0).to_numpy(float)
    )
    order = np.lexsort((xyz[:, 1], xyz[:, 0]))
    start = xyz[order[np.linspace(0, len(order) - 1, k).astype(int)]]
    _, label = kmeans2(xyz, start, iter=30, minit="matrix", seed=0)
    return np.array([f"cluster-{i:03d}" for i in label])


def _account_labels(data: MatchData, active: np.ndarray, labels: np.ndarray) -> np.ndarray:
    by_rep = np.full(len(data.reps), None, dtype=object)
    by_rep[active] = labels
    out = np.full(len(data.accounts), None, dtype=object)
    owner_ok = data.current_rep >= 0
    out[owner_ok] = by_rep[data.current_rep[owner_ok]]
    locked = data.lock_rep >= 0
    out[locked] = by_rep[data.lock_rep[locked]]
    if "region" in data.accounts.columns:
        own = data.accounts["region"].astype("string").to_numpy(dtype=object, na_value=None)
        known = set(labels)
        fill = np.array(
            [(o is None) and (r in known) for o, r in zip(out, own, strict=True)], dtype=bool
        )
        out[fill] = own[fill]
    missing = np.flatnonzero(np.array([o is None for o in out], dtype=bool))
    if missing.size:
        out[missing] = labels[_nearest_rep(data, active, missing)]
    return out


def _nearest_rep(data: MatchData, active: np.ndarray, rows: np.ndarray) -> np.ndarray:
    reps = data.reps.iloc[active]
    tree = cKDTree(
        unit_vectors(
            reps["latitude"].fillna(0).to_numpy(float), reps["longitude"].fillna(0).to_numpy(float)
        )
    )
    acc = data.accounts.iloc[rows]
    _, idx = tree.query(
        unit_vectors(
            acc["latitude"].fillna(0).to_numpy(float), acc["longitude"].fillna(0).to_numpy(float)
        )
    )
    return np.asarray(idx)


Budget = tuple[float | None, float | None]
"""Accounts and potential that may move by choice (None: no limit)."""


def team_budget(data: MatchData, limits: Limits) -> Budget:
    """The team's disruption budget: accounts and potential that may move by choice."""
    share, potential_share = limits.max_moved_share, limits.max_moved_potential_share
    return (
        None if share is None else float(np.floor(share * len(data.accounts) + 1e-9)),
        None if potential_share is None else potential_share * float(data.potential.sum()),
    )


def transfer_use(data: MatchData, regions: tuple[Region, ...]) -> tuple[int, float]:
    """Accounts and potential the split itself moves (its transfers)."""
    rows = np.concatenate([r.transfers for r in regions]) if regions else np.zeros(0, np.int64)
    return int(rows.size), float(data.potential[rows].sum())


def region_budgets(data: MatchData, regions: tuple[Region, ...], limits: Limits) -> list[Budget]:
    """Each region's part of what the team's budget keeps after the split's transfers: by account
    count and by potential (one unsplit region: the team's budget)."""
    moved, moved_potential = team_budget(data, limits)
    used, used_potential = transfer_use(data, regions)
    n, total = max(len(data.accounts), 1), float(data.potential.sum())
    out: list[Budget] = []
    for region in regions:
        rows = region.accounts
        count = None if moved is None else max(moved - used, 0.0) * rows.size / n
        share = float(data.potential[rows].sum()) / total if total > 0 else rows.size / n
        value = (
            None if moved_potential is None else max(moved_potential - used_potential, 0.0) * share
        )
        out.append((None if count is None else float(np.floor(count + 1e-9)), value))
    return out
