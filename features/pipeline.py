"""Assemble account features as of a date, and stacked training snapshots with labels."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from features import engagement, history, ownership
from features.context import MarketContext, market_context, market_tally
from features.errors import DataContractError
from features.feature_sets import (
    ACCOUNT_POTENTIAL_V1,
    ACTIVITY_WINDOWS_DAYS,
    CATEGORICAL,
    HISTORY_WINDOWS_DAYS,
)
from features.known_at import attributes_known_at
from features.lookup import positions
from features.tables import CrmTables

# Columns where "no events" means 0; every other column stays missing when there is nothing to
# measure.
COUNT_PREFIXES = (
    "won_revenue_last",
    "won_deals_last",
    "lost_deals_last",
    "opportunities_created",
    "activities_last",
)
ACTIVITY_COUNT_SUFFIXES = tuple(f"s_last_{d}d" for d in ACTIVITY_WINDOWS_DAYS)
ZERO_WHEN_NONE = frozenset({"open_pipeline_value", "open_opportunities", "owner_changes_last_730d"})


def accounts_at(tables: CrmTables, as_of: pd.Timestamp) -> pd.DataFrame:
    """Accounts that existed before `as_of`, account_id index; dated attributes not yet known at
    `as_of` are missing (features.known_at)."""
    accounts = tables.accounts[tables.accounts["created_at"] < as_of]
    return attributes_known_at(accounts, as_of).set_index("account_id")


def _history_columns(
    visible: pd.DataFrame, as_of: pd.Timestamp, win_prior: float
) -> dict[str, pd.Series]:
    cols: dict[str, pd.Series] = {}
    for days in HISTORY_WINDOWS_DAYS:
        cols[f"won_revenue_last_{days}d"] = history.won_revenue_last(visible, as_of, days)
        cols[f"won_deals_last_{days}d"] = history.won_deals_last(visible, as_of, days)
    cols["lost_deals_last_730d"] = history.lost_deals_last(visible, as_of, 730)
    cols["opportunities_created_last_365d"] = history.opportunities_created_last(
        visible, as_of, 365
    )
    cols["win_rate_last_730d"] = history.win_rate_shrunk(
        cols["won_deals_last_730d"], cols["lost_deals_last_730d"], win_prior
    )
    cols["won_revenue_trend"] = history.won_revenue_trend(
        cols["won_revenue_last_365d"],
        history.won_revenue_last(visible, as_of, 730) - cols["won_revenue_last_365d"],
    )
    cols["days_since_last_win"] = history.days_since_last_win(visible, as_of)
    cols["days_since_last_opportunity"] = history.days_since_last_opportunity(visible, as_of)
    cols["open_pipeline_value"] = history.open_pipeline_value(visible)
    cols["open_opportunities"] = history.open_opportunities(visible)
    return cols


def _engagement_columns(activities: pd.DataFrame, as_of: pd.Timestamp) -> dict[str, pd.Series]:
    visible = engagement.visible_activities(activities, as_of)
    cols = {
        f"activities_last_{d}d": engagement.activities_last(visible, as_of, d)
        for d in ACTIVITY_WINDOWS_DAYS
    }
    cols.update(engagement.activities_by_type_last(visible, as_of, 365))
    cols["days_since_last_activity"] = engagement.days_since_last_activity(visible, as_of)
    return cols


def _ownership_columns(
    tables: CrmTables,
    accounts: pd.DataFrame,
    owners: pd.DataFrame,
    market: MarketContext,
    as_of: pd.Timestamp,
) -> dict[str, pd.Series]:
    owner_reps = ownership.owner_rep_frame(owners, tables.reps)
    return {
        "owner_tenure_days": ownership.owner_tenure_days(owner_reps, as_of),
        "owner_level": owner_reps["level"],
        "owner_industry_match": ownership.owner_industry_match(owner_reps, accounts["industry"]),
        "owner_book_size": market.owner_book_size(owners),
        "owner_changes_last_730d": ownership.owner_changes_last(tables.assignments, as_of, 730),
        "days_with_current_owner": ownership.days_with_current_owner(owners, as_of),
        "distance_to_owner_km": ownership.distance_to_owner_km(owner_reps, accounts),
    }


def market_as_of(tables: CrmTables, as_of: pd.Timestamp) -> MarketContext:
    """The whole export's market context as of `as_of` (what a slice of it is compared with)."""
    accounts = accounts_at(tables, as_of)
    visible = history.visible_opportunities(tables.opportunities, as_of)
    owners = ownership.owners_at(tables.assignments, as_of)
    return market_context([market_tally(accounts, visible, owners, as_of)])


