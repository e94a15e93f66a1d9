"""PotentialModel: the scikit-learn contract, edge cases and serialisation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from models.errors import FeatureMismatchError, ModelNotFoundError
from models.potential import EmptyTrainingSetError, PotentialModel, to_matrix, write_model_dir


def make_frame(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "won_revenue_last_365d": rng.gamma(1.0, 1000.0, n) * (rng.random(n) < 0.6),
            "employees": rng.lognormal(4, 1, n),
            "industry": rng.choice(["Retail", "Energy", "Health"], n),
        }
    )
    rate = 0.3 + 0.5 * (X["industry"] == "Energy")
    y = np.where(rng.random(n) < rate, 0.5 * X["won_revenue_last_365d"] + X["employees"] * 3, 0.0)
    return X, y


@pytest.fixture(scope="module")
def data():
    return make_frame(3000)


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return PotentialModel(n_estimators=120, monotone_increasing=["won_revenue_last_365d"]).fit(
        X[:2000], y[:2000], eval_set=(X[2000:], y[2000:])
    )


def test_fit_returns_self_and_sets_learned_attributes(data):
    X, y = data
    model = PotentialModel(n_estimators=20)
    assert model.fit(X, y) is model
    assert model.feature_names_ == ["won_revenue_last_365d", "employees", "industry"]
    assert model.categories_ == {"industry": ["Energy", "Health", "Retail"]}
    assert model.n_features_in_ == 3
    assert model.best_iteration_ == 20


def test_init_only_stores_params_and_clone_works():
    model = PotentialModel("conversion", num_leaves=7)
    assert clone(model).get_params() == model.get_params()
    assert not hasattr(model, "booster_")


def test_predictions_rank_better_than_chance(fitted, data):
    X, y = data
    pred = fitted.predict(X[2000:])
    assert pred.shape == (1000,)
    assert (pred >= 0).all()
    assert np.corrcoef(pred, y[2000:])[0, 1] > 0.5


def test_early_stopping_uses_validation(data):
    X, y = data
    model = PotentialModel(n_estimators=2000, learning_rate=0.3, early_stopping_rounds=10)
    model.fit(X[:2000], y[:2000], eval_set=(X[2000:], y[2000:]))
    assert model.best_iteration_ < 2000


def test_unseen_category_scores_like_missing(fitted, data):
    X, _ = data
    row = X.iloc[[0]].copy()
    unseen, missing = row.assign(industry="Aerospace"), row.assign(industry=None)
    assert fitted.predict(unseen)[0] == pytest.approx(fitted.predict(missing)[0])


def test_all_nan_column_is_accepted(data):
    X, y = data
    model = PotentialModel(n_estimators=10).fit(X.assign(empty=np.nan), y)
    assert np.isfinite(model.predict(X.assign(empty=np.nan))).all()


def test_constant_target_predicts_the_constant(data):
    X, _ = data
    model = PotentialModel().fit(X, np.full(len(X), 250.0))
    assert model.booster_ is None
    np.testing.assert_allclose(model.predict(X[:5]), 250.0)


@pytest.mark.parametrize("shape", [(0, 3), (5, 0)])
def test_empty_frame_is_a_clear_error(shape):
    X = pd.DataFrame(np.zeros(shape))
    with pytest.raises(EmptyTrainingSetError, match="empty frame"):
        PotentialModel().fit(X, np.zeros(shape[0]))


def test_negative_or_missing_target_is_rejected(data):
    X, y = data
    with pytest.raises(ValueError, match="non-negative"):
        PotentialModel().fit(X, -y - 1)


def test_missing_feature_at_predict_names_it(fitted, data):
    X, _ = data
    with pytest.raises(FeatureMismatchError, match="employees"):
        fitted.predict(X.drop(columns="employees"))


def test_column_order_does_not_matter(fitted, data):
    X, _ = data
    np.testing.assert_allclose(
        fitted.predict(X[::-1].iloc[::-1][X.columns[::-1]]), fitted.predict(X)
    )


def test_conversion_gives_calibrated_probabilities(data):
    X, y = data
    model = PotentialModel("conversion", n_estimators=100).fit(
        X[:2000], y[:2000], eval_set=(X[2000:], y[2000:])
    )
    proba = model.predict_proba(X[2000:])
    assert proba.shape == (1000, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert proba.min() >= 0 and proba.max() <= 1
    # isotonic calibration on the validation fold: mean prediction matches the base rate there
    assert proba[:, 1].mean() == pytest.approx((y[2000:] > 0).mean(), abs=0.01)


def test_predict_proba_only_for_conversion(fitted, data):
    with pytest.raises(AttributeError, match="conversion"):
        fitted.predict_proba(data[0])


def test_contributions_add_up_to_raw_score(fitted, data):
    X, _ = data
    contrib = fitted.contributions(X[:50])
    np.testing.assert_allclose(np.exp(contrib.sum(axis=1)), fitted.predict(X[:50]), rtol=1e-9)


def test_monotone_feature_never_lowers_potential(fitted, data):
    X, _ = data
    base = X.iloc[:200]
    more = base.assign(won_revenue_last_365d=base["won_revenue_last_365d"] * 1.5 + 100)
    assert (fitted.predict(more) >= fitted.predict(base) - 1e-9).all()


def test_state_round_trip_gives_identical_predictions(fitted, data):
    X, _ = data
    again = PotentialModel.from_state(fitted.to_state())
    np.testing.assert_array_equal(again.predict(X), fitted.predict(X))


def test_same_seed_same_model(data):
    X, y = data
    a = PotentialModel(n_estimators=30, random_state=3).fit(X, y).predict(X)
    b = PotentialModel(n_estimators=30, random_state=3).fit(X, y).predict(X)
    np.testing.assert_array_equal(a, b)


def test_per_call_threads_give_the_same_numbers(fitted, data):
    X, _ = data
    matrix = to_matrix(X[:50], fitted.feature_names_, fitted.categories_)
    np.testing.assert_array_equal(
        fitted.predict_matrix(matrix, num_threads=1), fitted.predict_matrix(matrix, num_threads=2)
    )
    np.testing.assert_allclose(
        fitted.contributions(matrix, num_threads=1), fitted.contributions(X[:50]), rtol=1e-12
    )


def test_from_model_uri_loads_a_logged_model_and_pins_threads(fitted, data, tmp_path):
    X, _ = data
    write_model_dir(fitted, tmp_path / "model" / "artifacts" / "potential_model")
    loaded = PotentialModel.from_model_uri(str(tmp_path / "model"), num_threads=1)
    assert loaded.num_threads == 1 and loaded.feature_names_ == fitted.feature_names_
    np.testing.assert_allclose(loaded.predict(X[:20]), fitted.predict(X[:20]), rtol=1e-12)
    assert PotentialModel.from_model_uri(str(tmp_path / "model")).num_threads == fitted.num_threads


def test_from_model_uri_names_the_uri_and_the_fix(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match="not a Territory potential model"):
        PotentialModel.from_model_uri(str(tmp_path / "empty"))
