"""The hidden truth of a sample world: true potential per account, true skill per rep, params."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from features.contract import REP_LEVELS
from features.sample_world.accounts import DAYS_PER_YEAR, Accounts
from features.sample_world.config import INDUSTRIES, SampleConfig, WorldParams
from features.sample_world.frames import choice_text, expertise_text, to_dates
from features.sample_world.history import History
from features.sample_world.places import REGION_NAMES
from features.sample_world.reps import NO_DAY
from features.sample_world.value import integrated_potential, pair_value, potential_between


@dataclass(frozen=True)
class Truth:
    """truth/accounts, truth/reps and the parameters that generated the world."""

    accounts: pd.DataFrame
    reps: pd.DataFrame
    params: WorldParams
    config: SampleConfig

    def oracle_potential(self, start: pd.Timestamp, stop: pd.Timestamp) -> pd.Series:
        """Expected won revenue in [start, stop) with an average rep, by account_id.

        The oracle of a backtest whose label window is [start, stop): P_a integrated over it.
        """
        values = potential_between(self.accounts, self.config.end_date, start, stop)
        return pd.Series(
            values,
            index=pd.Index(self.accounts["account_id"], name="account_id"),
            name="true_potential",
        )


def truth_reps(history: History, rep_ids: pd.Series, workload: np.ndarray) -> pd.DataFrame:
    """One row per rep ever employed: true skill and expertise, home, capacity, load at the end."""
    roster = history.roster
    owner = history.owner_at_end
    owned = owner >= 0
    load = np.bincount(owner[owned], weights=workload[owned], minlength=len(roster))
    return pd.DataFrame(
        {
            "rep_id": rep_ids,
            "true_skill": roster.skill,
            "experience_years": roster.experience,
            "level": choice_text(REP_LEVELS, roster.level),
            "industries": pd.Series(expertise_text(roster.expertise), dtype="str"),
            "home_latitude": roster.latitude,
            "home_longitude": roster.longitude,
            "capacity": roster.capacity,
            "engagement": roster.engagement,
            "hired_at": to_dates(roster.hire_day),
            "left_at": to_dates(roster.left_day),
            "active": roster.left_day >= NO_DAY,
            "accounts_at_end": np.bincount(owner[owned], minlength=len(roster)),
            "workload_at_end": load,
        }
    )


def next_year_in_years(end_date: date) -> float:
    """Length of the 12 calendar months after `end_date`, in years of 365.25 days."""
    end = pd.Timestamp(end_date)
    return ((end + pd.DateOffset(years=1)) - end) / pd.Timedelta(days=1) / DAYS_PER_YEAR


def truth_accounts(
    accounts: Accounts, history: History, account_ids: pd.Series, rep_ids: pd.Series, end_date: date
) -> pd.DataFrame:
    """One row per account: true size and place, the components of log P_a, trends, owner."""
    log_p = accounts.log_potential_end
    trend = accounts.trend
    owner = history.owner_at_end
    return pd.DataFrame(
        {
            "account_id": account_ids,
            "industry": choice_text(tuple(i.name for i in INDUSTRIES), accounts.industry),
            "region": choice_text(REGION_NAMES, accounts.region),
            "latitude": accounts.latitude,
            "longitude": accounts.longitude,
            "employees": accounts.employees,
            "annual_revenue": accounts.annual_revenue,
            "created_at": to_dates(accounts.created_day),
            "log_base": np.full(len(accounts), accounts.log_base),
            "firmographic_effect": accounts.firmographic_effect,
            "industry_effect": accounts.industry_effect,
            "region_effect": accounts.region_effect,
            "latent_effect": accounts.latent_effect,
            "log_potential_at_end": log_p,
            "industry_trend": accounts.industry_trend,
            "region_trend": accounts.region_trend,
            "account_trend": accounts.account_trend,
            "trend_per_year": trend,
            "potential_at_end": np.exp(log_p),
            "true_potential": integrated_potential(log_p, trend, 0.0, next_year_in_years(end_date)),
            "workload": accounts.workload(),
            "win_rate_base": accounts.win_rate_base,
            "current_owner": rep_ids.take(owner).reset_index(drop=True),
        }
    )


def build_truth(
    accounts: Accounts,
    history: History,
    account_ids: pd.Series,
    rep_ids: pd.Series,
    params: WorldParams,
    config: SampleConfig,
) -> Truth:
    """Truth frames, with V(a, current owner) computed by `pair_value` itself."""
    reps = truth_reps(history, rep_ids, accounts.workload())
    frame = truth_accounts(accounts, history, account_ids, rep_ids, config.end_date)
    frame["expected_revenue_current_owner"] = pair_value(
        frame, reps, params, frame["account_id"].to_numpy(), frame["current_owner"].to_numpy()
    )
    return Truth(accounts=frame, reps=reps, params=params, config=config)
