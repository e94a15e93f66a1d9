"""From CRM tables, scores and a scenario to the matcher's account and rep frames.

* accounts: the scored accounts (the active ones), their workload (models.potential.workload),
location,
  industry, region and current owner;
* reps: the CRM's reps with tenure as of the plan date, reps the scenario adds, and the active
  flag cleared for reps it removes (their accounts must move). Empty capacities take
  ``limits.default_capacity``, else the median known capacity, else 1.15x an even share.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from features.tables import CrmTables
from models.errors import DataContractError
from models.planning.scenario import Scenario
from models.potential import account_workload

DAYS_PER_YEAR = 365.25
CAPACITY_HEADROOM = 1.15
"""With no capacity anywhere in the data: each rep gets 1.15x an even share of the workload."""


@dataclass(frozen=True)
class PlanInputs:
    """Matcher frames plus what was left out (unscored accounts, scores for unknown accounts)."""

    accounts: pd.DataFrame
    reps: pd.DataFrame
    as_of: pd.Timestamp
    unscored_accounts: int
    unknown_scores: int


def plan_inputs(
    tables: CrmTables, scores: pd.DataFrame, scenario: Scenario, as_of: pd.Timestamp | None = None
) -> PlanInputs:
    """Matcher frames for the plan date: scenario.as_of, else ``as_of``, else the last day."""
    day = scenario.as_of or as_of or tables.latest_date()
    potential = _potential(scores)
    accounts = tables.accounts.set_index("account_id")
    known = potential.index.isin(accounts.index)
    potential = potential[known]
    frame = accounts.loc[potential.index].reset_index()
    owners = tables.current_owners().reindex(frame["account_id"])
    out = pd.DataFrame(
        {
            "account_id": frame["account_id"].astype(str),
            "potential": potential.to_numpy(float),
            "workload": account_workload(
                frame["employees"], potential.reset_index(drop=True)
            ).to_numpy(),
            "latitude": frame["latitude"].astype(float),
            "longitude": frame["longitude"].astype(float),
            "industry": frame["industry"],
            "region": frame["region"],
            "employees": frame["employees"],
            "annual_revenue": frame["annual_revenue"],
            "current_rep": owners.astype("string").to_numpy(),
        }
    )
    total_workload = float(out["workload"].sum())
    reps = _default_capacity(rep_frame(tables, scenario, day), scenario, total_workload)
    return PlanInputs(out, reps, day, int(len(accounts) - len(out)), int((~known).sum()))


def _potential(scores: pd.DataFrame) -> pd.Series:
    missing = [c for c in ("account_id", "potential") if c not in scores.columns]
    if missing:
        raise DataContractError(
            f"scores lack column(s) {missing}; they have {list(scores.columns)}"
            ". Pass the file written by `territory score` (account_id, potential)."
        )
    values = pd.to_numeric(scores["potential"], errors="coerce")
    bad = scores.loc[values.isna() | (values < 0), "account_id"]
    if len(bad):
        raise DataContractError(
            f"{len(bad)} score(s) are empty or negative, e.g. {bad.head(3).tolist()}"
            "; potential must be a number >= 0. Re-run `territory score`."
        )
    series = pd.Series(values.to_numpy(float), index=scores["account_id"].astype(str))
    return series[~series.index.duplicated(keep="last")]


def rep_frame(tables: CrmTables, scenario: Scenario, day: pd.Timestamp) -> pd.DataFrame:
    """The reps as the matcher and the rep fit see them on ``day``: home position, tenure, active
    (the scenario's departures cleared) and the scenario's hires; capacities as the CRM gives them.
    """
    reps = tables.reps
    removed = set(scenario.remove_reps)
    unknown = sorted(removed - set(reps["rep_id"].astype(str)))
    if unknown:
        raise DataContractError(
            f"scenario remove_reps names unknown rep(s) {unknown}; use rep_ids from reps.csv."
        )
    hired = pd.to_datetime(reps["hired_at"])
    frame = pd.DataFrame(
        {
            "rep_id": reps["rep_id"].astype(str),
            "name": reps["name"],
            "latitude": reps["home_latitude"].astype(float),
            "longitude": reps["home_longitude"].astype(float),
            "level": reps["level"],
            "industries": reps["industries"],
            "capacity": reps["capacity"].astype(float),
            "tenure_years": ((day - hired).dt.days / DAYS_PER_YEAR).clip(lower=0),
            "active": reps["active"].fillna(True).astype(bool) & ~reps["rep_id"].isin(removed),
            "region": pd.Series(pd.NA, index=reps.index, dtype="string"),
        }
    )
    added = pd.DataFrame([_new_rep_row(r) for r in scenario.add_reps], columns=frame.columns)
    frame = pd.concat([frame, added], ignore_index=True) if len(added) else frame
    clash = frame["rep_id"][frame["rep_id"].duplicated()]
    if len(clash):
        raise DataContractError(
            f"scenario add_reps reuses rep_id(s) {clash.tolist()}; pick new ids."
        )
    return frame


def _default_capacity(
    frame: pd.DataFrame, scenario: Scenario, total_workload: float
) -> pd.DataFrame:
    """Empty capacities: ``limits.default_capacity``, else the median known one, else 1.15x an
    even share of the total workload."""
    known = frame["capacity"].dropna()
    even_share = CAPACITY_HEADROOM * total_workload / max(int(frame["active"].sum()), 1)
    default = scenario.limits.default_capacity or (
        float(known.median()) if len(known) else even_share
    )
    return frame.assign(capacity=frame["capacity"].fillna(default))


def _new_rep_row(rep) -> dict[str, object]:
    if rep.latitude is None or rep.longitude is None:
        raise DataContractError(
            f"added rep {rep.rep_id} has no coordinates; plan through the recipe "
            f"(models.planning.scenario_for resolves `city: {rep.city}`), or give "
            "latitude/longitude."
        )
    return {
        "rep_id": rep.rep_id,
        "name": rep.name or rep.rep_id,
        "latitude": float(rep.latitude),
        "longitude": float(rep.longitude),
        "level": rep.level,
        "industries": "|".join(rep.industries),
        "capacity": rep.capacity,
        "tenure_years": float(rep.tenure_years),
        "active": True,
        "region": rep.region,
    }
