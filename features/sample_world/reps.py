"""Reps of the sample world: experience, latent skill, level, expertise, home base and capacity."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.sample_world.accounts import DAYS_PER_YEAR
from features.sample_world.config import INDUSTRIES, WorldParams
from features.sample_world.places import draw_cities, jitter, rep_base_cities, unit_xyz

NO_DAY = int(np.iinfo(np.int32).max)  # 'no date': fits the int32 day arrays of the history
LEVEL_THRESHOLDS = np.array([-0.9, 0.35, 1.3])
EXPERTISE_COUNT_PROBS = np.array([0.35, 0.45, 0.20])


@dataclass(frozen=True)
class Roster:
    """Every rep ever employed, as parallel arrays (index = rep number - 1)."""

    experience: np.ndarray
    hire_day: np.ndarray
    level: np.ndarray
    skill: np.ndarray
    expertise: np.ndarray
    city: np.ndarray
    latitude: np.ndarray
    longitude: np.ndarray
    capacity: np.ndarray
    engagement: np.ndarray
    left_day: np.ndarray

    def __len__(self) -> int:
        return len(self.skill)

    def active_on(self, day: int) -> np.ndarray:
        """Mask of reps employed on `day` (hired on or before it and not yet left)."""
        return (self.hire_day <= day) & (self.left_day > day)

    @property
    def xyz(self) -> np.ndarray:
        """Home bases on the unit sphere."""
        return unit_xyz(self.latitude, self.longitude)

    def concat(self, other: Roster) -> Roster:
        """This roster followed by `other` (new hires get the next rep numbers)."""
        return Roster(
            **{
                f.name: np.concatenate([getattr(self, f.name), getattr(other, f.name)])
                for f in dataclasses.fields(self)
            }
        )

    def with_departures(self, reps: np.ndarray, days: np.ndarray) -> Roster:
        """A copy where `reps` left on `days`."""
        left = self.left_day.copy()
        left[reps] = days
        return dataclasses.replace(self, left_day=left)


def _expertise(n: int, params: WorldParams, rng: np.random.Generator) -> np.ndarray:
    """1 to 3 industries per rep, common industries more often (Gumbel top-k, no replacement)."""
    shares = np.array([i.share for i in INDUSTRIES])
    keys = np.log(shares)[None, :] + rng.gumbel(size=(n, len(shares)))
    order = np.argsort(-keys, axis=1, kind="stable")
    count = 1 + np.searchsorted(np.cumsum(EXPERTISE_COUNT_PROBS), rng.random(n), side="right")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(len(shares))[None, :].repeat(n, 0), axis=1)
    return ranks < np.minimum(count, 3)[:, None]


def _experience_skill_level(
    n: int, experience_median: float, params: WorldParams, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log experience, latent skill (standard normal) and level code per rep."""
    log_exp = np.log(experience_median) + rng.normal(0.0, params.rep_experience_log_sd, n)
    z_exp = (log_exp - np.log(params.rep_experience_median_years)) / params.rep_experience_log_sd
    rho = params.skill_experience_corr
    skill = rho * z_exp + np.sqrt(1.0 - rho**2) * rng.normal(0.0, 1.0, n)
    level_score = z_exp + 0.5 * skill + rng.normal(0.0, 0.5, n)
    return log_exp, skill, np.searchsorted(LEVEL_THRESHOLDS, level_score).astype(np.int8)


def draw_reps(
    n: int,
    hire_day: np.ndarray,
    experience_median: float,
    cities: pd.DataFrame,
    capacity_unit: float,
    params: WorldParams,
    rng: np.random.Generator,
    city: np.ndarray | None = None,
) -> Roster:
    """Draw `n` reps hired on `hire_day`: skill correlates with experience, level with both.

    Args:
        experience_median: median years of sales experience at hire (or at the window start).
        capacity_unit: workload units an AE carries; other levels scale it.
        city: home city per rep; drawn from the larger cities by population when None.
    """
    log_exp, skill, level = _experience_skill_level(n, experience_median, params, rng)
    if city is None:
        bases = rep_base_cities(cities)
        city = bases[draw_cities(cities["population"].to_numpy()[bases], n, rng)]
    lat, lon = jitter(
        cities["latitude"].to_numpy()[city], cities["longitude"].to_numpy()[city], 3.0, rng
    )
    level_factor = np.array(params.capacity_by_level)[level]
    capacity = np.round(capacity_unit * level_factor * np.exp(rng.normal(0.0, 0.15, n)), 1)
    return Roster(
        experience=np.exp(log_exp),
        hire_day=np.asarray(hire_day, dtype=np.int64),
        level=level,
        skill=skill,
        expertise=_expertise(n, params, rng),
        city=np.asarray(city, dtype=np.int32),
        latitude=lat,
        longitude=lon,
        capacity=np.maximum(capacity, 1.0),
        engagement=np.exp(0.1 * skill + rng.normal(0.0, params.engagement_sd, n)),
        left_day=np.full(n, NO_DAY, dtype=np.int64),
    )


def initial_roster(
    n: int,
    start_day: int,
    cities: pd.DataFrame,
    capacity_unit: float,
    params: WorldParams,
    rng: np.random.Generator,
) -> Roster:
    """The team at the start of history, hired before it: longer tenure goes with experience."""
    roster = draw_reps(
        n,
        np.zeros(n, dtype=np.int64),
        params.rep_experience_median_years,
        cities,
        capacity_unit,
        params,
        rng,
    )
    tenure_years = roster.experience * rng.uniform(0.15, 1.0, n)
    hire_day = start_day - 1 - np.round(tenure_years * DAYS_PER_YEAR).astype(np.int64)
    return dataclasses.replace(roster, hire_day=hire_day)


def monthly_leave_probability(level: np.ndarray, params: WorldParams) -> np.ndarray:
    """Chance each rep leaves within a month, from the yearly rate of their level."""
    yearly = np.array(params.leave_rate_by_level)[level]
    return 1.0 - (1.0 - yearly) ** (1.0 / 12.0)
