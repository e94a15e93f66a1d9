"""Market context: the features that look across accounts (segment growth, the segment's median
revenue, the company-wide win rate, each owner's book size).

They are computed in two steps so that any split of the accounts gives the same answer:
`market_tally` counts one slice of accounts (sums, counts and the values a median needs), and
`market_context` combines any number of tallies into the figures every account is compared
with. The pandas path tallies the whole export once; the Dask path (training/distributed.py)
tallies each partition on its worker and combines the small results.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.history import DAY, won_in_window
from features.lookup import contains, lookup

GROWTH_DAYS = 365
MEDIAN_DAYS = 365
DEFAULT_WIN_PRIOR = 0.25  # used when nothing has closed yet anywhere


@dataclass(frozen=True)
class MarketTally:
    """Additive counts from one slice of accounts as of one date."""

    won: int
    closed: int
    segment_revenue: pd.DataFrame  # index (kind, segment); columns recent, before
    buying_revenue: pd.DataFrame  # one row per account with won revenue: industry, revenue
    book_counts: pd.Series  # accounts owned per rep_id


@dataclass(frozen=True)
class MarketContext:
    """What every account is compared with, as of one date."""

    win_prior: float
    growth: dict[str, pd.Series]  # "industry" / "region" -> log growth per segment
    industry_median_revenue: pd.Series
    book_sizes: pd.Series  # accounts owned per rep_id

    def segment_growth(self, kind: str, segment: pd.Series) -> pd.Series:
        """log((segment's won revenue in the last year + 1) / (the year before + 1)) per account;
        missing where the segment won nothing in either year."""
        return segment.map(self.growth[kind]).astype(float)

    def revenue_vs_industry_median(self, won_revenue: pd.Series, industry: pd.Series) -> pd.Series:
        """Account's won revenue over its industry's median among accounts with any."""
        denominator = industry.map(self.industry_median_revenue).reindex(won_revenue.index)
        return (won_revenue / denominator).astype(float)

    def owner_book_size(self, owners: pd.DataFrame) -> pd.Series:
        """Accounts owned at `as_of` by each account's owner (a workload proxy), per account."""
        return owners["rep_id"].map(self.book_sizes).astype(float)


def market_tally(
    accounts: pd.DataFrame,
    visible: pd.DataFrame,
    owners: pd.DataFrame,
    as_of: pd.Timestamp,
) -> MarketTally:
    """Tally one slice: `accounts` (account_id index) existing at `as_of`, their opportunities as
    they stood then (`visible`) and their owners then (`owners`, account_id index)."""
    closed = visible[visible["stage"].isin(["won", "lost"])]
    recent = won_in_window(visible, as_of - GROWTH_DAYS * DAY, as_of)
    before = won_in_window(visible, as_of - 2 * GROWTH_DAYS * DAY, as_of - GROWTH_DAYS * DAY)
    parts = []
    for kind in ("industry", "region"):
        segment = accounts[kind]
        frame = pd.DataFrame(
            {
                "recent": recent.groupby(lookup(recent["account_id"], segment))["amount"].sum(),
                "before": before.groupby(lookup(before["account_id"], segment))["amount"].sum(),
            }
        ).fillna(0.0)
        frame.index = pd.MultiIndex.from_arrays(
            [np.full(len(frame), kind, dtype=object), frame.index.astype(object)],
            names=["kind", "segment"],
        )
        parts.append(frame)
    won_year = won_in_window(visible, as_of - MEDIAN_DAYS * DAY, as_of)
    revenue = won_year.groupby("account_id")["amount"].sum()
    revenue = revenue[(revenue > 0).to_numpy() & contains(revenue.index, accounts.index)]
    return MarketTally(
        won=int((closed["stage"] == "won").sum()),
        closed=len(closed),
        segment_revenue=pd.concat(parts),
        buying_revenue=pd.DataFrame(
            {"industry": accounts["industry"].reindex(revenue.index), "revenue": revenue}
        ),
        book_counts=owners["rep_id"].value_counts(),
    )


def market_context(tallies: Iterable[MarketTally]) -> MarketContext:
    """Combine tallies of disjoint slices of accounts into the market they form together."""
    tallies = list(tallies)
    won = sum(t.won for t in tallies)
    closed = sum(t.closed for t in tallies)
    # Rounded to cents: sums of the same amounts in another order then agree exactly, so every
    # split of the accounts gives bit-identical features (and explanation hashes).
    segments = pd.concat([t.segment_revenue for t in tallies]).groupby(level=[0, 1]).sum().round(2)
    growth = np.log1p(segments["recent"]) - np.log1p(segments["before"])
    by_kind = {
        kind: growth.xs(kind, level="kind")
        if kind in growth.index.get_level_values(0)
        else pd.Series(dtype=float)
        for kind in ("industry", "region")
    }
    buying = pd.concat([t.buying_revenue for t in tallies])
    books = pd.concat([t.book_counts for t in tallies])
    return MarketContext(
        win_prior=won / closed if closed else DEFAULT_WIN_PRIOR,
        growth=by_kind,
        industry_median_revenue=buying.groupby("industry")["revenue"].median(),
        book_sizes=books.groupby(level=0).sum(),
    )
