"""Ranking and calibration metrics on hand-checkable numbers."""

from __future__ import annotations

import numpy as np
import pytest

from models.potential import (
    calibration_by_decile,
    capture_at,
    normalized_gini,
    percentile_rank,
    ranking_metrics,
    tier_of,
)


def test_capture_at_counts_the_top_share():
    actual = np.array([0, 0, 0, 0, 0, 0, 0, 0, 10, 90.0])
    assert capture_at(actual, actual, 0.1) == pytest.approx(0.9)
    assert capture_at(actual, actual, 0.2) == pytest.approx(1.0)
    assert capture_at(actual, -actual, 0.2) == pytest.approx(0.0)


def test_normalized_gini_is_one_for_perfect_and_minus_one_for_reversed():
    actual = np.arange(1, 101, dtype=float)
    assert normalized_gini(actual, actual) == pytest.approx(1.0)
    assert normalized_gini(actual, -actual) == pytest.approx(-1.0)


def test_ties_break_deterministically_by_position():
    actual = np.array([5.0, 0.0, 0.0, 0.0, 0.0])
    assert capture_at(actual, np.zeros(5), 0.2) == pytest.approx(1.0)


def test_calibration_table_sums_match():
    rng = np.random.default_rng(1)
    pred = rng.gamma(1, 100, 1000)
    actual = pred * rng.uniform(0.5, 1.5, 1000)
    table = calibration_by_decile(actual, pred)
    assert list(table["decile"]) == list(range(1, 11))
    assert table["accounts"].sum() == 1000
    assert table["actual"].sum() == pytest.approx(actual.sum())
    assert table["ratio"].between(0.8, 1.25).all()


def test_ranking_metrics_keys():
    assert set(ranking_metrics([1, 2, 3], [1, 2, 3])) == {
        "capture_top10",
        "capture_top20",
        "normalized_gini",
        "spearman",
    }


def test_percentiles_and_tiers():
    pct = percentile_rank(np.arange(100, dtype=float))
    assert pct.max() == 100 and pct.min() == 1
    tiers = tier_of(pct)
    assert (tiers == "A").sum() == 10
    assert (tiers == "B").sum() == 20
    assert (tiers == "C").sum() == 30
    assert (tiers == "D").sum() == 40
