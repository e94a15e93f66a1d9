"""The ceiling for a backtest: each account's expected won revenue closed in a window, from truth.

The label of a snapshot at `start` is the won amount with closed_at in [start, stop). Its best
possible prediction, knowing the hidden truth and everything in the CRM before `start`, is

    pipeline part   sum over opportunities open at `start` that close in the window of
                    P(win | owner at creation) * amount
    new-deal part   sum over months in the window of the expected won revenue created that month
                    by the owner of that time (P_a * multiplier ** 0.7 * effort, win cap included)
                    times the chance its sales cycle ends before `stop`

Owners come from the export's ownership history (assignments), rep load from truth workloads and
capacities, exactly as the generator's month step uses them (deals.month_exposure). The one
approximation: the pipeline part takes each open deal's realised close date, and the cycle of a
new deal uses the account's median deal size (its hidden size factor is not kept in truth).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy.stats import norm

from features.geography import haversine_km
from features.sample_world.accounts import DAYS_PER_YEAR
from features.sample_world.deals import MAX_WIN_PROBABILITY
from features.sample_world.history import month_bounds
from features.sample_world.truth import Truth
from features.sample_world.value import expertise_matrix, pair_multiplier
from features.tables import CrmTables

WindowOracle = Callable[[pd.Timestamp, pd.Timestamp], pd.Series]


def _day(value) -> int:
    return int(pd.Timestamp(value).normalize().value // 86_400_000_000_000)


def _days(values: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 per date; empty dates become a far-future day."""
    stamps = pd.to_datetime(values).dt.normalize()
    out = np.full(len(stamps), 10**7, dtype=np.int64)
    known = stamps.notna().to_numpy()
    out[known] = stamps[known].to_numpy().astype("datetime64[D]").astype(np.int64)
    return out


class _Pairs:
    """Multiplier of any (account row, rep row) pair, from truth accounts and reps."""

    def __init__(self, truth: Truth) -> None:
        accounts, reps = truth.accounts, truth.reps
        names = sorted(accounts["industry"].astype(str).unique())
        self.expertise = expertise_matrix(reps["industries"], names)
        self.industry = pd.Index(names).get_indexer(accounts["industry"].astype(str))
        self.lat, self.lon = accounts["latitude"].to_numpy(), accounts["longitude"].to_numpy()
        self.rep_lat = reps["home_latitude"].to_numpy()
        self.rep_lon = reps["home_longitude"].to_numpy()
        self.skill = reps["true_skill"].to_numpy(dtype=float)
        self.params = truth.params

    def multiplier(self, a: np.ndarray, r: np.ndarray) -> np.ndarray:
        """exp(skill, match, distance terms) for owned pairs; 1 where r < 0 (unowned)."""
        rep = np.maximum(r, 0)
        dist = haversine_km(self.lat[a], self.lon[a], self.rep_lat[rep], self.rep_lon[rep])
        match = self.expertise[rep, self.industry[a]]
        value = pair_multiplier(self.skill[rep], match, dist, self.params)
        return np.where(r >= 0, value, 1.0)


def _win_probability(win0: np.ndarray, multiplier: np.ndarray, share: float) -> np.ndarray:
    return np.minimum(win0 * multiplier**share, MAX_WIN_PROBABILITY)


def _pipeline_part(truth, tables, pairs, account_pos, rep_pos, start, stop) -> np.ndarray:
    """Expected won amount of the deals open at `start` that close in [start, stop)."""
    opps = tables.opportunities
    created, closed = _days(opps["created_at"]), _days(opps["closed_at"])
    open_then = (created < start) & (closed >= start) & (closed < stop)
    chosen = opps[open_then]
    a = account_pos.get_indexer(chosen["account_id"])
    r = rep_pos.get_indexer(chosen["rep_id"].fillna(""))
    win0 = truth.accounts["win_rate_base"].to_numpy(dtype=float)[a]
    p = _win_probability(win0, pairs.multiplier(a, r), truth.params.win_share)
    return np.bincount(
        a, weights=p * chosen["amount"].to_numpy(float), minlength=len(truth.accounts)
    )


def _owner_at(spells: pd.DataFrame, n_accounts: int, day: int) -> tuple[np.ndarray, np.ndarray]:
    """Owner row (-1 = none) and the day its spell began, per account, on `day`."""
    owner = np.full(n_accounts, -1, dtype=np.int64)
    since = np.full(n_accounts, -(10**7), dtype=np.int64)
    live = spells[(spells["start"] <= day) & (spells["end"] > day)]
    owner[live["a"].to_numpy()] = live["r"].to_numpy()
    since[live["a"].to_numpy()] = live["start"].to_numpy()
    # An unowned account restarts its clock when its last spell closed (Ownership.close).
    ended = spells[spells["end"] <= day].groupby("a")["end"].max()
    free = owner[ended.index.to_numpy()] < 0
    since[ended.index.to_numpy()[free]] = ended.to_numpy()[free]
    return owner, since


