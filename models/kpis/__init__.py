"""KPIs per rep, region and company for any period, from the CRM tables (pure functions).

kpi_table(tables, start, stop, by="rep", potential=scores)   # one row per rep
kpi_trend(tables, start, stop, by="company", freq="QS")       # one row per quarter
"""

from __future__ import annotations

from models.kpis.goals import (
    GoalCalibrator,
    calibrate_goals,
    fairness,
    random_books,
    territory_goals,
)
from models.kpis.outcomes import (
    Lift,
    PlanOutcome,
    choose_holdback,
    measured_lift,
    outcome_accounts,
    plan_outcomes,
    won_between,
)
from models.kpis.table import (
    GROUPINGS,
    KPI_COLUMNS,
    KpiError,
    KpiSettings,
    account_frame,
    check_period,
    kpi_table,
    kpi_trend,
    owners_on,
    rep_capacity,
)

__all__ = [
    "GoalCalibrator",
    "calibrate_goals",
    "fairness",
    "random_books",
    "territory_goals",
    "Lift",
    "PlanOutcome",
    "choose_holdback",
    "measured_lift",
    "outcome_accounts",
    "plan_outcomes",
    "won_between",
    "GROUPINGS",
    "KPI_COLUMNS",
    "KpiError",
    "KpiSettings",
    "account_frame",
    "check_period",
    "kpi_table",
    "kpi_trend",
    "owners_on",
    "rep_capacity",
]
