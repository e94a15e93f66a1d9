"""Rep fit: how much more likely a rep is to win an account than an average rep (1.0 = average).

Two ways to get it, and every plan says which one it used:

* ``fallback_fit`` (transparent, no training): tenure and industry expertise,
  ``raw = 1 + 0.03 * min(tenure_years, 10) + 0.15 * [rep knows the account's industry]``,
  divided by the average ``raw`` over active reps for that account;
* ``RepFitModel`` (learned, models/repfit/learned.py): a LightGBM win model on point-in-time rep and
  account features, used when the history has enough closed opportunities.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TENURE_WEIGHT = 0.03
TENURE_CAP_YEARS = 10.0
INDUSTRY_WEIGHT = 0.15


def rep_industry_sets(industries: pd.Series) -> list[frozenset[str]]:
    """Each rep's industries, lower-cased ('|'-separated text or a sequence)."""
    out = []
    for value in industries:
        if isinstance(value, (list, tuple, set, frozenset)):
            parts = value
        elif value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
            parts = ()
        else:
            parts = str(value).split("|")
        out.append(frozenset(str(p).strip().lower() for p in parts if str(p).strip()))
    return out


def knows_industry(
    accounts: pd.DataFrame, reps: pd.DataFrame, account_rows: np.ndarray, rep_rows: np.ndarray
) -> np.ndarray:
    """Whether each rep lists each account's industry."""
    industry = accounts["industry"].astype("string").str.strip().str.lower().fillna("")
    codes, names = pd.factorize(industry)
    lookup = {name: j for j, name in enumerate(names)}
    matrix = np.zeros((len(reps), len(names) + 1), dtype=bool)
    for r, known in enumerate(rep_industry_sets(reps["industries"])):
        for name in known:
            if name in lookup:
                matrix[r, lookup[name]] = True
    codes = np.where(codes >= 0, codes, len(names))
    return matrix[rep_rows, codes[account_rows]]


def fallback_fit(
    accounts: pd.DataFrame, reps: pd.DataFrame, account_rows: np.ndarray, rep_rows: np.ndarray
) -> np.ndarray:
    """Tenure-and-expertise fit, normalised so the average active rep scores 1.0 per account."""
    tenure = np.minimum(reps["tenure_years"].fillna(0).to_numpy(float), TENURE_CAP_YEARS)
    knows = knows_industry(accounts, reps, account_rows, rep_rows)
    raw = 1.0 + TENURE_WEIGHT * tenure[rep_rows] + INDUSTRY_WEIGHT * knows
    active = reps["active"].fillna(True).astype(bool).to_numpy() if "active" in reps else None
    pool = np.flatnonzero(active) if active is not None and active.any() else np.arange(len(reps))
    share = _industry_share(accounts, reps, pool)
    average = 1.0 + TENURE_WEIGHT * tenure[pool].mean() + INDUSTRY_WEIGHT * share[account_rows]
    return raw / average


def _industry_share(accounts: pd.DataFrame, reps: pd.DataFrame, pool: np.ndarray) -> np.ndarray:
    """Per account: the share of reps in ``pool`` who know its industry."""
    industry = accounts["industry"].astype("string").str.strip().str.lower().fillna("")
    sets = rep_industry_sets(reps["industries"].iloc[pool])
    counts: dict[str, int] = {}
    for known in sets:
        for name in known:
            counts[name] = counts.get(name, 0) + 1
    return industry.map(lambda v: counts.get(v, 0) / max(len(sets), 1)).to_numpy(float)


fallback_fit.method = "fallback"  # type: ignore[attr-defined]
