"""The month-by-month history: ownership changes, rep turnover, opportunities and activities."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.sample_world.accounts import Accounts
from features.sample_world.activities import deal_activities, routine_activities
from features.sample_world.config import SampleConfig, WorldParams
from features.sample_world.deals import month_exposure, month_opportunities
from features.sample_world.ownership import (
    Ownership,
    depart,
    initial_ownership,
    open_new_accounts,
    rebalance,
    rep_effort,
    settle_pending,
)
from features.sample_world.reps import NO_DAY, Roster, initial_roster


@dataclass(frozen=True)
class History:
    """Everything that happened: reps ever employed, ownership spells, opportunities, activities.

    Arrays hold account and rep numbers (0-based) and days since 1970-01-01; NO_DAY = empty.
    """

    roster: Roster
    spells: dict[str, np.ndarray]
    opportunities: dict[str, np.ndarray]
    activities: dict[str, np.ndarray]
    owner_at_end: np.ndarray


@dataclass(frozen=True)
class YearAfterPlan:
    """A plan applied the day after history ends, and how long to simulate under it.

    ``owners(n_reps)`` gives the planned rep row per account (-1 = keep its owner) once the roster
    is known. The months after the plan draw from their own ``rng``, so the history before it is
    the world's own, unchanged.
    """

    owners: Callable[[int], np.ndarray]
    last_day: int
    rng: np.random.Generator


def month_bounds(start_day: int, end_day: int) -> list[tuple[int, int]]:
    """Calendar months covering [start_day, end_day] as (first day, last day), clipped to it."""
    first = np.datetime64(int(start_day), "D").astype("datetime64[M]")
    last = np.datetime64(int(end_day), "D").astype("datetime64[M]")
    months = np.arange(first, last + 1)
    starts = months.astype("datetime64[D]").astype(np.int64)
    ends = (months + 1).astype("datetime64[D]").astype(np.int64) - 1
    return [
        (max(int(s), start_day), min(int(e), end_day)) for s, e in zip(starts, ends, strict=True)
    ]


def _concat(
    parts: list[dict[str, np.ndarray]], order_by: str, start_day: int
) -> dict[str, np.ndarray]:
    """Concatenate same-keyed chunks, sorted stably by the day in `order_by`.

    Days since the start fit in uint16, where numpy's stable sort is a radix sort: linear time
    at tens of millions of rows. Ties keep generation order (by account within a month).
    """
    merged = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    order = np.argsort((merged[order_by] - start_day).astype(np.uint16), kind="stable")
    return {key: value[order] for key, value in merged.items()}


def _drop_after_leaving(
    activities: dict[str, np.ndarray], roster: Roster, end_day: int
) -> dict[str, np.ndarray]:
    """Deal touches planned after the rep left (or after the end date) never happened."""
    left = np.where(
        activities["rep"] >= 0, roster.left_day[np.maximum(activities["rep"], 0)], NO_DAY
    )
    keep = (activities["day"] < left) & (activities["day"] <= end_day)
    return {key: value[keep] for key, value in activities.items()}


def simulate_history(
    config: SampleConfig,
    params: WorldParams,
    accounts: Accounts,
    cities: pd.DataFrame,
    window: tuple[int, int],
    rng: np.random.Generator,
    on_month: Callable[[], None] | None = None,
    after: YearAfterPlan | None = None,
) -> History:
    """Run the world from the window start to the end date, one calendar month at a time.

    With `after`, deals still open at the end date close on their drawn day if it falls before
    ``after.last_day``, and the months after the end date run under the plan's owners.
    """
    start_day, end_day = window
    horizon = end_day if after is None else after.last_day
    xyz = accounts.xyz
    workload = accounts.workload()
    capacity_unit = params.capacity_slack * float(workload.sum()) / config.n_reps
    roster = initial_roster(config.n_reps, start_day, cities, capacity_unit, params, rng)
    state = initial_ownership(accounts, xyz, roster, start_day, params, rng)
    opportunities, activities = [], []
    for month in month_bounds(start_day, end_day):
        roster = depart(state, roster, cities, capacity_unit, month, end_day, params, rng)
        open_new_accounts(state, accounts, month, end_day, rng)
        settle_pending(state, accounts, xyz, roster, month[1], params, rng)
        rebalance(state, accounts, xyz, roster, month, params, rng)
        effort = rep_effort(state, workload, roster, params)
        exposure = month_exposure(accounts, state, roster, effort, month, end_day, params)
        opps = month_opportunities(exposure, accounts, horizon, params, rng)
        opportunities.append(opps)
        activities.append(routine_activities(exposure, accounts, roster, params, rng))
        # Touches stop at the end date as in a world without a future (same draws either way).
        activities.append(deal_activities(opps, end_day, params, rng))
        if on_month is not None:
            on_month()
    if after is not None:
        future = _months_after(after, state, accounts, roster, workload, end_day, params)
        opportunities.extend(future[0])
        activities.extend(future[1])
    account, rep, start, end = state.spells()
    return History(
        roster=roster,
        spells={"account": account, "rep": rep, "start": start, "end": end},
        opportunities=_concat(opportunities, "created", start_day),
        activities=_drop_after_leaving(_concat(activities, "day", start_day), roster, horizon),
        owner_at_end=state.owner.copy(),
    )


def _months_after(
    after: YearAfterPlan,
    state: Ownership,
    accounts: Accounts,
    roster: Roster,
    workload: np.ndarray,
    end_day: int,
    params: WorldParams,
) -> tuple[list[dict[str, np.ndarray]], list[dict[str, np.ndarray]]]:
    """Apply the plan the day after `end_day`, then run its months: no departures, no new
    accounts, no manager moves, so every change in revenue comes from the plan's owners."""
    first = end_day + 1
    owner = after.owners(len(roster))
    rows = np.flatnonzero((owner >= 0) & (owner != state.owner))
    state.close(rows, first)
    state.open(rows, owner[rows], first)
    opportunities, activities = [], []
    for month in month_bounds(first, after.last_day):
        effort = rep_effort(state, workload, roster, params)
        exposure = month_exposure(accounts, state, roster, effort, month, end_day, params)
        opps = month_opportunities(exposure, accounts, after.last_day, params, after.rng)
        opportunities.append(opps)
        activities.append(routine_activities(exposure, accounts, roster, params, after.rng))
        activities.append(deal_activities(opps, after.last_day, params, after.rng))
    return opportunities, activities
