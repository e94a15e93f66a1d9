"""Who owns which account, month by month: first owners, rep departures, new accounts, moves."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from features.sample_world.accounts import DAYS_PER_YEAR, Accounts
from features.sample_world.config import WorldParams
from features.sample_world.places import chord_to_km, jitter
from features.sample_world.reps import NO_DAY, Roster, draw_reps, monthly_leave_probability

NEW_HIRE_EXPERIENCE_YEARS = 3.0


# Mutable on purpose: the month loop updates millions of rows in place; copying the state every
# month would multiply memory and time at 1M accounts.
@dataclass
class Ownership:
    """Current owner (-1 = none) per account, since when, pending assignments, closed spells."""

    owner: np.ndarray
    since: np.ndarray
    pending_owner: np.ndarray
    pending_day: np.ndarray
    closed: list[tuple[np.ndarray, ...]] = field(default_factory=list)

    def close(self, rows: np.ndarray, day: np.ndarray | int) -> None:
        """End the current spell of `rows` on `day`; they are unowned from then on."""
        day = np.broadcast_to(np.asarray(day, dtype=np.int64), rows.shape)
        owned = self.owner[rows] >= 0
        self.closed.append(
            (rows[owned], self.owner[rows[owned]], self.since[rows[owned]], day[owned].copy())
        )
        self.owner[rows] = -1
        self.since[rows] = day

    def open(self, rows: np.ndarray, reps: np.ndarray, day: np.ndarray | int) -> None:
        """Give `rows` to `reps` from `day` on and clear anything pending for them."""
        self.owner[rows] = reps
        self.since[rows] = day
        self.pending_owner[rows] = -1
        self.pending_day[rows] = NO_DAY

    def spells(self) -> tuple[np.ndarray, ...]:
        """All ownership spells (account, rep, start, end); end is NO_DAY for current owners."""
        current = np.flatnonzero(self.owner >= 0)
        parts = [
            *self.closed,
            (
                current,
                self.owner[current],
                self.since[current],
                np.full(len(current), NO_DAY, dtype=np.int64),
            ),
        ]
        return tuple(np.concatenate([p[i] for p in parts]) for i in range(4))


def choose_owners(
    rows: np.ndarray,
    accounts: Accounts,
    xyz: np.ndarray,
    roster: Roster,
    pool: np.ndarray,
    params: WorldParams,
    rng: np.random.Generator,
    exclude: np.ndarray | None = None,
) -> np.ndarray:
    """CRM-rule owners: usually one of the nearest reps (experts favoured), sometimes anyone."""
    k = min(params.assign_candidates, len(pool))
    chord, j = cKDTree(roster.xyz[pool]).query(xyz[rows], k=k)
    j = np.asarray(j).reshape(len(rows), k)
    dist_km = chord_to_km(np.reshape(chord, (len(rows), k)))
    candidates = pool[j]
    expert = roster.expertise[candidates, accounts.industry[rows][:, None]]
    weights = np.exp(-dist_km / params.assign_distance_km) * (
        1.0 + params.assign_match_boost * expert
    )
    if exclude is not None:
        weights[candidates == exclude[:, None]] = 0.0
    weights[weights.sum(axis=1) == 0.0] = 1.0
    cumulative = np.cumsum(weights, axis=1)
    u = rng.random(len(rows)) * cumulative[:, -1]
    pick = np.minimum((cumulative <= u[:, None]).sum(axis=1), k - 1)
    chosen = candidates[np.arange(len(rows)), pick]
    far = rng.random(len(rows)) < params.far_owner_share
    chosen[far] = pool[rng.integers(0, len(pool), int(far.sum()))]
    return chosen


def initial_ownership(
    accounts: Accounts,
    xyz: np.ndarray,
    roster: Roster,
    start_day: int,
    params: WorldParams,
    rng: np.random.Generator,
) -> Ownership:
    """Owners at the start of history; a few old accounts wait unowned, new ones don't exist yet."""
    n = len(accounts)
    state = Ownership(
        owner=np.full(n, -1, dtype=np.int64),
        since=accounts.created_day.copy(),
        pending_owner=np.full(n, -1, dtype=np.int64),
        pending_day=np.full(n, NO_DAY, dtype=np.int64),
    )
    old = accounts.created_day < start_day
    unowned = old & (rng.random(n) < params.initially_unowned_share)
    rows = np.flatnonzero(old & ~unowned)
    reps = choose_owners(rows, accounts, xyz, roster, np.arange(len(roster)), params, rng)
    back = start_day - rng.integers(1, int(4 * DAYS_PER_YEAR), len(rows))
    since = np.maximum.reduce([back, accounts.created_day[rows], roster.hire_day[reps]])
    state.open(rows, reps, np.minimum(since, start_day - 1))
    late = np.flatnonzero(unowned)
    state.pending_day[late] = start_day + rng.integers(0, 181, len(late))
    return state


