"""Sample world settings: the run's size and seed, and the constants of the generative model."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from typing import Any

from features.errors import TerritoryError

DEFAULT_END_DATE = date(2026, 6, 30)
MAX_YEARS = 20  # also keeps history days within uint16 for the linear-time sort


class SampleConfigError(TerritoryError):
    """A sample world setting is out of range; names the option, the value and the fix."""

    def __init__(self, option: str, value: object, message: str) -> None:
        super().__init__(message)
        self.option = option
        self.value = value


@dataclass(frozen=True)
class Industry:
    """One industry: its share of accounts and its effect on potential (log scale, per year)."""

    name: str
    share: float
    effect: float
    trend: float
    revenue_per_employee: float
    win_rate: float


INDUSTRIES: tuple[Industry, ...] = (
    Industry("Manufacturing", 0.16, 0.15, 0.02, 250e3, 0.24),
    Industry("Healthcare", 0.12, 0.10, 0.06, 180e3, 0.22),
    Industry("Financial Services", 0.10, 0.30, 0.00, 400e3, 0.20),
    Industry("Retail", 0.12, -0.20, -0.06, 200e3, 0.27),
    Industry("Technology", 0.12, 0.25, 0.10, 300e3, 0.25),
    Industry("Professional Services", 0.11, -0.05, 0.03, 150e3, 0.28),
    Industry("Construction", 0.08, -0.10, 0.04, 220e3, 0.25),
    Industry("Education", 0.06, -0.30, -0.03, 90e3, 0.23),
    Industry("Logistics", 0.08, 0.05, 0.05, 260e3, 0.25),
    Industry("Energy", 0.05, 0.20, -0.05, 600e3, 0.21),
)

# US census regions: (states, effect on log potential, trend per year).
REGIONS: dict[str, tuple[tuple[str, ...], float, float]] = {
    "Northeast": (("CT", "ME", "MA", "NH", "RI", "VT", "NJ", "NY", "PA"), 0.05, -0.02),
    "Midwest": (
        ("IL", "IN", "MI", "OH", "WI", "IA", "KS", "MN", "MO", "NE", "ND", "SD"),
        -0.05,
        -0.01,
    ),
    "South": (
        (
            "DE",
            "FL",
            "GA",
            "MD",
            "NC",
            "SC",
            "VA",
            "DC",
            "WV",
            "AL",
            "KY",
            "MS",
            "TN",
            "AR",
            "LA",
            "OK",
            "TX",
        ),
        0.00,
        0.04,
    ),
    "West": (
        ("AZ", "CO", "ID", "MT", "NV", "NM", "UT", "WY", "AK", "CA", "HI", "OR", "WA"),
        0.08,
        0.03,
    ),
}


@dataclass(frozen=True)
class SampleConfig:
    """What to generate: size, history length, seed and the last day of history."""

    n_accounts: int = 20_000
    n_reps: int = 60
    years: int = 3
    seed: int = 7
    end_date: date = DEFAULT_END_DATE


@dataclass(frozen=True)
class WorldParams:
    """Constants of the generative model (docs/sample_world.md explains each group)."""

    # Potential P_a: expected yearly won revenue with an average rep (log-linear model).
    potential_median: float = 12_000.0
    employees_median: float = 40.0
    employees_log_sd: float = 1.5
    revenue_log_noise: float = 0.5
    b_employees: float = 0.5
    b_revenue: float = 0.5
    latent_sd: float = 0.6
    account_trend_sd: float = 0.12
    # Deals: arrivals x win chance x amount, each a share of the pair multiplier.
    deal_size_median: float = 4_000.0
    deal_size_elasticity: float = 0.75
    deal_size_account_sd: float = 0.3
    amount_log_sd: float = 0.6
    amount_log_sd_size: float = 0.9
    win_rate_account_sd: float = 0.5
    cycle_median_days: float = 60.0
    cycle_log_sd: float = 0.6
    cycle_size_elasticity: float = 0.45
    lost_cycle_factor: float = 0.8
    arrival_share: float = 0.5
    win_share: float = 0.3
    amount_share: float = 0.2
    # Pair value V(a, r) = P_a * multiplier(a, r).
    b_skill: float = 0.2
    b_match: float = 0.35
    b_dist_per_100km: float = 0.06
    dist_cap_km: float = 1000.0
    ref_match: float = 0.25
    ref_dist_km: float = 100.0
    unowned_arrival_factor: float = 0.35
    overload_exponent: float = 0.7
    # Activities.
    activity_rate: float = 4.0
    activity_elasticity: float = 0.5
    activity_account_sd: float = 0.25
    engagement_sd: float = 0.35
    touches_per_opportunity: float = 1.0
    # Reps and ownership.
    rep_experience_median_years: float = 5.0
    rep_experience_log_sd: float = 0.7
    skill_experience_corr: float = 0.5
    leave_rate_by_level: tuple[float, float, float, float] = (0.24, 0.15, 0.10, 0.06)
    capacity_by_level: tuple[float, float, float, float] = (0.6, 1.0, 1.15, 1.1)
    capacity_slack: float = 1.1
    replacement_same_city: float = 0.7
    replacement_takes_book: float = 0.7
    rebalance_rate: float = 0.04
    far_owner_share: float = 0.08
    assign_candidates: int = 6
    assign_distance_km: float = 250.0
    assign_match_boost: float = 1.5
    initially_unowned_share: float = 0.03
    new_account_share: float = 0.4
    account_age_max_years: float = 10.0
    # Missing values and noise in the export.
    missing_employees: float = 0.04
    missing_revenue: float = 0.06
    missing_location: float = 0.01
    missing_rep_industries: float = 0.05
    missing_capacity: float = 0.03
    location_jitter_km: float = 5.0

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (tuples become lists)."""
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> WorldParams:
        """Inverse of `to_dict`; unknown keys are ignored so older files still load."""
        names = {f.name for f in dataclasses.fields(cls)}
        kept = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in names}
        return cls(**kept)


def check_config(config: SampleConfig) -> None:
    """Raise SampleConfigError naming the option when a setting cannot make a sensible world."""
    if config.n_accounts < 1:
        raise SampleConfigError(
            "--accounts",
            config.n_accounts,
            f"--accounts must be at least 1, got {config.n_accounts}; try --accounts 20000.",
        )
    if config.n_reps < 1:
        raise SampleConfigError(
            "--reps",
            config.n_reps,
            f"--reps must be at least 1, got {config.n_reps}; try --reps 60.",
        )
    if config.n_reps > config.n_accounts:
        raise SampleConfigError(
            "--reps",
            config.n_reps,
            f"--reps {config.n_reps} is more than --accounts {config.n_accounts}: every rep needs "
            "accounts to own; use fewer reps (about one per 300 accounts) or more accounts.",
        )
    if not 1 <= config.years <= MAX_YEARS:
        raise SampleConfigError(
            "--years",
            config.years,
            f"--years must be between 1 and {MAX_YEARS}, got {config.years}; try --years 3 "
            "(the potential model needs at least 2 years to train and evaluate).",
        )
    if config.seed < 0:
        raise SampleConfigError(
            "--seed", config.seed, f"--seed must be >= 0, got {config.seed}; try --seed 7."
        )
