"""Deal-history features per account, from opportunities known strictly before `as_of`.

Point-in-time rule: an opportunity is visible at `as_of` if it was created before it. Its outcome
(stage, closed_at) is visible only if it closed before `as_of`; otherwise it counts as open. The
amount is taken as known from creation (CRMs carry the deal value from the start).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DAY = pd.Timedelta(days=1)


def visible_opportunities(opportunities: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Opportunities created before `as_of`, with stage/closed_at as they stood then."""
    before = opportunities["created_at"] < as_of
    # as of today every row is seen: the table itself, not a copy of it (GBs at 1M accounts)
    seen = opportunities if before.all() else opportunities[before]
    closed_later = seen["closed_at"].isna() | (seen["closed_at"] >= as_of)
    return seen.assign(
        stage=seen["stage"].where(~closed_later, "open"),
        closed_at=seen["closed_at"].where(~closed_later),
    )


def won_in_window(
    opportunities: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """Won opportunities with closed_at in [start, end)."""
    won = opportunities[opportunities["stage"] == "won"]
    return won[(won["closed_at"] >= start) & (won["closed_at"] < end)]


def won_revenue_last(visible: pd.DataFrame, as_of: pd.Timestamp, days: int) -> pd.Series:
    """Won amount per account closed in the `days` before `as_of`."""
    won = won_in_window(visible, as_of - days * DAY, as_of)
    return won.groupby("account_id")["amount"].sum()


def won_deals_last(visible: pd.DataFrame, as_of: pd.Timestamp, days: int) -> pd.Series:
    """Number of won deals per account closed in the `days` before `as_of`."""
    return won_in_window(visible, as_of - days * DAY, as_of).groupby("account_id").size()


def lost_deals_last(visible: pd.DataFrame, as_of: pd.Timestamp, days: int) -> pd.Series:
    """Number of lost deals per account closed in the `days` before `as_of`."""
    lost = visible[visible["stage"] == "lost"]
    lost = lost[lost["closed_at"] >= as_of - days * DAY]
    return lost.groupby("account_id").size()


def opportunities_created_last(visible: pd.DataFrame, as_of: pd.Timestamp, days: int) -> pd.Series:
    """Opportunities per account created in the `days` before `as_of`."""
    recent = visible[visible["created_at"] >= as_of - days * DAY]
    return recent.groupby("account_id").size()


def win_rate_shrunk(won: pd.Series, lost: pd.Series, prior_rate: float, prior_weight: float = 5.0):
    """Empirical-Bayes win rate: (won + k * prior) / (won + lost + k); prior where no deals."""
    won, lost = won.align(lost, fill_value=0)
    return (won + prior_weight * prior_rate) / (won + lost + prior_weight)


def days_since_last_win(visible: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
    """Whole days since the account's latest won deal closed (missing if never won)."""
    won = visible[visible["stage"] == "won"]
    return (as_of - won.groupby("account_id")["closed_at"].max()).dt.days.astype(float)


def days_since_last_opportunity(visible: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
    """Whole days since the account's latest opportunity was created (missing if none)."""
    return (as_of - visible.groupby("account_id")["created_at"].max()).dt.days.astype(float)


def open_pipeline_value(visible: pd.DataFrame) -> pd.Series:
    """Total amount of opportunities open at `as_of`, per account."""
    return visible[visible["stage"] == "open"].groupby("account_id")["amount"].sum()


def open_opportunities(visible: pd.DataFrame) -> pd.Series:
    """Number of opportunities open at `as_of`, per account."""
    return visible[visible["stage"] == "open"].groupby("account_id").size()


def won_revenue_trend(recent: pd.Series, previous: pd.Series) -> pd.Series:
    """log1p(last 365 d) - log1p(the 365 d before): > 0 growing, < 0 shrinking."""
    recent, previous = recent.align(previous, fill_value=0.0)
    return np.log1p(recent) - np.log1p(previous)


def label_won_revenue(
    opportunities: pd.DataFrame, as_of: pd.Timestamp, horizon_days: int
) -> pd.Series:
    """The label: won amount per account with closed_at in [as_of, as_of + horizon).

    Features see days strictly before `as_of`; the label starts on `as_of` itself, so no day is
    both a feature input and a label, and no deal falls between the two.
    """
    end = as_of + horizon_days * DAY
    return won_in_window(opportunities, as_of, end).groupby("account_id")["amount"].sum()
