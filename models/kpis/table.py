"""KPIs per rep, region or company for a period [start, stop), computed from the CRM tables.

Every figure is a plain count or sum over the contract tables, so it can be recomputed by hand:

- deals are credited to the opportunity's ``rep_id`` (by rep) or the account's ``region``;
- accounts are credited to their owner on the last day of the period (``stop`` - 1 day);
- ``potential`` (expected won revenue per account per 12 months, from ``territory score``) feeds
  coverage and market penetration; without it those columns are empty (NaN).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.tables import CrmTables
from models.errors import TerritoryError

GROUPINGS = ("rep", "region", "company")
UNOWNED = "(unowned)"
NO_REGION = "(no region)"
COMPANY = "company"
QUALIFIED_LEVELS = frozenset({"Senior AE", "Principal"})
DAYS_PER_YEAR = 365.25
KPI_COLUMNS = (
    "won_revenue",
    "won_deals",
    "lost_deals",
    "win_rate",
    "avg_deal_size",
    "sales_cycle_days",
    "open_pipeline",
    "accounts_owned",
    "accounts_active",
    "high_potential_accounts",
    "covered_accounts",
    "coverage",
    "capacity",
    "revenue_per_account",
    "revenue_per_capacity",
    "potential_in_period",
    "market_penetration",
    "satisfaction",
)


class KpiError(TerritoryError):
    """A KPI request that cannot be answered: names the option, the value and the fix."""


@dataclass(frozen=True)
class KpiSettings:
    """What counts as recent activity and as a high-potential account."""

    recent_days: int = 90
    high_potential_quantile: float = 0.8


def check_period(start: pd.Timestamp, stop: pd.Timestamp, by: str) -> None:
    """Raise KpiError unless start < stop and `by` is one of GROUPINGS."""
    if by not in GROUPINGS:
        raise KpiError(f"--by {by!r} is not a KPI grouping; use one of {list(GROUPINGS)}.")
    if not pd.Timestamp(start) < pd.Timestamp(stop):
        raise KpiError(
            f"the KPI period is empty: --from {pd.Timestamp(start).date()} is not before "
            f"--to {pd.Timestamp(stop).date()}; pass a start before the end."
        )


def owners_on(assignments: pd.DataFrame, day: pd.Timestamp) -> pd.Series:
    """Owner (rep_id) per account_id on `day`: the spell with start_date <= day < end_date."""
    a = assignments
    live = (a["start_date"] <= day) & (a["end_date"].isna() | (a["end_date"] > day))
    rows = a[live].sort_values("start_date")
    return rows.groupby("account_id")["rep_id"].last().astype(str)


def _closed_in(opps: pd.DataFrame, start: pd.Timestamp, stop: pd.Timestamp) -> pd.DataFrame:
    closed = opps["closed_at"]
    return opps[closed.notna() & (closed >= start) & (closed < stop)]


def _open_at(opps: pd.DataFrame, stop: pd.Timestamp) -> pd.DataFrame:
    """Deals created before `stop` and not closed by then (point in time, not today's stage)."""
    closed = opps["closed_at"]
    return opps[(opps["created_at"] < stop) & (closed.isna() | (closed >= stop))]


def _qualified(tables: CrmTables, accounts: pd.DataFrame) -> pd.Series:
    """Whether each account's owner is qualified: active and an expert in its industry or senior."""
    reps = tables.reps.set_index("rep_id")
    owner = accounts["owner"]
    level = owner.map(reps["level"]) if "level" in reps else pd.Series(np.nan, index=owner.index)
    active = owner.map(reps["active"]) if "active" in reps else pd.Series(True, index=owner.index)
    expert = pd.Series(False, index=owner.index)
    if "industries" in reps:
        # One row per (rep, industry) pair, then a merge: no Python loop over accounts.
        pairs = reps["industries"].dropna().astype(str).str.lower().str.split("|").explode()
        pairs = pd.DataFrame({"rep": pairs.index.astype(str), "industry": pairs.str.strip()})
        pairs["expert"] = True
        wanted = pd.DataFrame(
            {"rep": owner.astype(str), "industry": accounts["industry"].fillna("").str.lower()}
        )
        found = wanted.merge(pairs.drop_duplicates(), on=["rep", "industry"], how="left")
        expert = pd.Series(found["expert"].fillna(False).to_numpy(bool), index=owner.index)
    senior = level.isin(QUALIFIED_LEVELS)
    return active.fillna(False).astype(bool) & (senior | expert)


def _flag(index: pd.Index, ids) -> np.ndarray:
    """Whether each id of `index` is in `ids` (hash join: isin on arrow strings loops in Python)."""
    return pd.Series(True, index=pd.Index(ids)).reindex(index, fill_value=False).to_numpy(bool)


def account_frame(
    tables: CrmTables,
    potential: pd.Series | None,
    start: pd.Timestamp,
    stop: pd.Timestamp,
    settings: KpiSettings,
) -> pd.DataFrame:
    """One row per account existing before `stop`: owner, region, activity, potential, coverage."""
    last_day = stop - pd.Timedelta(days=1)
    acc = tables.accounts[tables.accounts["created_at"] < stop].set_index("account_id")
    out = pd.DataFrame(index=acc.index)
    out["owner"] = owners_on(tables.assignments, last_day).reindex(acc.index)
    out["region"] = acc["region"].fillna(NO_REGION).astype(str)
    out["industry"] = acc["industry"].astype("str")
    acts, opps = tables.activities, tables.opportunities
    in_period = acts[(acts["occurred_at"] >= start) & (acts["occurred_at"] < stop)]
    created = opps[(opps["created_at"] >= start) & (opps["created_at"] < stop)]
    touched = pd.concat([in_period["account_id"], created["account_id"]]).unique()
    out["active"] = _flag(out.index, touched)
    recent_from = stop - pd.Timedelta(days=settings.recent_days)
    recent = acts[(acts["occurred_at"] >= recent_from) & (acts["occurred_at"] < stop)]
    by_owner = recent.merge(out["owner"].rename("owner"), left_on="account_id", right_index=True)
    by_owner = by_owner[by_owner["rep_id"].astype(str) == by_owner["owner"]]
    out["recent_owner_activity"] = _flag(out.index, by_owner["account_id"].unique())
    out["qualified_owner"] = out["owner"].notna() & _qualified(tables, out.fillna({"owner": ""}))
    if potential is not None:
        p = potential.reindex(out.index).astype(float)
        out["potential"] = p
        cut = p.quantile(settings.high_potential_quantile) if p.notna().any() else np.inf
        out["high_potential"] = p >= cut
    else:
        out["potential"] = np.nan
        out["high_potential"] = False
    out["covered"] = out["high_potential"] & out["recent_owner_activity"] & out["qualified_owner"]
    if "satisfaction" in acc:
        out["satisfaction"] = pd.to_numeric(acc["satisfaction"], errors="coerce")
    else:
        out["satisfaction"] = np.nan
    out["owner"] = out["owner"].fillna(UNOWNED)
    return out


def _deal_group(opps: pd.DataFrame, accounts: pd.DataFrame, by: str) -> pd.Series:
    if by == "rep":
        return opps["rep_id"].astype(str).where(opps["rep_id"].notna(), UNOWNED)
    if by == "region":
        region = accounts["region"]
        return opps["account_id"].map(region).fillna(NO_REGION).astype(str)
    return pd.Series(COMPANY, index=opps.index)


def _account_group(accounts: pd.DataFrame, by: str) -> pd.Series:
    if by == "rep":
        return accounts["owner"]
    if by == "region":
        return accounts["region"]
    return pd.Series(COMPANY, index=accounts.index)


def rep_capacity(tables: CrmTables) -> pd.Series:
    """Capacity per rep_id; an empty capacity takes the team default (the median)."""
    reps = tables.reps.set_index("rep_id")
    if "capacity" not in reps:
        return pd.Series(1.0, index=reps.index)
    cap = pd.to_numeric(reps["capacity"], errors="coerce")
    default = cap.median() if cap.notna().any() else 1.0
    return cap.fillna(default).astype(float)


def _capacity(tables: CrmTables, accounts: pd.DataFrame, by: str) -> pd.Series:
    """Capacity of the reps owning accounts at the period end, credited to the group."""
    owned = accounts[accounts["owner"] != UNOWNED]
    cap = rep_capacity(tables).reindex(owned["owner"].unique()).fillna(0.0)
    if by == "rep":
        return cap
    if by == "company":
        return pd.Series({COMPANY: float(cap.sum())})
    # A rep's capacity is split over regions in proportion to the accounts it owns there.
    counts = owned.groupby(["owner", "region"]).size()
    share = counts / counts.groupby(level="owner").transform("sum")
    by_pair = share * cap.reindex(share.index.get_level_values("owner")).to_numpy()
    return by_pair.groupby(level="region").sum()


def _sum_by(values: pd.Series, keys: pd.Series) -> pd.Series:
    return values.groupby(keys).sum()


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    return num / den.where(den > 0)


def kpi_table(
    tables: CrmTables,
    start: pd.Timestamp,
    stop: pd.Timestamp,
    *,
    by: str = "rep",
    potential: pd.Series | None = None,
    settings: KpiSettings | None = None,
) -> pd.DataFrame:
    """KPIs per group (rep_id, region or "company") for [start, stop); one row per group."""
    start, stop = pd.Timestamp(start), pd.Timestamp(stop)
    check_period(start, stop, by)
    settings = settings or KpiSettings()
    accounts = account_frame(tables, potential, start, stop, settings)
    opps = tables.opportunities
    closed = _closed_in(opps, start, stop)
    won, lost = closed[closed["stage"] == "won"], closed[closed["stage"] == "lost"]
    pipe = _open_at(opps, stop)
    group = _account_group(accounts, by)
    frame = pd.DataFrame(
        {
            "won_revenue": _sum_by(won["amount"], _deal_group(won, accounts, by)),
            "won_deals": _sum_by(pd.Series(1, index=won.index), _deal_group(won, accounts, by)),
            "lost_deals": _sum_by(pd.Series(1, index=lost.index), _deal_group(lost, accounts, by)),
            "open_pipeline": _sum_by(pipe["amount"], _deal_group(pipe, accounts, by)),
            "accounts_owned": _sum_by(pd.Series(1, index=accounts.index), group),
            "accounts_active": _sum_by(accounts["active"].astype(int), group),
            "high_potential_accounts": _sum_by(accounts["high_potential"].astype(int), group),
            "covered_accounts": _sum_by(accounts["covered"].astype(int), group),
            "capacity": _capacity(tables, accounts, by),
            "potential_in_period": _sum_by(accounts["potential"].fillna(0.0), group)
            * ((stop - start).days / DAYS_PER_YEAR),
        }
    )
    counts = ["won_revenue", "won_deals", "lost_deals", "open_pipeline", "accounts_owned"]
    counts += ["accounts_active", "high_potential_accounts", "covered_accounts"]
    frame[counts] = frame[counts].fillna(0.0)
    for column in ("won_deals", "lost_deals", "accounts_owned", "accounts_active"):
        frame[column] = frame[column].astype(int)
    cycle = (won["closed_at"] - won["created_at"]).dt.days
    frame["sales_cycle_days"] = cycle.groupby(_deal_group(won, accounts, by)).median()
    frame["win_rate"] = _ratio(frame["won_deals"], frame["won_deals"] + frame["lost_deals"])
    frame["avg_deal_size"] = _ratio(frame["won_revenue"], frame["won_deals"])
    frame["coverage"] = _ratio(frame["covered_accounts"], frame["high_potential_accounts"])
    frame["revenue_per_account"] = _ratio(frame["won_revenue"], frame["accounts_owned"])
    frame["revenue_per_capacity"] = _ratio(frame["won_revenue"], frame["capacity"])
    if potential is None:
        frame["potential_in_period"] = np.nan
    frame["market_penetration"] = _ratio(frame["won_revenue"], frame["potential_in_period"])
    frame["satisfaction"] = accounts["satisfaction"].groupby(group).mean()
    frame.index.name = by
    out = frame.reindex(columns=list(KPI_COLUMNS)).sort_index().reset_index()
    return _with_rep_names(out, tables) if by == "rep" else out


def _with_rep_names(frame: pd.DataFrame, tables: CrmTables) -> pd.DataFrame:
    reps = tables.reps.set_index("rep_id")
    names = frame["rep"].map(reps["name"]) if "name" in reps else pd.Series(np.nan)
    levels = frame["rep"].map(reps["level"]) if "level" in reps else pd.Series(np.nan)
    frame.insert(1, "name", names.fillna(""))
    frame.insert(2, "level", levels.fillna(""))
    return frame


def kpi_trend(
    tables: CrmTables,
    start: pd.Timestamp,
    stop: pd.Timestamp,
    *,
    by: str = "company",
    freq: str = "QS",
    potential: pd.Series | None = None,
    settings: KpiSettings | None = None,
) -> pd.DataFrame:
    """kpi_table for each period of `freq` (pandas offset, e.g. "QS", "MS") in [start, stop)."""
    start, stop = pd.Timestamp(start), pd.Timestamp(stop)
    check_period(start, stop, by)
    edges = [start, *[d for d in pd.date_range(start, stop, freq=freq) if start < d < stop], stop]
    parts = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        part = kpi_table(tables, lo, hi, by=by, potential=potential, settings=settings)
        part.insert(0, "period_start", lo)
        part.insert(1, "period_stop", hi)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)
