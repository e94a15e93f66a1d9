"""Per-rep balance of a set of owners: accounts, potential, workload and travel, vectorised.

The review page compares three owner maps: today's (CRM), the plan as proposed, and the plan as
decided so far (approved and overridden moves applied, the rest left with today's owner).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from features.geography import haversine_km
from features.tables import CrmTables


class BalanceIndex:
    """Account and rep arrays aligned once, so any owner map sums up with a few bincounts."""

    def __init__(
        self, tables: CrmTables, potential: Mapping[str, float], workload: Mapping[str, float]
    ) -> None:
        acc = tables.accounts
        self.account_ids = acc["account_id"].astype(str).tolist()
        self.account_row = {a: i for i, a in enumerate(self.account_ids)}
        self.potential = np.array([potential.get(a, 0.0) for a in self.account_ids], dtype=float)
        self.workload = (
            np.array([workload.get(a, np.nan) for a in self.account_ids], dtype=float)
            if workload
            else None
        )
        self.lat = (
            pd.to_numeric(acc.get("latitude"), errors="coerce").to_numpy(dtype=float)
            if "latitude" in acc
            else np.full(len(acc), np.nan)
        )
        self.lon = (
            pd.to_numeric(acc.get("longitude"), errors="coerce").to_numpy(dtype=float)
            if "longitude" in acc
            else np.full(len(acc), np.nan)
        )
        reps = tables.reps
        self.rep_ids = reps["rep_id"].astype(str).tolist()
        self.rep_row = {r: i for i, r in enumerate(self.rep_ids)}
        self.home_lat = (
            pd.to_numeric(reps["home_latitude"], errors="coerce").to_numpy(dtype=float)
            if "home_latitude" in reps
            else np.full(len(reps), np.nan)
        )
        self.home_lon = (
            pd.to_numeric(reps["home_longitude"], errors="coerce").to_numpy(dtype=float)
            if "home_longitude" in reps
            else np.full(len(reps), np.nan)
        )
        capacity = (
            pd.to_numeric(reps["capacity"], errors="coerce")
            if "capacity" in reps
            else pd.Series(np.nan, index=reps.index)
        )
        self.capacity = capacity.to_numpy(dtype=float)

    def totals(self, owners: Mapping[str, str]) -> dict[str, dict[str, float | None]]:
        """{rep_id: {accounts, potential, workload, travel_km}} for an account -> rep map."""
        pairs = [
            (self.account_row[a], self.rep_row[r])
            for a, r in owners.items()
            if a in self.account_row and r in self.rep_row
        ]
        n = len(self.rep_ids)
        if not pairs:
            return {
                r: {"accounts": 0, "potential": 0.0, "workload": None, "travel_km": 0.0}
                for r in self.rep_ids
            }
        acc_idx, rep_idx = (
            np.fromiter(x, dtype=np.int64, count=len(pairs)) for x in zip(*pairs, strict=True)
        )
        counts = np.bincount(rep_idx, minlength=n)
        potential = np.bincount(rep_idx, weights=self.potential[acc_idx], minlength=n)
        km = haversine_km(
            self.lat[acc_idx], self.lon[acc_idx], self.home_lat[rep_idx], self.home_lon[rep_idx]
        )
        travel = np.bincount(rep_idx, weights=np.nan_to_num(km), minlength=n)
        workload = None
        if self.workload is not None:
            workload = np.bincount(
                rep_idx, weights=np.nan_to_num(self.workload[acc_idx]), minlength=n
            )
        return {
            r: {
                "accounts": int(counts[i]),
                "potential": float(potential[i]),
                "workload": float(workload[i]) if workload is not None else None,
                "travel_km": float(travel[i]),
            }
            for i, r in enumerate(self.rep_ids)
        }
