"""Goals per territory: calibrated totals and conformal intervals that reach their coverage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.sample_world import SampleConfig, generate_world
from models.kpis import (
    KpiError,
    calibrate_goals,
    fairness,
    random_books,
    territory_goals,
    won_between,
)

CONFIDENCE = 0.8
BOOK = 60
# Stated tolerances: calibrated totals within 5% of actual on the holdout; coverage of random
# holdout books within [confidence - 0.05, confidence + 0.08] on average over splits.
TOTAL_TOLERANCE = 0.05


@pytest.fixture(scope="module")
def backtest():
    """Predicted (a biased model with 30% noise per account) and actual per account."""
    world = generate_world(SampleConfig(n_accounts=6000, n_reps=40, years=2, seed=8))
    stop = pd.Timestamp(world.config.end_date) + pd.Timedelta(days=1)
    start = stop - pd.DateOffset(years=1)
    rng = np.random.default_rng(2)
    truth = world.truth.oracle_potential(start, stop)
    predicted = truth * 0.85 * np.exp(rng.normal(-0.045, 0.3, len(truth)))
    actual = won_between(world.tables, start, stop).reindex(truth.index).fillna(0.0)
    calibration = rng.random(len(truth)) < 0.5
    return world, predicted, actual, calibration


def test_calibrated_totals_match_actuals_on_the_holdout(backtest):
    _, predicted, actual, cal = backtest
    calibrator = calibrate_goals(predicted[cal], actual[cal], book_size=BOOK)
    held_p, held_a = predicted[~cal].sum(), actual[~cal].sum()
    assert abs(held_p / held_a - 1) > 0.1  # uncalibrated goals would be far off
    assert calibrator.scale * held_p == pytest.approx(held_a, rel=TOTAL_TOLERANCE)


def test_intervals_reach_their_stated_coverage_on_the_holdout(backtest):
    # Conformal coverage is a promise over calibration draws: one split of heavy-tailed accounts
    # (a few giants decide a book's total) lands anywhere in about 0.74-0.87, so the test draws
    # ten calibration/holdout splits and checks the average, and that no split falls apart.
    world, predicted, actual, _ = backtest
    coverage, coverage95 = [], []
    for seed in range(10):
        cal = np.random.default_rng(100 + seed).random(len(predicted)) < 0.5
        X, y = random_books(predicted[~cal], actual[~cal], BOOK, 1000, seed=seed)
        for level, out in ((CONFIDENCE, coverage), (0.95, coverage95)):
            calibrator = calibrate_goals(
                predicted[cal], actual[cal], book_size=BOOK, confidence=level, seed=seed
            )
            goal, low, high = calibrator.interval(X)
            assert (low <= goal).all() and (goal <= high).all()
            out.append(((y >= low) & (y <= high)).mean())
    assert CONFIDENCE - 0.05 <= np.mean(coverage) <= CONFIDENCE + 0.08, coverage
    assert min(coverage) >= CONFIDENCE - 0.15, coverage
    assert 0.9 <= np.mean(coverage95) <= 0.99, coverage95


def test_goals_per_rep_and_the_fairness_view(backtest):
    world, predicted, actual, cal = backtest
    calibrator = calibrate_goals(predicted[cal], actual[cal], book_size=BOOK)
    owner = world.tables.current_owners()
    potential = predicted.reindex(owner.index)
    fit = world.truth.accounts.set_index("account_id")
    fit = (fit["expected_revenue_current_owner"] / fit["true_potential"]).reindex(owner.index)
    goals = territory_goals(calibrator, potential, owner, expected_value=potential * fit)
    assert goals["accounts"].sum() == len(owner)
    assert goals["goal"].sum() == pytest.approx(calibrator.scale * potential.sum())
    assert (goals["goal_low"] <= goals["goal"]).all() and (
        goals["goal"] <= goals["goal_high"]
    ).all()
    view = fairness(goals)
    assert view["reps"] == owner.nunique()
    assert view["p10"] < view["median"] < view["p90"] and view["spread_p90_p10"] > 0.05
    even = territory_goals(calibrator, potential, owner, expected_value=potential)
    assert fairness(even)["spread_p90_p10"] == pytest.approx(0.0, abs=1e-9)


def test_goal_settings_are_checked(backtest):
    _, predicted, actual, _ = backtest
    with pytest.raises(KpiError, match="confidence"):
        calibrate_goals(predicted, actual, book_size=BOOK, confidence=1.5)
    with pytest.raises(KpiError, match="book_size"):
        calibrate_goals(predicted, actual, book_size=0)
