"""The matcher's input, checked and indexed: accounts, reps, owners, locks and the expertise rule.

Input frames (one row each; extra columns are ignored):

* accounts: account_id, potential, workload, latitude, longitude, industry, current_rep, region
* reps: rep_id, name, latitude, longitude, level, industries ('|'-separated), capacity,
  tenure_years, active, region

``current_rep`` may name an inactive rep (its accounts must move) or be empty (a new account).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.errors import DataContractError
from models.planning.candidates import Suitability
from models.planning.scenario import Lock, Scenario

ACCOUNT_COLUMNS = (
    "account_id",
    "potential",
    "workload",
    "latitude",
    "longitude",
    "industry",
    "current_rep",
)
REP_COLUMNS = (
    "rep_id",
    "latitude",
    "longitude",
    "industries",
    "capacity",
    "tenure_years",
    "active",
)

PairFit = Callable[[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray], np.ndarray]
"""fit(accounts, reps, account_rows, rep_rows) -> fit multiplier per pair (1.0 = average rep)."""


@dataclass(frozen=True)
class MatchData:
    """Positional arrays over ``accounts`` and ``reps`` rows (rep index -1 = none)."""

    accounts: pd.DataFrame
    reps: pd.DataFrame
    current_rep: np.ndarray
    had_owner: np.ndarray
    lock_rep: np.ndarray
    locks: tuple[Lock, ...]
    active: np.ndarray
    suitability: Suitability
    ignored_locks: tuple[str, ...] = ()

    @property
    def potential(self) -> np.ndarray:
        return self.accounts["potential"].to_numpy(float)

    @property
    def workload(self) -> np.ndarray:
        return self.accounts["workload"].to_numpy(float)

    def industry_known(self, account: np.ndarray, rep: np.ndarray) -> np.ndarray:
        """Whether each rep lists each account's industry among its industries."""
        s = self.suitability
        return s.rep_industries[rep, s.account_industry[account]]


def _require(frame: pd.DataFrame, columns: tuple[str, ...], table: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataContractError(
            f"matcher input `{table}` lacks column(s) {missing}; it has "
            f"{list(frame.columns)[:12]}. Build it with models.planning.inputs."
        )


def prepare(accounts: pd.DataFrame, reps: pd.DataFrame, scenario: Scenario) -> MatchData:
    """Check the frames and index owners, locks and the expertise rule."""
    _require(accounts, ACCOUNT_COLUMNS, "accounts")
    _require(reps, REP_COLUMNS, "reps")
    accounts, reps = accounts.reset_index(drop=True), reps.reset_index(drop=True)
    for frame, key in ((accounts, "account_id"), (reps, "rep_id")):
        dup = frame[key][frame[key].duplicated()]
        if len(dup):
            raise DataContractError(
                f"matcher input has {len(dup)} duplicate {key}(s), e.g. "
                f"{dup.head(3).tolist()}; give each one row."
            )
    active = reps["active"].fillna(True).astype(bool).to_numpy()
    rep_pos = pd.Series(np.arange(len(reps)), index=reps["rep_id"].astype(str))
    owner = accounts["current_rep"].astype("string")
    current = rep_pos.reindex(owner.fillna("")).fillna(-1).to_numpy(np.int64)
    current = np.where(current >= 0, current, -1)
    lock_rep, locks, ignored = _index_locks(accounts, rep_pos, scenario)
    return MatchData(
        accounts=accounts,
        reps=reps,
        current_rep=current,
        had_owner=owner.notna().to_numpy(),
        lock_rep=lock_rep,
        locks=locks,
        active=active,
        suitability=_suitability(accounts, reps, scenario),
        ignored_locks=ignored,
    )


def _index_locks(accounts, rep_pos, scenario: Scenario):
    """Lock rep per account for locks in force on the plan date; expired or unknown ones noted."""
    # Without a plan date nothing can be said to have expired: every lock is in force.
    day = scenario.as_of or pd.Timestamp.min
    account_pos = pd.Series(np.arange(len(accounts)), index=accounts["account_id"].astype(str))
    lock_rep = np.full(len(accounts), -1, dtype=np.int64)
    kept, ignored = [], []
    for lock in scenario.locks:
        if not lock.active_on(day):
            ignored.append(
                f"lock {lock.account_id}->{lock.rep_id} expired on {lock.expires:%Y-%m-%d}"
            )
        elif lock.account_id not in account_pos.index:
            ignored.append(
                f"lock {lock.account_id}->{lock.rep_id}: no active account {lock.account_id}"
            )
        else:
            lock_rep[account_pos[lock.account_id]] = rep_pos.get(lock.rep_id, -2)
            kept.append(lock)
    return lock_rep, tuple(kept), tuple(ignored)


def _suitability(accounts: pd.DataFrame, reps: pd.DataFrame, scenario: Scenario) -> Suitability:
    rule = scenario.limits.expertise
    industry = accounts["industry"].astype("string").str.strip().str.lower().fillna("")
    codes, names = pd.factorize(industry)
    rep_sets = [_industries(v) for v in reps["industries"]]
    matrix = np.zeros((len(reps), len(names) + 1), dtype=bool)
    lookup = {name: j for j, name in enumerate(names)}
    for r, industries in enumerate(rep_sets):
        for name in industries:
            if name in lookup:
                matrix[r, lookup[name]] = True
    potential = accounts["potential"].to_numpy(float)
    high = np.zeros(len(accounts), dtype=bool)
    tenure = np.ones(len(reps), dtype=bool)
    if rule is not None and len(accounts):
        threshold = rule.potential_threshold
        if threshold is None:
            threshold = float(np.quantile(potential, rule.potential_quantile))
        high = potential >= threshold
        tenure = reps["tenure_years"].fillna(0).to_numpy(float) >= rule.min_tenure_years
    return Suitability(
        max_travel_km=scenario.limits.max_travel_km,
        high_potential=high,
        qualified_tenure=tenure,
        rep_industries=matrix,
        account_industry=np.where(codes >= 0, codes, len(names)),
        industry_match=rule.industry_match if rule is not None else True,
    )


def _industries(value: object) -> set[str]:
    if isinstance(value, (tuple, list, set)):
        return {str(v).strip().lower() for v in value if str(v).strip()}
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return set()
    return {part.strip().lower() for part in str(value).split("|") if part.strip()}
