"""Workload: the effort units an account needs per period, from its size and potential tier.

    workload = 0.5 + 0.25 * log10(1 + employees) + tier bonus
    tier bonus = 0.5 for tier A (top 10% potential), 0.25 for tier B (next 20%), 0 for tier C

One unit is about one average account: a 40-person tier-C account needs 0.90 units, a
10,000-person tier-A one 2.0. Unknown employee counts take the median of the known ones (0 when
none is known). Capacity is in the same units, so a capacity of 100 is a book of ~100 average
accounts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BASE = 0.5
SIZE_WEIGHT = 0.25
TIER_BONUS = {"A": 0.5, "B": 0.25, "C": 0.0}
TIER_SHARES = (0.10, 0.20)


def potential_tier(potential: pd.Series) -> pd.Series:
    """Tier A for the top 10% potential, B for the next 20%, C for the rest (ties go up)."""
    rank = potential.rank(pct=True, method="max", ascending=False)
    tier = np.where(rank <= TIER_SHARES[0], "A", np.where(rank <= sum(TIER_SHARES), "B", "C"))
    return pd.Series(tier, index=potential.index, dtype="str")


def size_workload(employees: pd.Series) -> pd.Series:
    """The workload an account needs for its size alone (no tier bonus): ``0.5 + 0.25 *
    log10(1 + employees)``, unknown counts at the median of the known ones."""
    staff = pd.to_numeric(employees, errors="coerce").astype(float)
    known = staff.dropna()
    staff = staff.fillna(float(known.median()) if len(known) else 0.0).clip(lower=0.0)
    return (BASE + SIZE_WEIGHT * np.log10(1.0 + staff)).rename("workload")


def account_workload(employees: pd.Series, potential: pd.Series) -> pd.Series:
    """Workload units per account (see the module docstring for the formula)."""
    bonus = potential_tier(potential).map(TIER_BONUS).astype(float)
    return size_workload(employees) + bonus.to_numpy()
