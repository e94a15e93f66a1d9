"""Per-rep balance of a set of owners: accounts, potential, workload and travel, vectorised
(the per-rep sums are models.planning's `per_rep_totals`, the plan metrics' own).

The review page compares three owner maps: today's (CRM), the plan as proposed, and the plan as
decided so far (approved and overridden moves applied, the rest left with today's owner).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from features.geography import haversine_km
from features.tables import CrmTables
from models.planning import per_rep_totals


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

    def owner_rows(self, owners: Mapping[str, str]) -> np.ndarray:
        """Per account (in account_ids order) the row of its rep in `owners`, -1 for none."""
        rows = np.full(len(self.account_ids), -1, dtype=np.int64)
        for account, rep in owners.items():
            i, j = self.account_row.get(account), self.rep_row.get(rep)
            if i is not None and j is not None:
                rows[i] = j
        return rows

    def totals(self, owners: Mapping[str, str]) -> dict[str, dict[str, float | None]]:
        """{rep_id: {accounts, potential, workload, travel_km}} for an account -> rep map."""
        rep = self.owner_rows(owners)
        has = rep >= 0
        safe = np.where(has, rep, 0)
        km = haversine_km(self.lat, self.lon, self.home_lat[safe], self.home_lon[safe])
        values = {"potential": self.potential, "travel_km": np.where(has, np.nan_to_num(km), 0.0)}
        # Workload is unknown without a plan; with nobody owning anything it reads None too.
        with_workload = self.workload is not None and bool(has.any())
        if with_workload:
            values["workload"] = np.nan_to_num(self.workload)
        sums = per_rep_totals(rep, len(self.rep_ids), values)
        return {
            r: {
                "accounts": int(sums["accounts"][i]),
                "potential": float(sums["potential"][i]),
                "workload": float(sums["workload"][i]) if with_workload else None,
                "travel_km": float(sums["travel_km"][i]),
            }
            for i, r in enumerate(self.rep_ids)
        }