class AccountSlices:
    """Cuts an export down to a subset of its accounts with one lookup per row.

    Each table's account ids are matched to the accounts table once; a slice is then a boolean
    take per table, not a string match. Training snapshots that keep a sample of the accounts
    build features only for the sample (features.context keeps the cross-account features
    those of the whole export).
    """

    TABLES = ("opportunities", "assignments", "activities")

    def __init__(self, tables: CrmTables):
        self.tables = tables
        self.ids = pd.Index(tables.accounts["account_id"])
        self._codes = {
            name: positions(self.ids, getattr(tables, name)["account_id"]) for name in self.TABLES
        }

    def take(self, mask: np.ndarray) -> CrmTables:
        """The export restricted to the accounts where `mask` (aligned with `ids`) is True; rows
        of accounts missing from the accounts table are dropped."""
        lookup = np.append(np.asarray(mask, dtype=bool), False)  # code -1 -> False
        parts = {
            name: getattr(self.tables, name)[lookup[codes]] for name, codes in self._codes.items()
        }
        return replace(self.tables, accounts=self.tables.accounts[lookup[:-1]], **parts)


def build_account_features(
    tables: CrmTables,
    as_of: pd.Timestamp | str,
    *,
    extra_columns: Sequence[str] = (),
    market: MarketContext | None = None,
) -> pd.DataFrame:
    """Feature frame (ACCOUNT_POTENTIAL_V1 + extra account columns) as of `as_of`, account_id index.

    Uses only data dated strictly before `as_of`. Counts and amounts with no events are 0;
    recencies and owner facts with nothing to measure stay missing (NaN), never 0.

    Args:
        market: the cross-account context when `tables` holds only a slice of the accounts (the
            Dask path passes the context of the whole export); by default it is tallied from
            `tables`.
    """
    as_of = pd.Timestamp(as_of)
    accounts = accounts_at(tables, as_of)
    missing_extra = sorted(set(extra_columns) - set(accounts.columns))
    if missing_extra:
        raise DataContractError(
            f"extra account feature column(s) {missing_extra} not in accounts; available extra "
            f"columns: {list(tables.extra_account_columns)}. Fix the feature config or the export."
        )
    visible = history.visible_opportunities(tables.opportunities, as_of)
    owners = ownership.owners_at(tables.assignments, as_of)
    if market is None:
        market = market_context([market_tally(accounts, visible, owners, as_of)])
    cols: dict[str, pd.Series] = {
        "industry": accounts["industry"],
        "region": accounts["region"],
        "employees": accounts["employees"].astype(float),
        "annual_revenue": accounts["annual_revenue"].astype(float),
        "account_age_days": (as_of - accounts["created_at"]).dt.days.astype(float),
    }
    cols.update(_history_columns(visible, as_of, market.win_prior))
    cols.update(_engagement_columns(tables.activities, as_of))
    cols.update(_ownership_columns(tables, accounts, owners, market, as_of))
    cols["industry_growth_365d"] = market.segment_growth("industry", accounts["industry"])
    cols["region_growth_365d"] = market.segment_growth("region", accounts["region"])
    cols["won_revenue_vs_industry_median"] = market.revenue_vs_industry_median(
        cols["won_revenue_last_365d"].reindex(accounts.index, fill_value=0.0), accounts["industry"]
    )
    frame = pd.DataFrame({name: s.reindex(accounts.index) for name, s in cols.items()})
    return _finish(frame, accounts, extra_columns)


