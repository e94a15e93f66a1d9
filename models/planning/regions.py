"""Split a plan into regions that are solved on their own (decomposition for scale).

Each region gets a set of active reps and the accounts that stay or land there; bands are then
measured against the region's own mean and the disruption budget is shared out by account count.
Reps take their region from the `region` column when every active rep has one (else from the
majority region of the accounts they own); without labels, reps are clustered by home location
(k-means on the unit sphere, deterministic). An account goes to its current active owner's region,
else to its own label's region, else to its nearest rep's region, so no account is moved across a
region border just because of the split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.cluster.vq import kmeans2
from scipy.spatial import cKDTree

from models.planning.candidates import unit_vectors
from models.planning.match_data import MatchData
from models.planning.scenario import SolverSettings


@dataclass(frozen=True)
class Region:
    """Account rows and active rep rows (positions into MatchData frames) of one region."""

    name: str
    accounts: np.ndarray
    reps: np.ndarray


def split_regions(data: MatchData, settings: SolverSettings) -> tuple[Region, ...]:
    """One region unless decomposition is asked for (or, on "auto", the team is large)."""
    active = np.flatnonzero(data.active)
    everyone = Region("all", np.arange(len(data.accounts)), active)
    wants = settings.decompose == "region" or (
        settings.decompose == "auto" and active.size > settings.max_reps_per_region
    )
    if not wants or active.size < 2:
        return (everyone,)
    labels = _rep_labels(data, active, settings)
    account_labels = _account_labels(data, active, labels)
    regions = []
    for name in sorted(set(labels)):
        reps = active[labels == name]
        accounts = np.flatnonzero(account_labels == name)
        regions.append(Region(str(name), accounts, reps))
    return tuple(regions)


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
