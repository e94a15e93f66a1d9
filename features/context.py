"""Market context per account: how its industry and region are moving, from won deals before
`as_of`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.history import DAY, won_in_window


def segment_growth(
    visible: pd.DataFrame, segment: pd.Series, as_of: pd.Timestamp, days: int = 365
) -> pd.Series:
    """log of (segment's won revenue in the last `days` + 1) / (the `days` before + 1), per account.

    Args:
        visible: opportunities as they stood at `as_of`.
        segment: the segment (industry, region) of each account, account_id index.
    """
    recent = won_in_window(visible, as_of - days * DAY, as_of)
    before = won_in_window(visible, as_of - 2 * days * DAY, as_of - days * DAY)
    by_segment = pd.DataFrame(
        {
            "recent": recent.groupby(recent["account_id"].map(segment))["amount"].sum(),
            "before": before.groupby(before["account_id"].map(segment))["amount"].sum(),
        }
    ).fillna(0.0)
    growth = np.log1p(by_segment["recent"]) - np.log1p(by_segment["before"])
    return segment.map(growth).astype(float)


def revenue_vs_segment_median(won_revenue: pd.Series, segment: pd.Series) -> pd.Series:
    """Account's won revenue divided by its segment's median won revenue among accounts with any."""
    buying = won_revenue[won_revenue > 0]
    median = buying.groupby(segment.reindex(buying.index)).median()
    denominator = segment.map(median).reindex(won_revenue.index)
    return (won_revenue / denominator).astype(float)
