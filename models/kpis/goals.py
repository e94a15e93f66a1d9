"""Goals per territory from the potential: calibrated totals, conformal intervals, fairness.

    calibrator = calibrate_goals(predicted, actual, book_size=60, confidence=0.8)
    goals = territory_goals(calibrator, potential, owner, expected_value)   # one row per rep
    fairness(goals)                                                          # spread of attainment

Calibration uses a holdout: accounts whose predicted revenue for a past window (a backtest of the
potential model) and actual won revenue in that window are known.

- **scale**: sum of actual over sum of predicted. The potential model under-predicts on the
  default world (README calibration table), so goals read straight from it would be set too low.
- **interval**: split conformal prediction (MAPIE's `SplitConformalRegressor`, relative "gamma"
  score) on territory totals. Territories of the holdout are random books of `book_size`
  holdout accounts, drawn `n_books` times, so the scores are exchangeable with a new book of that
  size; the stated `confidence` is then the share of books whose actual lands in the interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin

from models.kpis.table import KpiError


class _ScaledTotal(RegressorMixin, BaseEstimator):
    """A territory's goal: its predicted total times the calibration scale (nothing to learn)."""

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale

    def fit(self, X, y=None) -> _ScaledTotal:
        self.n_features_in_ = 1
        return self

    def predict(self, X) -> np.ndarray:
        return np.asarray(X, dtype=float)[:, 0] * self.scale


@dataclass(frozen=True)
class GoalCalibrator:
    """The fitted calibration: scale, confidence and MAPIE's conformalised regressor."""

    scale: float
    confidence: float
    book_size: int
    holdout_predicted: float
    holdout_actual: float
    conformal: object

    def interval(self, predicted_totals: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(goal, low, high) per territory from its predicted total."""
        X = np.asarray(predicted_totals, dtype=float).reshape(-1, 1)
        goal, bounds = self.conformal.predict_interval(X)
        return goal, np.maximum(bounds[:, 0, 0], 0.0), bounds[:, 1, 0]


def random_books(
    predicted: pd.Series, actual: pd.Series, book_size: int, n_books: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted and actual totals of `n_books` random books of `book_size` accounts each."""
    if book_size < 1 or book_size > len(predicted):
        raise KpiError(
            f"book_size {book_size} must be between 1 and the {len(predicted)} holdout accounts."
        )
    rng = np.random.default_rng(seed)
    p, a = predicted.to_numpy(float), actual.reindex(predicted.index).fillna(0.0).to_numpy(float)
    picks = np.stack([rng.choice(len(p), book_size, replace=False) for _ in range(n_books)])
    return p[picks].sum(axis=1), a[picks].sum(axis=1)


def calibrate_goals(
    predicted: pd.Series,
    actual: pd.Series,
    *,
    book_size: int,
    confidence: float = 0.8,
    n_books: int = 500,
    seed: int = 0,
) -> GoalCalibrator:
    """Scale and conformal intervals for territory goals, from a holdout's predicted and actual."""
    from mapie.regression import SplitConformalRegressor

    if not 0.0 < confidence < 1.0:
        raise KpiError(f"confidence {confidence} must be between 0 and 1 (e.g. 0.8).")
    total_p, total_a = float(predicted.sum()), float(actual.reindex(predicted.index).sum())
    if total_p <= 0:
        raise KpiError("the holdout's predicted revenue sums to 0; pass a scored holdout.")
    scale = total_a / total_p
    X, y = random_books(predicted, actual, book_size, n_books, seed)
    conformal = SplitConformalRegressor(
        _ScaledTotal(scale).fit(X.reshape(-1, 1)),
        confidence_level=confidence,
        conformity_score="gamma",
        prefit=True,
    ).conformalize(X.reshape(-1, 1), y)
    return GoalCalibrator(scale, confidence, book_size, total_p, total_a, conformal)


def territory_goals(
    calibrator: GoalCalibrator,
    potential: pd.Series,
    owner: pd.Series,
    expected_value: pd.Series | None = None,
) -> pd.DataFrame:
    """Goal per rep for the next 12 months: calibrated potential of its book, with the interval.

    `owner` is the planned rep per account; `expected_value` (potential times the rep's fit, the
    plan's own column) gives each rep's expected attainment of its goal.
    """
    frame = pd.DataFrame({"rep_id": owner.astype(str), "potential": potential.reindex(owner.index)})
    if expected_value is not None:
        frame["expected_value"] = expected_value.reindex(owner.index)
    books = frame.groupby("rep_id").agg(
        accounts=("potential", "size"), potential=("potential", "sum")
    )
    goal, low, high = calibrator.interval(books["potential"].to_numpy())
    books["goal"], books["goal_low"], books["goal_high"] = goal, low, high
    if expected_value is not None:
        expected = frame.groupby("rep_id")["expected_value"].sum() * calibrator.scale
        books["expected_revenue"] = expected
        books["expected_attainment"] = expected / books["goal"].where(books["goal"] > 0)
    books["confidence"] = calibrator.confidence
    return books.reset_index()


def fairness(goals: pd.DataFrame) -> dict[str, float]:
    """Spread of expected attainment across reps: a fair plan keeps it narrow around 1."""
    if "expected_attainment" not in goals:
        raise KpiError("fairness needs expected_attainment: pass the plan's expected_value.")
    att = goals["expected_attainment"].dropna()
    return {
        "reps": float(len(att)),
        "median": float(att.median()),
        "p10": float(att.quantile(0.1)),
        "p90": float(att.quantile(0.9)),
        "min": float(att.min()),
        "max": float(att.max()),
        "spread_p90_p10": float(att.quantile(0.9) - att.quantile(0.1)),
        "share_below_90pct": float((att < 0.9).mean()),
    }
