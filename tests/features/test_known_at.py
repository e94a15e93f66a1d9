"""Issue 23 item 5: dated account attributes are features only from the day they became known."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from features.errors import DataContractError
from features.history import won_in_window
from features.known_at import attributes_known_at, dated_attributes
from features.pipeline import build_account_features
from features.sample_world import SampleConfig, generate_world
from models.potential import LeakageError
from training.train import TrainConfig, label_as_of, train_potential


def _accounts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": ["A1", "A2", "A3"],
            "score": [10.0, 20.0, 30.0],
            "score_known_at": ["2024-03-01", "", "2024-06-01"],
            "tier": ["gold", "silver", None],
        }
    )


def test_an_attribute_is_missing_until_the_day_after_it_became_known():
    accounts = _accounts()
    at = attributes_known_at(accounts, pd.Timestamp("2024-03-01"))
    # A1 became known on the snapshot day itself: features see days strictly before as_of
    assert at["score"].isna().tolist() == [True, False, True]
    later = attributes_known_at(accounts, pd.Timestamp("2024-03-02"))
    assert later["score"].tolist()[:2] == [10.0, 20.0] and np.isnan(later["score"].iloc[2])
    assert attributes_known_at(accounts, pd.Timestamp("2025-01-01"))["score"].tolist() == [
        10.0,
        20.0,
        30.0,
    ]
    assert at["tier"].tolist()[:2] == ["gold", "silver"]  # undated: known at every snapshot
    assert accounts["score"].notna().all()  # the input is not modified


def test_undated_accounts_come_back_unchanged():
    accounts = _accounts().drop(columns="score_known_at")
    assert dated_attributes(accounts) == {}
    assert attributes_known_at(accounts, pd.Timestamp("2020-01-01")) is accounts


def test_a_known_at_without_its_attribute_is_named():
    accounts = _accounts().drop(columns="score")
    with pytest.raises(DataContractError, match=r"accounts\.score_known_at.*'score'.*Add"):
        attributes_known_at(accounts, pd.Timestamp("2024-01-01"))


def test_a_bad_known_at_date_names_the_column_the_account_and_the_value():
    accounts = _accounts().assign(score_known_at=["2024-03-01", "soon", ""])
    with pytest.raises(DataContractError, match=r"score_known_at.*A2.*'soon'.*2024-03-31"):
        attributes_known_at(accounts, pd.Timestamp("2024-01-01"))


@pytest.fixture(scope="module")
def world_tables():
    return generate_world(SampleConfig(n_accounts=800, n_reps=15, years=3, seed=11)).tables


def _leaky(tables, *, dated: bool):
    """`won_in_last_window`: the won revenue of the latest label window (the holdout's outcome),
    filled for winners only, as a CRM fills an attribute from records created after a win."""
    stop = label_as_of(tables)
    start = stop - pd.Timedelta(days=365)
    won = won_in_window(tables.opportunities, start, stop).groupby("account_id")
    ids = tables.accounts["account_id"]
    accounts = tables.accounts.assign(won_in_last_window=ids.map(won["amount"].sum()))
    if dated:
        accounts["won_in_last_window_known_at"] = ids.map(won["closed_at"].max())
    return replace(tables, accounts=accounts), start


@pytest.mark.model
def test_a_planted_leak_dated_after_the_win_is_not_used_at_earlier_snapshots(world_tables):
    leaky, holdout = _leaky(world_tables, dated=True)
    before = build_account_features(leaky, holdout, extra_columns=("won_in_last_window",))
    assert before["won_in_last_window"].isna().all()
    after = build_account_features(leaky, label_as_of(leaky), extra_columns=("won_in_last_window",))
    assert after["won_in_last_window"].notna().sum() > 100  # known once the wins happened

    result = train_potential(leaky, TrainConfig(extra_columns=("won_in_last_window",)))
    gini = result.comparison.set_index("model").loc["potential_model", "normalized_gini"]
    assert result.plan.holdout == holdout.normalize()
    assert gini < 0.95  # the undated leak gives ~1 (and stops the run, below)
    gain = dict(
        zip(
            result.model.feature_names_,
            result.model.booster_.feature_importance("gain"),
            strict=True,
        )
    )
    assert gain["won_in_last_window"] == 0.0
    assert not any("leakage" in note for note in result.warnings)


@pytest.mark.model
def test_without_known_at_the_leakage_guard_still_names_the_column(world_tables):
    leaky, _ = _leaky(world_tables, dated=False)
    with pytest.raises(LeakageError, match="won_in_last_window"):
        train_potential(leaky, TrainConfig(extra_columns=("won_in_last_window",)))
