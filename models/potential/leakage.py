"""Too good to be true: holdout results that point at a feature filled from the outcome.

A CRM field written after a deal is won (a "customer since" date, a lifetime value, a tier
someone set by hand after the fact) is loaded as if it had been known at every snapshot. The
model then ranks the holdout almost perfectly and nothing else about the run looks wrong. These
checks stop such a run and name the columns to look at.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.errors import DataContractError
from models.potential.evaluation import normalized_gini

TOO_GOOD_GINI = 0.95
"""A holdout normalised Gini at or above this, for the model or any baseline, is suspect."""
SINGLE_FEATURE_GINI = 0.9
"""One feature alone ranking the holdout this well is suspect (legitimate ones stay < 0.8)."""
DOMINANT_GAIN_SHARE = 0.7
DOMINANT_FEATURE_GINI = 0.8
"""A feature with this share of the model's gain AND this Gini on its own is suspect."""


class LeakageError(DataContractError):
    """The run looks too good to be true: some feature probably carries the outcome."""


@dataclass(frozen=True)
class Suspect:
    """A column under suspicion and why."""

    column: str
    gini: float
    gain_share: float

    def describe(self) -> str:
        """One line: the column, its Gini alone and its share of the model's gain."""
        return f"{self.column} (Gini alone {self.gini:.3f}, {self.gain_share:.0%} of the gain)"


def single_feature_gini(features: pd.DataFrame, label) -> pd.Series:
    """Normalised Gini of each numeric column used alone as the score (the better sign wins)."""
    actual = np.asarray(label, dtype=float)
    out = {}
    for column in features.select_dtypes(include="number").columns:
        values = features[column].astype(float)
        score = values.fillna(values.min() if values.notna().any() else 0.0).to_numpy()
        out[column] = max(normalized_gini(actual, score), normalized_gini(actual, -score))
    return pd.Series(out, dtype=float)


def find_suspects(
    comparison: pd.DataFrame, features: pd.DataFrame, label, gain: pd.Series
) -> tuple[list[str], list[Suspect]]:
    """(reasons the run looks too good, suspect columns), both empty when nothing is wrong.

    Args:
        comparison: the holdout table (`model`, `normalized_gini`); oracle rows are ignored.
        features: the holdout feature columns; label: the holdout label.
        gain: the model's total gain per feature.
    """
    share = (gain / gain.sum()) if gain.sum() > 0 else gain * 0.0
    alone = single_feature_gini(features, label)
    suspects = []
    for column in features.columns:
        g = float(alone.get(column, np.nan))
        s = float(share.get(column, 0.0))
        single = g >= SINGLE_FEATURE_GINI
        dominant = s >= DOMINANT_GAIN_SHARE and g >= DOMINANT_FEATURE_GINI
        if single or dominant:
            suspects.append(Suspect(column, g, s))
    real = comparison[~comparison["model"].astype(str).str.startswith("oracle")]
    too_good = real[real["normalized_gini"] >= TOO_GOOD_GINI]
    reasons = [
        f"{row.model} ranks the holdout with normalised Gini {row.normalized_gini:.3f} "
        f"(>= {TOO_GOOD_GINI})"
        for row in too_good.itertuples()
    ]
    if suspects:
        reasons.append(f"{len(suspects)} feature(s) carry the outcome almost alone")
    if reasons and not suspects:
        # Too good overall but no single culprit: name the strongest columns to inspect.
        top = alone.sort_values(ascending=False).head(3)
        suspects = [Suspect(str(c), float(g), float(share.get(c, 0.0))) for c, g in top.items()]
    return reasons, sorted(suspects, key=lambda x: -x.gini)


def leakage_message(reasons: list[str], suspects: list[Suspect]) -> str:
    """The error text: what looked wrong, the suspect columns, and the two ways forward."""
    names = [s.column for s in suspects]
    return (
        "training stopped: the holdout result is too good to be true ("
        + "; ".join(reasons)
        + "). Suspect columns: "
        + ", ".join(s.describe() for s in suspects)
        + f". Check whether {names} are filled from records that exist only after a deal is "
        "won; drop them (or give them the date they became known), or rerun with "
        "allow_leakage=True (`--allow-leakage`) if they are genuinely known in advance."
    )
