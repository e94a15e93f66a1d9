"""Batch scoring: potential, percentile and tier for every account in a feature frame."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.potential.estimator import PotentialModel

# Tier by percentile of potential: A = top 10 %, B = next 20 %, C = next 30 %, D = the rest.
TIER_CUTS = ((90.0, "A"), (70.0, "B"), (40.0, "C"), (0.0, "D"))


def percentile_rank(values: np.ndarray) -> np.ndarray:
    """Percentile (0-100] of each value among all values; ties share the higher rank."""
    return pd.Series(values).rank(method="max", pct=True).to_numpy() * 100.0


def tier_of(percentile: np.ndarray) -> np.ndarray:
    """Letter tier for each percentile, using TIER_CUTS."""
    out = np.full(len(percentile), "D", dtype=object)
    for cut, letter in reversed(TIER_CUTS):
        out[np.asarray(percentile) > cut] = letter
    return out


def score_frame(
    model: PotentialModel, features: pd.DataFrame, *, chunk_rows: int = 100_000, progress=None
) -> pd.DataFrame:
    """account_id, potential, percentile, tier for every row of `features` (account_id index)."""
    parts = []
    for start in range(0, len(features), chunk_rows):
        chunk = features.iloc[start : start + chunk_rows]
        parts.append(model.predict(chunk))
        if progress is not None:
            progress(len(chunk))
    potential = np.concatenate(parts) if parts else np.array([], dtype=float)
    percentile = percentile_rank(potential)
    return pd.DataFrame(
        {
            "account_id": features.index.astype(str),
            "potential": potential,
            "percentile": np.round(percentile, 2),
            "tier": tier_of(percentile),
        }
    )