def _finish(frame: pd.DataFrame, accounts: pd.DataFrame, extra: Sequence[str]) -> pd.DataFrame:
    counts = [
        c
        for c in frame.columns
        if c.startswith(COUNT_PREFIXES)
        or c.endswith(ACTIVITY_COUNT_SUFFIXES)
        or c in ZERO_WHEN_NONE
    ]
    frame[counts] = frame[counts].fillna(0.0).astype(float)
    for name in CATEGORICAL:
        frame[name] = frame[name].astype("string")
    for name in extra:
        frame[name] = accounts[name]
    frame.index.name = "account_id"
    return frame[[*ACCOUNT_POTENTIAL_V1, *extra]]


def snapshot_dates(
    first_possible: pd.Timestamp, last_possible: pd.Timestamp, *, months: int = 3
) -> list[pd.Timestamp]:
    """as_of dates every `months` back from `last_possible` down to `first_possible`, ascending."""
    dates = []
    current = pd.Timestamp(last_possible).normalize()
    while current >= first_possible:
        dates.append(current)
        current = current - pd.DateOffset(months=months)
    return sorted(dates)


def _snapshot(
    tables: CrmTables,
    as_of: pd.Timestamp,
    horizon_days: int,
    extra_columns: Sequence[str],
    market: MarketContext | None = None,
) -> pd.DataFrame:
    features = build_account_features(tables, as_of, extra_columns=extra_columns, market=market)
    label = history.label_won_revenue(tables.opportunities, as_of, horizon_days)
    return features.assign(as_of=as_of, label=label.reindex(features.index, fill_value=0.0))


def build_snapshots(
    tables: CrmTables,
    as_ofs: Iterable[pd.Timestamp],
    horizon_days: int,
    *,
    extra_columns=(),
    keep: Callable[[pd.Index, pd.Timestamp], np.ndarray] | None = None,
    whole: Collection[pd.Timestamp] = (),
    also: Callable[[pd.Index, pd.Timestamp], np.ndarray] | None = None,
    markets: Mapping[pd.Timestamp, MarketContext] | None = None,
    on_snapshot: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Stacked feature frames with `as_of` and `label` columns (won revenue in the horizon).

    Args:
        keep: optional row sampler (account_id index, as_of) -> bool mask. Snapshots in `whole`
            keep every row; the others are built only for the sampled accounts (and those
            `also` adds), with the whole export's market context, so a kept row's features are
            the same as without sampling. An `in_sample` column marks the sample.
        also: with `keep`, accounts built at a sampled date beyond the sample (e.g. the
            validation group); their rows have in_sample False.
        markets: the market context per date when `tables` is a slice of the export (a Dask
            partition); by default the whole of `tables` is the market.
        on_snapshot: called with (snapshots done, snapshots in all) after each one (progress).
    """
    dates = list(as_ofs)
    slices = AccountSlices(tables) if keep is not None and set(dates) - set(whole) else None
    frames = []
    for done, as_of in enumerate(dates, start=1):
        market = markets[as_of] if markets is not None else None
        if keep is None:
            frame = _snapshot(tables, as_of, horizon_days, extra_columns, market)
        elif as_of in whole:
            frame = _snapshot(tables, as_of, horizon_days, extra_columns, market)
            frame = frame.assign(in_sample=np.asarray(keep(frame.index, as_of), dtype=bool))
        else:
            sample = np.asarray(keep(slices.ids, as_of), dtype=bool)
            built = sample | np.asarray(also(slices.ids, as_of), dtype=bool) if also else sample
            market = market if market is not None else market_as_of(tables, as_of)
            frame = _snapshot(slices.take(built), as_of, horizon_days, extra_columns, market)
            marks = pd.Series(sample, index=slices.ids)
            frame = frame.assign(in_sample=marks.reindex(frame.index).to_numpy(bool))
        frames.append(frame)
        if on_snapshot is not None:
            on_snapshot(done, len(dates))
    if not frames:
        raise DataContractError(
            "no snapshot dates fit in the data: the history is shorter than the horizon. "
            "Use a shorter --horizon or an export covering more time."
        )
    return pd.concat(frames).reset_index()
