"""Calibration figures of a CRM export, to compare a sample world with typical B2B numbers."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from features.tables import CrmTables

DAYS_PER_MONTH = 30.4375

CALIBRATION_TARGETS: dict[str, tuple[float, float]] = {
    "top20_revenue_share": (0.60, 0.80),
    "revenue_rank_corr_yoy": (0.40, 0.70),
    "win_rate": (0.15, 0.35),
    "median_sales_cycle_months": (1.0, 4.0),
    "ownership_change_rate": (0.10, 0.30),
    "rep_turnover_rate": (0.10, 0.30),
}
"""Typical B2B ranges (inclusive) for the figures `calibration_report` returns."""

CALIBRATION_LABELS: dict[str, str] = {
    "top20_revenue_share": "share of last-12-month won revenue held by the top 20% of accounts",
    "revenue_rank_corr_yoy": "Spearman correlation of an account's won revenue, year over year",
    "win_rate": "won / (won + lost) opportunities",
    "median_sales_cycle_months": "median months from created to closed",
    "ownership_change_rate": "owner changes per account per year",
    "rep_turnover_rate": "reps leaving per year / active reps",
}


def won_revenue_between(
    tables: CrmTables, start: pd.Timestamp, stop: pd.Timestamp, accounts: pd.Index
) -> pd.Series:
    """Won amount closed in (start, stop] per account in `accounts` (0 where none)."""
    opps = tables.opportunities
    won = opps[(opps["stage"] == "won") & (opps["closed_at"] > start) & (opps["closed_at"] <= stop)]
    return won.groupby("account_id")["amount"].sum().reindex(accounts, fill_value=0.0)


def top_share(values: pd.Series, fraction: float = 0.2) -> float:
    """Share of the total held by the largest `fraction` of values."""
    ordered = np.sort(values.to_numpy(dtype=float))[::-1]
    total = ordered.sum()
    top = ordered[: max(1, int(round(fraction * len(ordered))))].sum()
    return float(top / total) if total > 0 else float("nan")


def _existing(tables: CrmTables, on: pd.Timestamp) -> pd.Index:
    """Ids of the accounts created on or before `on`."""
    accounts = tables.accounts
    return pd.Index(accounts.loc[accounts["created_at"] <= on, "account_id"])


def _revenue_figures(tables: CrmTables, end: pd.Timestamp) -> dict[str, float]:
    """Top-20% share of last year's won revenue, and its year-over-year rank correlation."""
    year = pd.DateOffset(years=1)
    last = won_revenue_between(tables, end - year, end, _existing(tables, end - year))
    prior_accounts = _existing(tables, end - 2 * year)
    if tables.opportunities["created_at"].min() > end - 2 * year + pd.Timedelta(days=31):
        corr = float("nan")  # less than two years of history
    else:
        before = won_revenue_between(tables, end - 2 * year, end - year, prior_accounts)
        after = won_revenue_between(tables, end - year, end, prior_accounts)
        corr = float(spearmanr(before.to_numpy(), after.to_numpy())[0])
    return {"top20_revenue_share": top_share(last), "revenue_rank_corr_yoy": corr}


def _ownership_change_rate(
    tables: CrmTables, start: pd.Timestamp, end: pd.Timestamp, years: float
) -> float:
    """Owner changes per account per year over the history (spells that replaced an owner)."""
    spells = tables.assignments.sort_values(["account_id", "start_date"])
    changes = (spells["account_id"].duplicated() & (spells["start_date"] > start)).sum()
    accounts = (len(_existing(tables, start)) + len(_existing(tables, end))) / 2.0
    return float(changes / max(accounts, 1.0) / years)


def _rep_turnover_rate(tables: CrmTables, years: float) -> float:
    """Reps who left per year over the history, per active rep (headcount is kept steady)."""
    active = tables.reps["active"].astype(bool)
    return float((~active).sum() / max(1, int(active.sum())) / years)


def calibration_report(tables: CrmTables, end_date: date) -> dict[str, float]:
    """The calibration figures of CALIBRATION_TARGETS plus a few descriptive ones.

    Computed from the export alone (no truth), so it applies to a real CRM export too.
    """
    end = pd.Timestamp(end_date)
    opps = tables.opportunities
    closed = opps[opps["stage"].isin(["won", "lost"])]
    cycle_days = (closed["closed_at"] - closed["created_at"]).dt.days
    figures = _revenue_figures(tables, end)
    start = tables.opportunities["created_at"].min()
    years = max((end - start).days / 365.25, 1e-9)
    figures.update(
        {
            "win_rate": float((closed["stage"] == "won").mean()),
            "median_sales_cycle_months": float(cycle_days.median() / DAYS_PER_MONTH),
            "ownership_change_rate": _ownership_change_rate(tables, start, end, years),
            "rep_turnover_rate": _rep_turnover_rate(tables, years),
            "opportunities_per_account_year": float(len(opps) / len(tables.accounts) / years),
            "activities_per_account_year": float(
                len(tables.activities) / len(tables.accounts) / years
            ),
            "accounts_with_won_revenue_last_year": float(
                won_revenue_between(
                    tables,
                    end - pd.DateOffset(years=1),
                    end,
                    pd.Index(tables.accounts["account_id"]),
                )
                .gt(0)
                .mean()
            ),
        }
    )
    return figures


def out_of_range(figures: dict[str, float]) -> dict[str, float]:
    """The figures outside their CALIBRATION_TARGETS range (NaN counts as outside)."""
    return {
        name: figures.get(name, float("nan"))
        for name, (low, high) in CALIBRATION_TARGETS.items()
        if not low <= figures.get(name, float("nan")) <= high
    }
