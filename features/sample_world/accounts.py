"""Accounts of the sample world: place, firmographics, creation date and latent true potential."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.sample_world.config import INDUSTRIES, REGIONS, SampleConfig, WorldParams
from features.sample_world.places import draw_cities, jitter, unit_xyz

DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class Accounts:
    """Every account's true attributes as parallel arrays (index = account number - 1).

    The log potential at the end date is ``log_base + firmographic_effect + industry_effect +
    region_effect + latent_effect``; it moves by ``trend`` per year (log scale).
    """

    industry: np.ndarray
    city: np.ndarray
    region: np.ndarray
    latitude: np.ndarray
    longitude: np.ndarray
    employees: np.ndarray
    annual_revenue: np.ndarray
    created_day: np.ndarray
    log_base: float
    firmographic_effect: np.ndarray
    industry_effect: np.ndarray
    region_effect: np.ndarray
    latent_effect: np.ndarray
    industry_trend: np.ndarray
    region_trend: np.ndarray
    account_trend: np.ndarray
    win_rate_base: np.ndarray
    deal_size_factor: np.ndarray
    activity_factor: np.ndarray

    def __len__(self) -> int:
        return len(self.industry)

    @property
    def log_potential_end(self) -> np.ndarray:
        """log P_a at the end date."""
        return (
            self.log_base
            + self.firmographic_effect
            + self.industry_effect
            + self.region_effect
            + self.latent_effect
        )

    @property
    def trend(self) -> np.ndarray:
        """Yearly change of log P_a: industry + region + account-specific growth."""
        return self.industry_trend + self.region_trend + self.account_trend

    @property
    def xyz(self) -> np.ndarray:
        """Positions on the unit sphere (for nearest-rep queries)."""
        return unit_xyz(self.latitude, self.longitude)

    def potential_at(self, years_from_end: float, rows: np.ndarray | None = None) -> np.ndarray:
        """P_a (yearly rate) at a time given in years relative to the end date (negative = past)."""
        sel = slice(None) if rows is None else rows
        return np.exp(self.log_potential_end[sel] + self.trend[sel] * years_from_end)

    def workload(self) -> np.ndarray:
        """Effort units each account needs: grows slowly with potential at the end date."""
        return workload_units(np.exp(self.log_potential_end), self.log_base)


def workload_units(potential: np.ndarray, log_base: float) -> np.ndarray:
    """Workload of accounts with the given potential (1.0 for a median account)."""
    return np.clip(np.exp(0.3 * (np.log(potential) - log_base)), 0.3, 5.0)


def firmographic_effect(
    employees: np.ndarray, revenue: np.ndarray, params: WorldParams
) -> np.ndarray:
    """Contribution of company size to log P_a, from standardised log employees and log revenue."""
    shares = np.array([i.share for i in INDUSTRIES])
    mean_log_rpe = float(shares @ np.log([i.revenue_per_employee for i in INDUSTRIES]))
    log_emp_median = np.log(params.employees_median)
    z_emp = (np.log(employees) - log_emp_median) / params.employees_log_sd
    revenue_sd = np.hypot(params.employees_log_sd, params.revenue_log_noise)
    z_rev = (np.log(revenue) - log_emp_median - mean_log_rpe) / revenue_sd
    return params.b_employees * z_emp + params.b_revenue * z_rev


def _firmographics(
    industry: np.ndarray, params: WorldParams, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Employees (int >= 1) and annual revenue (whole dollars): correlated, heavy-tailed."""
    n = len(industry)
    log_emp = np.log(params.employees_median) + rng.normal(0.0, params.employees_log_sd, n)
    employees = np.maximum(1, np.round(np.exp(log_emp))).astype(np.int64)
    rpe = np.array([i.revenue_per_employee for i in INDUSTRIES])[industry]
    noise = rng.normal(0.0, params.revenue_log_noise, n)
    revenue = np.round(employees * rpe * np.exp(noise))
    return employees, revenue


def _created_days(
    n: int, start_day: int, end_day: int, params: WorldParams, rng: np.random.Generator
) -> np.ndarray:
    """Creation days: most accounts predate the history window, some are created during it."""
    new = rng.random(n) < params.new_account_share
    max_age = int(params.account_age_max_years * DAYS_PER_YEAR)
    before = start_day - 1 - rng.integers(0, max_age, n)
    during = rng.integers(start_day, end_day + 1, n)
    return np.where(new, during, before).astype(np.int64)


def _logit(p: np.ndarray) -> np.ndarray:
    """Log-odds of a probability."""
    return np.log(p / (1.0 - p))


def _places_and_industries(
    n: int, params: WorldParams, cities: pd.DataFrame, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """City (by population), jittered coordinates and industry (by the industry mix)."""
    city = draw_cities(cities["population"].to_numpy(), n, rng)
    lat, lon = jitter(
        cities["latitude"].to_numpy()[city],
        cities["longitude"].to_numpy()[city],
        params.location_jitter_km,
        rng,
    )
    shares = np.array([i.share for i in INDUSTRIES])
    industry = np.searchsorted(np.cumsum(shares), rng.random(n) * shares.sum(), side="right")
    industry = np.minimum(industry, len(INDUSTRIES) - 1).astype(np.int8)
    return city.astype(np.int32), lat, lon, industry


def draw_accounts(
    config: SampleConfig,
    params: WorldParams,
    cities: pd.DataFrame,
    start_day: int,
    end_day: int,
    rng: np.random.Generator,
) -> Accounts:
    """Draw every account: city by population, industry mix, size, age and latent potential."""
    n = config.n_accounts
    city, lat, lon, industry = _places_and_industries(n, params, cities, rng)
    region = cities["region_code"].to_numpy()[city].astype(np.int8)
    employees, revenue = _firmographics(industry, params, rng)
    region_params = list(REGIONS.values())
    win = np.array([i.win_rate for i in INDUSTRIES])[industry]
    logit_win = _logit(win) + rng.normal(0.0, params.win_rate_account_sd, n)
    return Accounts(
        industry=industry,
        city=city,
        region=region,
        latitude=lat,
        longitude=lon,
        employees=employees,
        annual_revenue=revenue,
        created_day=_created_days(n, start_day, end_day, params, rng),
        log_base=float(np.log(params.potential_median)),
        firmographic_effect=firmographic_effect(employees, revenue, params),
        industry_effect=np.array([i.effect for i in INDUSTRIES])[industry],
        region_effect=np.array([r[1] for r in region_params])[region],
        latent_effect=rng.normal(0.0, params.latent_sd, n),
        industry_trend=np.array([i.trend for i in INDUSTRIES])[industry],
        region_trend=np.array([r[2] for r in region_params])[region],
        account_trend=rng.normal(0.0, params.account_trend_sd, n),
        win_rate_base=1.0 / (1.0 + np.exp(-logit_win)),
        deal_size_factor=np.exp(rng.normal(0.0, params.deal_size_account_sd, n)),
        activity_factor=np.exp(rng.normal(0.0, params.activity_account_sd, n)),
    )