def _close_before(stop: int, first: np.ndarray, last: int, cycle: np.ndarray, sd: float):
    """Chance a deal created uniformly in [first, last] closes before `stop` (3-point rule)."""
    total = np.zeros(len(first))
    for created, weight in ((first, 1 / 6), ((first + last) / 2, 4 / 6), (last, 1 / 6)):
        room = np.maximum(stop - created, 1e-9)
        total += weight * norm.cdf(np.log(room / cycle) / sd)
    return total


def _new_deal_part(truth, spells, pairs, start, stop, until: int | None = None) -> np.ndarray:
    """Expected won amount created in [start, stop) that also closes before `stop`.

    Deals are created up to `until` (default: the world's end date; later for a world simulated
    past a plan); potential keeps its anchor at the end date either way.
    """
    acc, params = truth.accounts, truth.params
    n = len(acc)
    end_day = _day(truth.config.end_date)
    last_created = end_day if until is None else until
    created_day = _days(acc["created_at"])
    log_p, trend = acc["log_potential_at_end"].to_numpy(float), acc["trend_per_year"].to_numpy()
    win0 = acc["win_rate_base"].to_numpy(dtype=float)
    median = np.exp(acc["log_base"].to_numpy(dtype=float))
    workload = acc["workload"].to_numpy(dtype=float)
    capacity = truth.reps["capacity"].to_numpy(dtype=float)
    total = np.zeros(n)
    for d0, d1 in month_bounds(start, min(stop - 1, last_created)):
        owner, since = _owner_at(spells, n, d1)
        owned = owner >= 0
        load = np.bincount(owner[owned], weights=workload[owned], minlength=len(capacity))
        effort_rep = np.minimum(1.0, capacity / np.maximum(load, 1e-9)) ** params.overload_exponent
        effort = np.where(owned, effort_rep[np.maximum(owner, 0)], params.unowned_arrival_factor)
        first = np.maximum.reduce([np.full(n, d0), since, created_day])
        share = np.clip((d1 - first + 1) / (d1 - d0 + 1), 0.0, 1.0)
        mid_years = ((d0 + d1) / 2.0 - end_day) / DAYS_PER_YEAR
        potential = np.exp(log_p + trend * mid_years)
        m = pairs.multiplier(np.arange(n), owner)
        win = _win_probability(win0, m, params.win_share)
        created = (
            potential * effort * share / 12.0 * m ** (params.arrival_share + params.amount_share)
        )
        created = created * win / win0
        size = params.deal_size_median * (potential / median) ** params.deal_size_elasticity
        cycle = params.cycle_median_days * (size / params.deal_size_median) ** (
            params.cycle_size_elasticity
        )
        reach = _close_before(
            stop, np.minimum(first, d1).astype(float), d1, cycle, params.cycle_log_sd
        )
        total += np.where(first <= d1, created * reach, 0.0)
    return total


def expected_revenue_between(
    truth: Truth,
    tables: CrmTables,
    start: pd.Timestamp,
    stop: pd.Timestamp,
    *,
    until: pd.Timestamp | None = None,
) -> pd.Series:
    """Expected won revenue closed in [start, stop) under the owners of that time, by account_id.

    `tables` must be the export of the same world (its ownership history and opportunities).
    `until`: the last day the world was simulated, when past its end date (simulate_year_after).
    """
    account_pos = pd.Index(truth.accounts["account_id"].astype(str))
    rep_pos = pd.Index(truth.reps["rep_id"].astype(str))
    pairs = _Pairs(truth)
    assignments = tables.assignments
    spells = pd.DataFrame(
        {
            "a": account_pos.get_indexer(assignments["account_id"].astype(str)),
            "r": rep_pos.get_indexer(assignments["rep_id"].astype(str)),
            "start": _days(assignments["start_date"]),
            "end": _days(assignments["end_date"]),
        }
    )
    unknown = int(((spells["a"] < 0) | (spells["r"] < 0)).sum())
    if unknown:
        raise KeyError(
            f"{unknown} assignment row(s) name accounts or reps missing from the truth files; "
            "pass the export and the truth of the same sample world."
        )
    s, e = _day(start), _day(stop)
    last = None if until is None else _day(until)
    values = _pipeline_part(truth, tables, pairs, account_pos, rep_pos, s, e) + _new_deal_part(
        truth, spells, pairs, s, e, last
    )
    return pd.Series(values, index=account_pos.rename("account_id"), name="expected_revenue")


def window_oracle(truth: Truth, tables: CrmTables) -> WindowOracle:
    """`(start, stop) -> expected_revenue_between(truth, tables, start, stop)`, for training."""
    return lambda start, stop: expected_revenue_between(truth, tables, start, stop)
