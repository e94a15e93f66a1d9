"""Engagement features per account, from the activity log strictly before `as_of`."""

from __future__ import annotations

import pandas as pd

from features.contract import ACTIVITY_TYPES

DAY = pd.Timedelta(days=1)


def visible_activities(activities: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Activities that occurred before `as_of`."""
    before = activities["occurred_at"] < as_of
    return activities if before.all() else activities[before]  # all of them: no copy


def activities_last(visible: pd.DataFrame, as_of: pd.Timestamp, days: int) -> pd.Series:
    """Activities per account in the `days` before `as_of`."""
    return visible[visible["occurred_at"] >= as_of - days * DAY].groupby("account_id").size()


def activities_by_type_last(
    visible: pd.DataFrame, as_of: pd.Timestamp, days: int
) -> dict[str, pd.Series]:
    """One count series per activity type: `{type}s_last_{days}d` -> activities per account."""
    recent = visible[visible["occurred_at"] >= as_of - days * DAY]
    counts = recent.groupby(["account_id", "type"]).size().unstack(fill_value=0)
    return {
        f"{kind}s_last_{days}d": counts[kind] if kind in counts else pd.Series(dtype=float)
        for kind in ACTIVITY_TYPES
    }


def days_since_last_activity(visible: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
    """Whole days since the account's latest activity (missing if none)."""
    return (as_of - visible.groupby("account_id")["occurred_at"].max()).dt.days.astype(float)
