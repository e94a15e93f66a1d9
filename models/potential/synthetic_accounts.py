"""Synthetic ACCOUNT_POTENTIAL_V1 feature frames with a next-year revenue label (tests, benches).

Not a CRM simulator (that is `features.sample_world`): it draws feature columns directly, with the
same names, units and missing-value conventions as `features.pipeline.build_account_features`
(counts 0 when nothing happened; recencies and owner facts NaN when there is nothing to measure),
and a label whose drivers are known. Pure: the same `n` and `seed` give the same frame.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.feature_sets import ACCOUNT_POTENTIAL_V1

INDUSTRIES = ("Energy", "Finance", "Health", "Logistics", "Manufacturing", "Retail", "Software")
REGIONS = ("Midwest", "Northeast", "Pacific", "Southeast", "Southwest")
LEVELS = ("SDR", "AE", "Senior AE", "Principal")


def _firmographics(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    employees = np.round(rng.lognormal(4.0, 1.4, n))
    annual_revenue = employees * rng.lognormal(11.5, 0.6, n)
    return {
        "industry": rng.choice(INDUSTRIES, n),
        "region": rng.choice(REGIONS, n),
        "employees": np.where(rng.random(n) < 0.05, np.nan, employees),
        "annual_revenue": np.where(rng.random(n) < 0.10, np.nan, annual_revenue),
        "account_age_days": rng.integers(30, 3000, n).astype(float),
    }


def _history(rng: np.random.Generator, propensity: np.ndarray) -> dict[str, np.ndarray]:
    n = len(propensity)
    won_730 = rng.poisson(np.exp(propensity - 0.5))
    won_365 = rng.binomial(won_730, 0.5)
    won_90 = rng.binomial(won_365, 0.25)
    deal = rng.lognormal(9.5, 0.8, n)
    rev_730 = won_730 * deal * rng.lognormal(0, 0.2, n)
    rev_365 = np.where(won_730 > 0, rev_730 * won_365 / np.maximum(won_730, 1), 0.0)
    rev_90 = np.where(won_365 > 0, rev_365 * won_90 / np.maximum(won_365, 1), 0.0)
    lost = rng.poisson(0.6 + 0.4 * won_730)
    created = rng.poisson(0.5 + 0.6 * won_365 + 0.3 * lost)
    ever_won = (won_730 > 0) | (rng.random(n) < 0.2)
    last_win = np.where(
        won_90 > 0,
        rng.integers(0, 90, n),
        np.where(
            won_365 > 0,
            rng.integers(90, 365, n),
            np.where(won_730 > 0, rng.integers(365, 730, n), rng.integers(730, 2500, n)),
        ),
    )
    open_opps = rng.poisson(0.3 + 0.5 * won_365)
    any_opp = (created + lost + won_730 + open_opps > 0) | ever_won
    return {
        "won_revenue_last_90d": rev_90,
        "won_revenue_last_365d": rev_365,
        "won_revenue_last_730d": rev_730,
        "won_deals_last_90d": won_90.astype(float),
        "won_deals_last_365d": won_365.astype(float),
        "won_deals_last_730d": won_730.astype(float),
        "lost_deals_last_730d": lost.astype(float),
        "opportunities_created_last_365d": created.astype(float),
        "win_rate_last_730d": (won_730 + 5 * 0.3) / (won_730 + lost + 5),
        "won_revenue_trend": np.log1p(rev_365) - np.log1p(rev_730 - rev_365),
        "days_since_last_win": np.where(ever_won, last_win, np.nan).astype(float),
        "days_since_last_opportunity": np.where(any_opp, rng.integers(0, 900, n), np.nan).astype(
            float
        ),
        "open_pipeline_value": open_opps * rng.lognormal(9.3, 0.7, n),
        "open_opportunities": open_opps.astype(float),
    }


def _engagement(rng: np.random.Generator, propensity: np.ndarray) -> dict[str, np.ndarray]:
    n = len(propensity)
    engaged = rng.random(n) < 0.75
    a365 = np.where(engaged, rng.poisson(np.exp(1.5 + 0.4 * propensity)), 0)
    a90 = rng.binomial(a365, 0.3)
    shares = rng.dirichlet([4, 4, 2, 1], n)
    by_type = {
        t: np.floor(a365 * shares[:, i])
        for i, t in enumerate(("calls", "emails", "meetings", "visits"))
    }
    since = np.where(a90 > 0, rng.integers(0, 90, n), rng.integers(90, 800, n))
    return {
        "activities_last_90d": a90.astype(float),
        "activities_last_365d": a365.astype(float),
        **{f"{t}_last_365d": v for t, v in by_type.items()},
        "days_since_last_activity": np.where(engaged, since, np.nan).astype(float),
    }


def _relationship(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    owned = rng.random(n) < 0.93

    def owner_fact(values: np.ndarray) -> np.ndarray:
        return np.where(owned, values, np.nan).astype(float)

    return {
        "owner_tenure_days": owner_fact(rng.integers(30, 4000, n)),
        "owner_level": np.where(owned, rng.choice(LEVELS, n), None),
        "owner_industry_match": owner_fact(rng.random(n) < 0.4),
        "owner_book_size": owner_fact(rng.integers(20, 400, n)),
        "owner_changes_last_730d": rng.poisson(0.3, n).astype(float),
        "days_with_current_owner": owner_fact(rng.integers(1, 1500, n)),
        "distance_to_owner_km": owner_fact(rng.gamma(2.0, 120.0, n)),
    }


def _label(rng: np.random.Generator, frame: pd.DataFrame, propensity: np.ndarray) -> np.ndarray:
    recent = np.log1p(frame["won_revenue_last_365d"].to_numpy())
    log_rate = (
        -2.2
        + 0.8 * propensity
        + 0.12 * recent
        + 0.9 * np.isfinite(frame["days_since_last_activity"]).to_numpy()
        + 0.3 * np.log1p(frame["open_opportunities"].to_numpy())
        + 0.4 * frame["owner_industry_match"].fillna(0).to_numpy()
    )
    deals = rng.poisson(np.exp(log_rate))
    return deals * rng.lognormal(9.6, 0.7, len(frame)) * (deals > 0)


def synthetic_account_features(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """(ACCOUNT_POTENTIAL_V1 features with an account_id index, next-year won revenue)."""
    rng = np.random.default_rng(seed)
    columns = _firmographics(rng, n)
    industry_effect = dict(zip(INDUSTRIES, np.linspace(-0.6, 0.6, len(INDUSTRIES)), strict=True))
    propensity = (
        0.35 * (np.log1p(np.nan_to_num(columns["employees"], nan=50.0)) - 4.0)
        + pd.Series(columns["industry"]).map(industry_effect).to_numpy()
        + rng.normal(0, 0.5, n)
    )
    columns.update(_history(rng, propensity))
    columns.update(_engagement(rng, propensity))
    columns.update(_relationship(rng, n))
    growth = {name: rng.normal(0.05, 0.2, n) for name in ("industry", "region")}
    columns["industry_growth_365d"] = (
        pd.Series(columns["industry"])
        .map(dict(zip(INDUSTRIES, growth["industry"][: len(INDUSTRIES)], strict=True)))
        .to_numpy()
    )
    columns["region_growth_365d"] = (
        pd.Series(columns["region"])
        .map(dict(zip(REGIONS, growth["region"][: len(REGIONS)], strict=True)))
        .to_numpy()
    )
    index = pd.Index([f"A{i:07d}" for i in range(n)], name="account_id")
    frame = pd.DataFrame(columns, index=index)
    buying = frame["won_revenue_last_365d"].where(frame["won_revenue_last_365d"] > 0)
    median = buying.groupby(frame["industry"]).transform("median")
    frame["won_revenue_vs_industry_median"] = frame["won_revenue_last_365d"] / median
    for name in ("industry", "region", "owner_level"):
        frame[name] = frame[name].astype("string")
    label = _label(rng, frame, propensity)
    return frame[list(ACCOUNT_POTENTIAL_V1)], label
