"""Behavioural tests of the potential model and its explanations: direction and invariance.

A small model is trained here, with the training recipe's smallest candidate and monotone
constraints, on a synthetic frame with the ACCOUNT_POTENTIAL_V1 columns.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from features.feature_sets import ACCOUNT_POTENTIAL_V1, MONOTONE_INCREASING
from models.explain import explain_frame, load_catalogue
from models.potential import PotentialModel, synthetic_account_features
from training.train import CANDIDATES

pytestmark = pytest.mark.model
AS_OF = "2025-06-30"
ACTIVITY_COUNTS = [
    "activities_last_90d",
    "activities_last_365d",
    "calls_last_365d",
    "emails_last_365d",
    "meetings_last_365d",
    "visits_last_365d",
]


@pytest.fixture(scope="module")
def world():
    X, y = synthetic_account_features(4000, seed=11)
    # Decouple the activity counts from whether any activity was ever logged, so the model has to
    # learn "never engaged" from the missing recency itself (the case under test).
    rng = np.random.default_rng(0)
    X[ACTIVITY_COUNTS] = X[ACTIVITY_COUNTS].to_numpy()[rng.permutation(len(X))]
    return X, y


@pytest.fixture(scope="module")
def model(world):
    X, y = world
    params = {
        **CANDIDATES["simple"],
        "n_estimators": 150,
        "learning_rate": 0.1,
        "min_child_samples": 40,
    }
    estimator = PotentialModel(
        monotone_increasing=MONOTONE_INCREASING,
        feature_set="account_potential_v1",
        num_threads=1,
        **params,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return estimator.fit(X[:3200], y[:3200], eval_set=(X[3200:], y[3200:]))


def test_model_uses_the_declared_monotone_constraints(model):
    constraints = dict(
        zip(model.feature_names_, model._lgb_params()["monotone_constraints"], strict=True)
    )
    assert MONOTONE_INCREASING == ("won_revenue_last_365d",)
    assert {f for f, c in constraints.items() if c == 1} == set(MONOTONE_INCREASING)
    assert set(MONOTONE_INCREASING) <= set(ACCOUNT_POTENTIAL_V1)


@pytest.mark.parametrize("feature", MONOTONE_INCREASING)
def test_more_recent_won_revenue_never_lowers_potential(model, world, feature):
    rows = world[0].iloc[:200]
    grid = np.concatenate([[0.0], np.geomspace(100, 2_000_000, 40)])
    predictions = np.column_stack(
        [model.predict(rows.assign(**{feature: value})) for value in grid]
    )
    steps = np.diff(predictions, axis=1)
    assert (steps >= -1e-9 * predictions[:, 1:]).all(), (
        f"{feature} lowered potential for some account"
    )
    assert (predictions[:, -1] > predictions[:, 0]).mean() > 0.5  # and it does matter


def test_renaming_an_account_changes_nothing(model, world):
    rows = world[0].iloc[:300]
    renamed = rows.set_axis([f"renamed-{i}" for i in range(len(rows))]).assign(
        name="Acme Renamed Inc"
    )
    np.testing.assert_array_equal(model.predict(rows), model.predict(renamed))
    before, after = explain_frame(model, rows, AS_OF), explain_frame(model, renamed, AS_OF)
    for column in ("reasons", "narrative", "input_hash", "split_hash"):
        assert before[column].tolist() == after[column].tolist()


def test_missing_activity_is_explained_as_missing_not_as_zero(model, world):
    rows = world[0].iloc[:400]
    never = rows.assign(days_since_last_activity=np.nan)
    recent = rows.assign(days_since_last_activity=0.0)
    assert (model.predict(never) != model.predict(recent)).any()  # the model tells them apart
    explained = explain_frame(model, never, AS_OF)
    engagement = [
        r for reasons in explained["reasons"] for r in reasons if r["concept"] == "engagement"
    ]
    worded = [r for r in engagement if r["feature"] == "days_since_last_activity"]
    assert worded, "missing recency should lead the engagement reason for some accounts"
    assert all(r["value"] is None and r["phrase"] == "No activity logged yet" for r in worded)
    as_zero = explain_frame(model, recent, AS_OF)
    zero_phrases = {
        r["phrase"]
        for reasons in as_zero["reasons"]
        for r in reasons
        if r["feature"] == "days_since_last_activity"
    }
    assert "No activity logged yet" not in zero_phrases


def test_every_missing_value_is_worded_as_missing(model, world):
    catalogue = load_catalogue()
    explained = explain_frame(model, world[0].iloc[:600], AS_OF)
    records = [r for reasons in explained["reasons"] for r in reasons]
    missing = [r for r in records if r["value"] is None]
    assert missing
    assert all(r["phrase"] == catalogue[r["feature"]].missing_phrase for r in missing)
    rows = world[0].iloc[:600]
    for account, reasons in zip(explained["account_id"], explained["reasons"], strict=True):
        for r in reasons:
            assert (r["value"] is None) == bool(pd.isna(rows.at[account, r["feature"]]))


def test_same_input_same_reasons_in_the_same_order(model, world):
    rows = world[0].iloc[:300]
    first = explain_frame(model, rows, AS_OF)
    duplicated = pd.concat([rows, rows.set_axis([f"copy-{i}" for i in range(len(rows))])])
    both = explain_frame(model, duplicated, AS_OF)
    assert (
        both["reasons"].iloc[:300].tolist()
        == both["reasons"].iloc[300:].tolist()
        == first["reasons"].tolist()
    )
