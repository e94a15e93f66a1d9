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

from dataclasses import dataclass, field, replace
from typing import Any

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
    if len(set(labels)) < 2:
        return (everyone,)
    cap = settings.max_accounts_per_region
    for attempt in range(MAX_RESPLITS + 1):
        names = sorted(set(labels))
        rep_region = np.searchsorted(names, labels)
        home = np.searchsorted(names, _account_labels(data, active, labels))
        region = balance_regions(
            home,
            _region_distances(data, active, rep_region, len(names)),
            _goals(data, active, rep_region, len(names), limits or Limits()),
        )
        sizes = np.bincount(region, minlength=len(names))
        reps_in = np.bincount(rep_region, minlength=len(names))
        over = {names[g]: int(sizes[g]) for g in np.flatnonzero((sizes > cap) & (reps_in > 1))}
        if not over or attempt == MAX_RESPLITS:
            break
        labels = _split_large(data, active, labels, cap, over)
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
    # (MatchData's columns are properties: a new array per read, so the flag says which is which)
    bands = (
        (limits.workload_band, data.workload, True),
        (limits.potential_band, data.potential, False),
    )
    for band, values, is_workload in bands:
        if band is None:
            continue
        target = values.sum() * share
        upper = target * (1 + band / 2)
        hard = is_workload and capacity.sum() > 0
        if hard:
            upper = np.minimum(upper, np.maximum(region_capacity, target))
        goals.append(Goal(values, target * (1 - band / 2), upper, hard=hard))
    if limits.workload_band is None and capacity.sum() > 0:
        fill = min(1.0, data.workload.sum() / capacity.sum())
        upper = region_capacity * (1 + fill) / 2
        goals.append(Goal(data.workload, np.full(n, -np.inf), upper, hard=True))
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
        labels = reps["region"].astype(str).to_numpy()
    else:
        labels = _majority_owned_region(data, active)
    if labels is None:
        labels = _cluster(reps, int(np.ceil(active.size / settings.max_reps_per_region)))
    return _split_large(data, active, labels, settings.max_accounts_per_region)


