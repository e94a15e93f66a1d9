"""Relationship features per account: who owned it at `as_of`, for how long, and how far away."""

from __future__ import annotations

import pandas as pd

from features.geography import haversine_km

DAY = pd.Timedelta(days=1)


def owners_at(assignments: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """The assignment row in force just before `as_of` per account (account_id index)."""
    started = assignments[assignments["start_date"] < as_of]
    open_then = started["end_date"].isna() | (started["end_date"] >= as_of)
    rows = started[open_then].sort_values(["account_id", "start_date"])
    return rows.groupby("account_id").last()


def owner_changes_last(assignments: pd.DataFrame, as_of: pd.Timestamp, days: int) -> pd.Series:
    """Owner changes per account (new assignment rows) in the `days` before `as_of`."""
    first_start = assignments.groupby("account_id")["start_date"].transform("min")
    changes = assignments[
        (assignments["start_date"] > first_start)
        & (assignments["start_date"] < as_of)
        & (assignments["start_date"] >= as_of - days * DAY)
    ]
    return changes.groupby("account_id").size()


def days_with_current_owner(owners: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
    """Whole days the account has been with its owner at `as_of`."""
    return (as_of - owners["start_date"]).dt.days.astype(float)


def owner_rep_frame(owners: pd.DataFrame, reps: pd.DataFrame) -> pd.DataFrame:
    """Each account's owner's rep row (hired_at, level, industries, home), account_id index."""
    rep_rows = reps.set_index("rep_id")
    return rep_rows.reindex(owners["rep_id"].to_numpy()).set_axis(owners.index)


def owner_tenure_days(owner_reps: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
    """Whole days the owner had been with the company at `as_of`."""
    return (as_of - owner_reps["hired_at"]).dt.days.astype(float)


def owner_industry_match(owner_reps: pd.DataFrame, industry: pd.Series) -> pd.Series:
    """1.0 where the account's industry is among its owner's expertise, else 0.0."""
    expertise = owner_reps["industries"].fillna("").str.lower().str.split("|")
    wanted = industry.reindex(owner_reps.index).fillna("").str.lower()
    matches = [w in set(e) if w else False for w, e in zip(wanted, expertise, strict=True)]
    return pd.Series(matches, index=owner_reps.index, dtype=float)


def distance_to_owner_km(owner_reps: pd.DataFrame, accounts: pd.DataFrame) -> pd.Series:
    """Great-circle km from the owner's home base to the account (missing if unknown)."""
    acc = accounts.reindex(owner_reps.index)
    km = haversine_km(
        acc["latitude"], acc["longitude"], owner_reps["home_latitude"], owner_reps["home_longitude"]
    )
    return pd.Series(km, index=owner_reps.index)
