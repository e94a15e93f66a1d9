"""CrmTables: the validated CRM export every stage after loading works on."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class CrmTables:
    """One CRM export as typed frames that follow features.contract.

    Ids are strings, dates are ``datetime64[ns]`` (naive, UTC day precision), amounts floats.
    ``activities`` is an empty frame with the contract columns when the export has none.
    ``extra_account_columns`` names account columns beyond the contract that were kept.
    """

    accounts: pd.DataFrame
    reps: pd.DataFrame
    opportunities: pd.DataFrame
    assignments: pd.DataFrame
    activities: pd.DataFrame
    extra_account_columns: tuple[str, ...] = field(default=())

    def latest_date(self) -> pd.Timestamp:
        """The latest date anywhere in the data: the natural default ``as_of``."""
        candidates = [
            self.opportunities["created_at"].max(),
            self.opportunities["closed_at"].max(),
            self.assignments["start_date"].max(),
            self.accounts["created_at"].max(),
        ]
        if len(self.activities):
            candidates.append(self.activities["occurred_at"].max())
        return max(pd.Timestamp(c) for c in candidates if pd.notna(c))

    def default_as_of(self) -> pd.Timestamp:
        """The day after the latest date in the data: features as of it see every row."""
        return self.latest_date().normalize() + pd.Timedelta(days=1)

    def history_start(self) -> pd.Timestamp:
        """When the CRM's deal history begins: the first opportunity's created_at.

        Accounts may carry much older created_at dates (e.g. the founding year in an import), so
        they do not mark the start of usable history.
        """
        return pd.Timestamp(self.opportunities["created_at"].min())

    def current_owners(self) -> pd.Series:
        """Current owner per account: the assignment row with an empty end_date."""
        open_rows = self.assignments[self.assignments["end_date"].isna()]
        return open_rows.sort_values("start_date").groupby("account_id")["rep_id"].last()
