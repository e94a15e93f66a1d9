"""Trend-aware calibration of predicted revenue totals.

A model fitted on snapshots spread over the past predicts the level of that past: when revenue
per account grows (or shrinks), its totals for a later window run low (or high) by the growth
between the average training date and the date it predicts for. The correction is one factor,

    factor = level * exp(growth_per_year * years from the weighted mean training date to target)

where `level` is the model's own in-sample total ratio and `growth_per_year` the log-linear
slope of the mean label per account across the training snapshots, clipped to MAX_GROWTH. For a
log-link (tweedie) booster the factor is folded into the first tree's leaves, so the served model
carries it without any extra state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

TOTAL_TOLERANCE = 0.15
"""Holdout predicted total within this share of the actual total counts as calibrated."""
MAX_GROWTH = 0.3
"""Yearly log growth used at most (a few noisy snapshots must not extrapolate wildly)."""
FACTOR_RANGE = (0.5, 2.0)
DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class TotalCalibration:
    """The factor applied to a model's predictions and where it came from."""

    level: float
    growth_per_year: float
    years_ahead: float
    factor: float


def growth_per_year(as_of: pd.Series, label: pd.Series) -> float:
    """Log-linear slope per year of the mean label per account across snapshot dates."""
    means = label.groupby(as_of).mean()
    means = means[means > 0]
    if len(means) < 3:
        return 0.0
    years = (means.index - means.index.min()) / pd.Timedelta(days=DAYS_PER_YEAR)
    slope = np.polyfit(np.asarray(years, float), np.log(means.to_numpy(float)), 1)[0]
    return float(np.clip(slope, -MAX_GROWTH, MAX_GROWTH))


def fit_total_calibration(
    as_of: pd.Series,
    label: pd.Series,
    predicted: np.ndarray,
    target: pd.Timestamp,
    *,
    use_growth: bool = True,
) -> TotalCalibration:
    """The factor that carries in-sample totals to the level expected at `target` (the level
    alone when ``use_growth`` is off: the trend did not hold on a later period)."""
    fitted = float(np.sum(predicted))
    level = float(label.sum()) / fitted if fitted > 0 else 1.0
    weights = label.groupby(as_of).size()
    first = weights.index.min()
    offsets = (weights.index - first) / pd.Timedelta(days=1)
    mean_date = first + pd.Timedelta(days=float(np.average(offsets, weights=weights.to_numpy())))
    ahead = (pd.Timestamp(target) - mean_date) / pd.Timedelta(days=DAYS_PER_YEAR)
    growth = growth_per_year(as_of, label) if use_growth else 0.0
    factor = float(np.clip(level * np.exp(growth * ahead), *FACTOR_RANGE))
    return TotalCalibration(level, growth, float(ahead), factor)


def scale_log_link_booster(booster, factor: float) -> None:
    """Multiply a log-link LightGBM booster's predictions by `factor` (edits tree 0 in place)."""
    shift = float(np.log(factor))
    leaves = booster.dump_model()["tree_info"][0]["num_leaves"]
    for leaf in range(leaves):
        booster.set_leaf_output(0, leaf, booster.get_leaf_output(0, leaf) + shift)


def total_ratio(actual, predicted) -> float:
    """Predicted total over actual total (1.0 = calibrated in total)."""
    total = float(np.sum(np.asarray(actual, float)))
    return float(np.sum(np.asarray(predicted, float)) / total) if total > 0 else float("nan")
