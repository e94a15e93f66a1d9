"""pattern_shap: LightGBM pred_contrib once per tree and decision pattern equals it on every row."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from models.explain import explain_frame, pattern_shap
from models.potential import PotentialModel, synthetic_account_features, to_matrix


def _awkward_rows(X: pd.DataFrame) -> pd.DataFrame:
    """Rows for every decision rule: zeros, tiny values, negatives, NaN, unseen categories."""
    rows = X.iloc[:400].copy()
    rows.iloc[:40, rows.columns.get_loc("employees")] = 0.0
    rows.iloc[40:80, rows.columns.get_loc("employees")] = 1e-40
    rows.iloc[80:120, rows.columns.get_loc("won_revenue_last_365d")] = -5.0
    rows.iloc[120:160, rows.columns.get_loc("industry")] = "Aerospace"  # unseen: coded NaN
    rows.iloc[160:200, rows.columns.get_loc("industry")] = None
    rows.iloc[200:240, rows.columns.get_loc("account_age_days")] = (
        np.nan
    )  # never missing in training
    rows.iloc[240:280, rows.columns.get_loc("days_since_last_activity")] = np.nan
    return rows


@pytest.fixture(scope="module")
def data():
    return synthetic_account_features(2500, seed=5)


def _check(booster: lgb.Booster, matrix: np.ndarray, num_iteration: int | None = None) -> None:
    dump = booster.dump_model(num_iteration=num_iteration)
    ours = pattern_shap.contributions(booster, matrix, pattern_shap.tree_splits(dump))
    expected = booster.predict(matrix, num_iteration=num_iteration, pred_contrib=True)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize(
    ("objective", "leaves", "depth"),
    [("revenue", 7, 3), ("revenue", 31, -1), ("conversion", 15, 5)],  # 31 leaves: > 16 splits
)
def test_equals_pred_contrib_on_every_row(data, objective, leaves, depth):
    X, y = data
    model = PotentialModel(
        objective,
        n_estimators=40,
        num_leaves=leaves,
        max_depth=depth,
        min_child_samples=10,
        num_threads=1,
    ).fit(X, y)
    matrix = to_matrix(_awkward_rows(X), model.feature_names_, model.categories_)
    _check(model.booster_, matrix, model.best_iteration_)


def test_zero_as_missing_splits_and_single_leaf_trees():
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(600, 3))
    matrix[rng.random(600) < 0.2, 0] = 0.0
    matrix[rng.random(600) < 0.1, 1] = np.nan
    y = (matrix[:, 0] == 0) * 2.0 + np.nan_to_num(matrix[:, 1]) + rng.normal(size=600) * 0.1
    params = {
        "objective": "regression",
        "zero_as_missing": True,
        "num_leaves": 5,
        "verbosity": -1,
        "min_data_in_leaf": 5,
        "num_threads": 1,
    }
    booster = lgb.train(params, lgb.Dataset(matrix, y), 30)
    rows = np.vstack([matrix[:200], [[0.0, np.nan, 1.0], [1e-36, 0.0, np.nan], [-1e-36, 5.0, 0.0]]])
    _check(booster, rows)
    flat = lgb.train({**params, "min_data_in_leaf": 1000}, lgb.Dataset(matrix, y), 3)  # no splits
    _check(flat, rows)


def test_explanations_identical_with_either_method(data):
    X, y = data
    model = PotentialModel(n_estimators=60, num_leaves=7, max_depth=3, num_threads=1).fit(X, y)
    rows = _awkward_rows(X)
    by_patterns = explain_frame(model, rows, "2025-06-30", method="patterns")
    by_rows = explain_frame(model, rows, "2025-06-30", method="pred_contrib")
    assert by_patterns["reasons"].tolist() == by_rows["reasons"].tolist()
    with pytest.raises(ValueError, match="method='fast'"):
        explain_frame(model, rows, "2025-06-30", method="fast")


def test_empty_matrix(data):
    X, y = data
    model = PotentialModel(n_estimators=5, num_threads=1).fit(X, y)
    empty = to_matrix(X.iloc[:0], model.feature_names_, model.categories_)
    trees = pattern_shap.tree_splits(model.booster_.dump_model())
    assert pattern_shap.contributions(model.booster_, empty, trees).shape == (0, X.shape[1] + 1)


def test_auto_uses_patterns_only_for_shallow_trees(data, monkeypatch):
    from models.explain import explainer

    X, y = data
    calls = []
    monkeypatch.setattr(
        explainer.pattern_shap, "contributions", lambda *a: calls.append(a) or 1 / 0
    )
    shallow = PotentialModel(n_estimators=5, num_leaves=7, num_threads=1).fit(X, y)
    deep = PotentialModel(n_estimators=5, num_leaves=31, max_depth=-1, num_threads=1).fit(X, y)
    explain_frame(deep, X.iloc[:20], "2025-06-30")  # 30 splits per tree: plain pred_contrib
    assert calls == []
    with pytest.raises(ZeroDivisionError):
        explain_frame(shallow, X.iloc[:20], "2025-06-30")