def _split_large(
    data: MatchData,
    active: np.ndarray,
    labels: np.ndarray,
    cap: int,
    held: dict[str, int] | None = None,
) -> np.ndarray:
    """Labels with every region that holds more than ``cap`` accounts split by where its reps
    live (k-means, again while a part is still above ``cap``): ``Midwest`` becomes
    ``Midwest-1``, ``Midwest-2``... The solver's rounding and repair work region by region and
    stall on regions of ~100k accounts (SolverSettings.max_accounts_per_region).

    A region's size is what ``held`` says it holds once balanced (the accounts it took in
    count), else what its reps own."""
    owner = data.current_rep[data.current_rep >= 0]
    owned = np.bincount(owner, minlength=len(data.reps))[active]
    out = np.asarray(labels, dtype=object).copy()
    queue = sorted(set(out))
    held = held or {}
    while queue:
        name = queue.pop()
        members = np.flatnonzero(out == name)
        size = held.get(name, int(owned[members].sum()))
        if size <= cap or members.size < 2:
            continue
        parts = _cluster(data.reps.iloc[active[members]], min(members.size, -(-size // cap)))
        names = sorted(set(parts))
        if len(names) < 2:
            continue
        for i, part in enumerate(names, start=1):
            out[members[parts == part]] = f"{name}-{i}"
            queue.append(f"{name}-{i}")
    return out.astype(str)


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


MAX_RESPLITS = 2
"""Times a balanced split is split again where balancing filled a region past
``max_accounts_per_region`` (then balanced again). On the 1M-account sample world, South-2-1's
reps owned 41,027 accounts and balancing moved ~9,600 more in: 50,613 accounts x 119 reps whose
repair found no plan in ~500 s."""


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


def capacity_share(data: MatchData, r_rows: np.ndarray) -> np.ndarray:
    """Each rep's share of the active team's capacity (equal shares without capacity)."""
    team = np.flatnonzero(data.active)
    capacity = np.nan_to_num(data.reps["capacity"].to_numpy(float))
    total_capacity = capacity[team].sum()
    if total_capacity > 0:
        return capacity[r_rows] / total_capacity
    return np.full(r_rows.size, 1 / max(team.size, 1))


def rep_limits(
    data: MatchData, r_rows: np.ndarray, limits: Limits
) -> list[tuple[str, float | None, np.ndarray, np.ndarray, np.ndarray]]:
    """(row name, band, value per account, lower, upper per rep) for each limit on a rep's book.

    A band's target is the team's total times the rep's share of the team's capacity (equal
    shares without capacity), the same in every region of a split; a rep's workload is also
    capped by its capacity (tighter than the band's upper end on most sample worlds)."""
    share = capacity_share(data, r_rows)
    out = []
    for name, band, values in (
        ("workload_band", limits.workload_band, data.workload),
        ("potential_band", limits.potential_band, data.potential),
    ):
        if band is not None:
            target = values.sum() * share
            out.append((name, band, values, target * (1 - band), target * (1 + band)))
    raw = data.reps["capacity"].to_numpy(float)[r_rows]
    cap = np.where(np.isfinite(raw), raw, np.inf)
    out.append(("capacity", None, data.workload, np.full(r_rows.size, -np.inf), cap))
    return out


@dataclass(frozen=True)
class Need:
    """What a region's books must move by choice: an estimate (``accounts``, ``potential``) and
    its part that is a lower bound (``shed_*``: what reps over a limit must shed at least)."""

    accounts: int
    potential: float
    shed_accounts: int
    shed_potential: float
    reps_over: int
    """Reps above their capacity or a band's upper end."""


def region_need(data: MatchData, region: Region, limits: Limits) -> Need:
    """Accounts and potential the region's books must move by choice to meet its reps' limits.

    An estimate: each rep above a limit sheds its largest unlocked accounts until it is under
    (on the 2,000-account sample world: 173 accounts, where the LP relaxation proves 170 are
    needed), and the reps below a band gain the shortfall that the accounts without an owner in
    the region (departed reps', the split's transfers) do not fill, in accounts of the region's
    mean size; the larger of shedding and gaining, since one move does both."""
    rows, reps = region.accounts, region.reps
    local_of = np.full(len(data.reps), -1, dtype=np.int64)
    local_of[reps] = np.arange(reps.size)
    owner = data.current_rep[rows]
    local = np.where(owner >= 0, local_of[np.maximum(owner, 0)], -1)
    local[np.isin(rows, region.transfers)] = -1
    owned = local >= 0
    free = owned & (data.lock_rep[rows] < 0)
    potential = data.potential[rows]
    shed = np.zeros(reps.size)
    shed_potential = np.zeros(reps.size)
    gained, gained_potential = 0.0, 0.0
    for name, _band, values, lower, upper in rep_limits(data, reps, limits):
        v = values[rows]
        load = np.bincount(local[owned], weights=v[owned], minlength=reps.size)
        for r in np.flatnonzero(load > upper + 1e-9):
            excess = load[r] - upper[r]
            mine = np.flatnonzero(free & (local == r))
            largest = mine[np.argsort(-v[mine], kind="stable")]
            k = int(np.searchsorted(np.cumsum(v[largest]), excess - 1e-9)) + 1
            shed[r] = max(shed[r], min(k, mine.size))
            shed_potential[r] = max(
                shed_potential[r],
                _least_potential(potential, v, mine, excess, name == "potential_band"),
            )
        short = float(np.maximum(lower - load, 0.0).sum()) - float(v[~owned].sum())
        mean = float(v.mean()) if v.size else 0.0
        if short > 0 and mean > 0:
            gained = max(gained, float(np.ceil(short / mean)))
            if name == "potential_band":
                gained_potential = max(gained_potential, short)
    return Need(
        int(max(shed.sum(), gained)),
        float(max(shed_potential.sum(), gained_potential)),
        int(shed.sum()),
        float(shed_potential.sum()),
        int((shed > 0).sum()),
    )


def _least_potential(
    potential: np.ndarray, v: np.ndarray, rows: np.ndarray, excess: float, same: bool
) -> float:
    """The least potential whose accounts among ``rows`` carry ``excess`` of ``v`` (fractional
    knapsack: accounts with the least potential per unit of ``v`` first; a lower bound)."""
    if same:  # the row is potential itself: at least the excess
        return float(min(excess, potential[rows].sum()))
    ratio = potential[rows] / np.maximum(v[rows], 1e-12)
    order = rows[np.argsort(ratio, kind="stable")]
    carried = np.cumsum(v[order])
    whole = int(np.searchsorted(carried, excess - 1e-9))
    if whole >= order.size:
        return float(potential[order].sum())
    before = carried[whole - 1] if whole else 0.0
    part = (excess - before) / max(v[order[whole]], 1e-12)
    return float(potential[order[:whole]].sum() + part * potential[order[whole]])


def region_budgets(data: MatchData, regions: tuple[Region, ...], limits: Limits) -> list[Budget]:
    """Each region's part of what the team's budget keeps after the split's transfers, by
    account count and by potential (one unsplit region: the team's budget).

    Need first: every region gets what ``region_need`` says its books must move, and the rest
    is shared by the region's share of accounts (count) or of potential. Shared by size alone,
    a region whose reps were over capacity got too little: at 9% on the 100k-account sample
    world, Midwest ended with a rep over capacity while others left budget unused. When the
    team's budget is below the summed need, each region gets its need's share of it."""
    moved, moved_potential = team_budget(data, limits)
    if len(regions) < 2:
        return [(moved, moved_potential)] * len(regions)
    used, used_potential = transfer_use(data, regions)
    needs = [region_need(data, region, limits) for region in regions]
    n, total = max(len(data.accounts), 1), float(data.potential.sum())
    sizes = np.array([r.accounts.size / n for r in regions])
    weights = np.array([float(data.potential[r.accounts].sum()) for r in regions])
    weights = weights / total if total > 0 else sizes
    counts = _shares(moved, used, np.array([x.accounts for x in needs], float), sizes)
    values = _shares(
        moved_potential, used_potential, np.array([x.potential for x in needs]), weights
    )
    return [
        (None if counts is None else float(np.floor(counts[i] + 1e-9)),
         None if values is None else float(values[i]))
        for i in range(len(regions))
    ]  # fmt: skip


def _shares(budget, used, need: np.ndarray, weight: np.ndarray) -> np.ndarray | None:
    """``budget`` less ``used``, split: each its ``need`` (x ``NEED_MARGIN`` where the budget
    allows; below the summed need, in proportion to it), the rest by ``weight``."""
    if budget is None:
        return None
    left = max(budget - used, 0.0)
    total_need = float(need.sum())
    if total_need <= 0:
        return left * weight
    first = need * min(NEED_MARGIN, left / total_need)
    return first + max(left - float(first.sum()), 0.0) * weight


NEED_MARGIN = 1.5
"""A grown budget is the split's transfers plus this times what reps over a limit must shed at
least: whole accounts, the other limits and the solver need room beyond the bound. Measured on the
100k-account sample world with default.yaml: at 1.15x two runs ended without a plan (a Midwest
rep 5.6% over capacity; with no potential budget, a South rep 1.6% over), at 1.5x the plan was
feasible in 286 s; on the 2,000-account world the bound is 173 accounts and a plan needs 182."""


def grown_budget(
    data: MatchData, regions: tuple[Region, ...], limits: Limits
) -> tuple[Limits, dict[str, Any]]:
    """The limits with the disruption budget raised to what the team's books need, when
    ``limits.budget_grows_to_need`` is set and that is more; and what was decided, for the plan.

    The need is a lower bound made safe: the accounts the split moves across region borders plus
    ``NEED_MARGIN`` x the accounts (and potential) that reps above their capacity or a band's
    upper end must shed at least. On the 100k-account sample world 167 reps must shed at least
    11,776 accounts and the split moves 5,054: no plan keeping every rep within capacity moves
    single-digit percent there, so a 9% budget grows to 22.7% (1.5x) and says so."""
    moved, moved_potential = team_budget(data, limits)
    needs = [region_need(data, region, limits) for region in regions]
    used, used_potential = transfer_use(data, regions)
    n, total = max(len(data.accounts), 1), float(data.potential.sum())
    shed = sum(x.shed_accounts for x in needs)
    need_share = min(1.0, (used + NEED_MARGIN * shed) / n)
    need_value = used_potential + NEED_MARGIN * sum(x.shed_potential for x in needs)
    need_potential_share = min(1.0, need_value / total) if total > 0 else 0.0
    share, potential_share = limits.max_moved_share, limits.max_moved_potential_share
    grow = limits.budget_grows_to_need
    new_share = share if share is None or not grow else max(share, need_share)
    new_potential = (
        potential_share
        if potential_share is None or not grow
        else max(potential_share, need_potential_share)
    )
    info = {
        "max_moved_share": share,
        "max_moved_potential_share": potential_share,
        "needed_share": round(need_share, 4),
        "needed_potential_share": round(need_potential_share, 4),
        "reps_over_limits": sum(x.reps_over for x in needs),
        "must_shed_accounts": shed,
        "split_transfers": used,
        "grows_to_need": grow,
        "used_share": new_share,
        "used_potential_share": new_potential,
    }
    info["note"] = budget_note(info, moved is not None or moved_potential is not None)
    return replace(limits, max_moved_share=new_share, max_moved_potential_share=new_potential), info


def budget_note(info: dict[str, Any], has_budget: bool) -> str:
    """One sentence on the disruption budget the plan used, with the need behind it."""
    need = (
        f"{info['reps_over_limits']:,} rep(s) above their capacity or band must shed at least "
        f"{info['must_shed_accounts']:,} accounts"
        + (
            f" and balancing the regions moves {info['split_transfers']:,}"
            if info["split_transfers"]
            else ""
        )
    )
    if not has_budget:
        return f"No disruption budget; {need}."
    grown = [
        f"{label} from {before:.1%} to {after:.1%}"
        for label, before, after in (
            ("accounts", info["max_moved_share"], info["used_share"]),
            ("potential", info["max_moved_potential_share"], info["used_potential_share"]),
        )
        if before is not None and after > before + 1e-12
    ]
    if grown:
        return (
            f"Disruption budget raised ({'; '.join(grown)}) to what keeping every rep within "
            f"capacity and bands needs: {need} (x{NEED_MARGIN:g}: room for whole accounts and "
            "the other limits). Set "
            "`limits.budget_grows_to_need: false` to keep the scenario's budget; the plan then "
            "says what to widen."
        )
    budget = info["max_moved_share"]
    shown = f" {budget:.0%} of accounts" if budget is not None else ""
    return f"Disruption budget{shown} kept: {need}."
