"""Named, versioned feature lists. Every training run logs the name it used."""

from __future__ import annotations

HISTORY_WINDOWS_DAYS = (90, 365, 730)
ACTIVITY_WINDOWS_DAYS = (90, 365)

CATEGORICAL = ("industry", "region", "owner_level")

ACCOUNT_POTENTIAL_V1_NAME = "account_potential_v1"
ACCOUNT_POTENTIAL_V1: tuple[str, ...] = (
    # firmographics
    "industry",
    "region",
    "employees",
    "annual_revenue",
    "account_age_days",
    # history
    *(f"won_revenue_last_{d}d" for d in HISTORY_WINDOWS_DAYS),
    *(f"won_deals_last_{d}d" for d in HISTORY_WINDOWS_DAYS),
    "lost_deals_last_730d",
    "opportunities_created_last_365d",
    "win_rate_last_730d",
    "won_revenue_trend",
    "days_since_last_win",
    "days_since_last_opportunity",
    "open_pipeline_value",
    "open_opportunities",
    # engagement
    "activities_last_90d",
    "activities_last_365d",
    "calls_last_365d",
    "emails_last_365d",
    "meetings_last_365d",
    "visits_last_365d",
    "days_since_last_activity",
    # relationship
    "owner_tenure_days",
    "owner_level",
    "owner_industry_match",
    "owner_book_size",
    "owner_changes_last_730d",
    "days_with_current_owner",
    "distance_to_owner_km",
    # geography and market context
    "industry_growth_365d",
    "region_growth_365d",
    "won_revenue_vs_industry_median",
)

# Business directions certain enough to enforce as LightGBM monotone constraints (+1 increasing).
MONOTONE_INCREASING: tuple[str, ...] = ("won_revenue_last_365d",)

FEATURE_SETS = {ACCOUNT_POTENTIAL_V1_NAME: ACCOUNT_POTENTIAL_V1}