def depart(
    state: Ownership,
    roster: Roster,
    cities: pd.DataFrame,
    capacity_unit: float,
    month: tuple[int, int],
    end_day: int,
    params: WorldParams,
    rng: np.random.Generator,
) -> Roster:
    """Reps who leave this month, their replacements, and their accounts set to move."""
    d0, d1 = month
    employed = roster.active_on(d0)
    leaving = np.flatnonzero(
        employed & (rng.random(len(roster)) < monthly_leave_probability(roster.level, params))
    )
    if len(leaving) == 0:
        return roster
    leave_day = d0 + rng.integers(0, d1 - d0 + 1, len(leaving))
    roster = roster.with_departures(leaving, leave_day)
    same_city = rng.random(len(leaving)) < params.replacement_same_city
    hires = draw_reps(
        len(leaving),
        np.minimum(leave_day + rng.integers(0, 46, len(leaving)), end_day),
        NEW_HIRE_EXPERIENCE_YEARS,
        cities,
        capacity_unit,
        params,
        rng,
    )
    hires_city = np.where(same_city, roster.city[leaving], hires.city)
    hires = _rehome(hires, hires_city, cities, rng)
    replacement = np.full(len(roster) + len(leaving), -1, dtype=np.int64)
    replacement[leaving] = len(roster) + np.arange(len(leaving))
    roster = roster.concat(hires)
    state.pending_owner[np.isin(state.pending_owner, leaving)] = -1
    _release_book(
        state,
        roster,
        np.flatnonzero(np.isin(state.owner, leaving)),
        replacement,
        end_day,
        params,
        rng,
    )
    return roster


def _rehome(
    hires: Roster, city: np.ndarray, cities: pd.DataFrame, rng: np.random.Generator
) -> Roster:
    """New hires based in `city` (the leaver's city for most replacements)."""
    lat, lon = jitter(
        cities["latitude"].to_numpy()[city], cities["longitude"].to_numpy()[city], 3.0, rng
    )
    return replace(hires, city=city.astype(np.int32), latitude=lat, longitude=lon)


def _release_book(
    state: Ownership,
    roster: Roster,
    rows: np.ndarray,
    replacement: np.ndarray,
    end_day: int,
    params: WorldParams,
    rng: np.random.Generator,
) -> None:
    """A leaver's accounts: unowned from the leave day, then to the replacement or a neighbour."""
    leaver = state.owner[rows]
    left_on = roster.left_day[leaver]
    state.close(rows, left_on)
    takes = rng.random(len(rows)) < params.replacement_takes_book
    successor = replacement[leaver]
    gap = np.where(rng.random(len(rows)) < 0.4, 0, rng.integers(7, 61, len(rows)))
    handover = roster.hire_day[successor] + rng.integers(0, 15, len(rows))
    state.pending_owner[rows] = np.where(takes, successor, -1)
    state.pending_day[rows] = np.minimum(np.where(takes, handover, left_on + gap), end_day)


def open_new_accounts(
    state: Ownership,
    accounts: Accounts,
    month: tuple[int, int],
    end_day: int,
    rng: np.random.Generator,
) -> None:
    """Accounts created this month wait a little, then get an owner by the CRM rule."""
    d0, d1 = month
    rows = np.flatnonzero((accounts.created_day >= d0) & (accounts.created_day <= d1))
    delay = np.where(rng.random(len(rows)) < 0.5, 0, rng.integers(10, 121, len(rows)))
    state.since[rows] = accounts.created_day[rows]
    state.pending_day[rows] = np.minimum(accounts.created_day[rows] + delay, end_day)


def settle_pending(
    state: Ownership,
    accounts: Accounts,
    xyz: np.ndarray,
    roster: Roster,
    d1: int,
    params: WorldParams,
    rng: np.random.Generator,
) -> None:
    """Assign every account whose pending day has come (promised rep if still there, else rule)."""
    rows = np.flatnonzero(state.pending_day <= d1)
    if len(rows) == 0:
        return
    day = state.pending_day[rows]
    target = state.pending_owner[rows].copy()
    pool = np.flatnonzero(roster.active_on(d1))
    need = (target < 0) | (roster.left_day[np.maximum(target, 0)] <= d1)
    target[need] = choose_owners(rows[need], accounts, xyz, roster, pool, params, rng)
    state.open(rows, target, np.maximum(day, roster.hire_day[target]))


def rebalance(
    state: Ownership,
    accounts: Accounts,
    xyz: np.ndarray,
    roster: Roster,
    month: tuple[int, int],
    params: WorldParams,
    rng: np.random.Generator,
) -> None:
    """Occasional manager moves of settled accounts to another nearby rep."""
    d0, d1 = month
    settled = np.flatnonzero((state.owner >= 0) & (state.since < d0))
    monthly = 1.0 - (1.0 - params.rebalance_rate) ** (1.0 / 12.0)
    rows = settled[rng.random(len(settled)) < monthly]
    pool = np.flatnonzero(roster.active_on(d1))
    if len(rows) == 0 or len(pool) < 2:
        return
    new = choose_owners(rows, accounts, xyz, roster, pool, params, rng, exclude=state.owner[rows])
    moved = new != state.owner[rows]
    rows, new = rows[moved], new[moved]
    day = np.maximum(d0 + rng.integers(0, d1 - d0 + 1, len(rows)), roster.hire_day[new])
    state.close(rows, day)
    state.open(rows, new, day)


def rep_effort(
    state: Ownership, workload: np.ndarray, roster: Roster, params: WorldParams
) -> np.ndarray:
    """Per rep, the share of normal effort each account gets: below 1 when over capacity."""
    owned = state.owner >= 0
    load = np.bincount(state.owner[owned], weights=workload[owned], minlength=len(roster))
    ratio = roster.capacity / np.maximum(load, 1e-9)
    return np.minimum(1.0, ratio) ** params.overload_exponent
