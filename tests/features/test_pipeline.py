"""Point-in-time account features: hand-checked values, leakage and label-window tests."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.errors import DataContractError
from features.feature_sets import ACCOUNT_POTENTIAL_V1
from features.history import label_won_revenue
from features.loaders import load_crm
from features.pipeline import build_account_features, build_snapshots, snapshot_dates

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "crm_sample"


@pytest.fixture(scope="module")
def tables():
    return load_crm(SAMPLE).tables


def manual_won_revenue(tables, account: str, start, end) -> float:
    o = tables.opportunities
    won = o[
        (o.account_id == account)
        & (o.stage == "won")
        & (o.closed_at >= start)
        & (o.closed_at < end)
    ]
    return float(won["amount"].sum())


def test_columns_follow_the_feature_set(tables):
    frame = build_account_features(tables, tables.latest_date())
    assert list(frame.columns) == list(ACCOUNT_POTENTIAL_V1)
    assert frame.index.name == "account_id"
    assert frame.index.is_unique


def test_won_revenue_windows_match_a_manual_count(tables):
    as_of = pd.Timestamp("2024-06-01")
    frame = build_account_features(tables, as_of)
    for account in frame.index:
        expected = manual_won_revenue(tables, account, as_of - pd.Timedelta(days=365), as_of)
        assert frame.loc[account, "won_revenue_last_365d"] == pytest.approx(expected)


def test_only_accounts_created_before_as_of(tables):
    as_of = pd.Timestamp("2023-06-01")
    frame = build_account_features(tables, as_of)
    created = tables.accounts.set_index("account_id")["created_at"]
    assert set(frame.index) == set(created[created < as_of].index)


def test_missing_recency_stays_missing_not_zero(tables):
    as_of = tables.accounts["created_at"].max() + pd.Timedelta(days=1)
    frame = build_account_features(tables, as_of)
    newest = tables.accounts.sort_values("created_at").iloc[-1]["account_id"]
    if frame.loc[newest, "won_deals_last_730d"] == 0:
        assert np.isnan(frame.loc[newest, "days_since_last_win"])
    assert (frame["won_revenue_last_365d"] >= 0).all()


def _mutate_after(tables, as_of: pd.Timestamp, rng: np.random.Generator):
    """Scramble every fact dated on or after `as_of`; delete some of those rows entirely."""
    o = tables.opportunities.copy()
    late_created = o["created_at"] >= as_of
    late_closed = o["closed_at"] >= as_of
    o.loc[late_created, "amount"] = rng.uniform(0, 1e6, late_created.sum())
    o.loc[late_closed, "stage"] = np.where(rng.random(late_closed.sum()) < 0.5, "won", "lost")
    o.loc[late_closed, "closed_at"] = o.loc[late_closed, "closed_at"] + pd.Timedelta(days=3)
    o = o[~(late_created & (rng.random(len(o)) < 0.5))]
    a = tables.activities
    a = a[a["occurred_at"] < as_of]
    s = tables.assignments.copy()
    late_start = s["start_date"] >= as_of
    s = s[~late_start]
    late_end = s["end_date"] >= as_of
    s.loc[late_end, "end_date"] = pd.NaT
    return replace(tables, opportunities=o, activities=a, assignments=s)


@pytest.mark.parametrize("as_of", ["2023-03-01", "2023-09-15", "2024-06-01"])
def test_no_leakage_from_rows_dated_after_as_of(tables, as_of):
    as_of = pd.Timestamp(as_of)
    before = build_account_features(tables, as_of)
    after = build_account_features(_mutate_after(tables, as_of, np.random.default_rng(0)), as_of)
    pd.testing.assert_frame_equal(before, after)


def test_future_rows_do_change_the_label(tables):
    as_of = pd.Timestamp("2023-09-15")
    mutated = _mutate_after(tables, as_of, np.random.default_rng(0))
    original = label_won_revenue(tables.opportunities, as_of, 365)
    changed = label_won_revenue(mutated.opportunities, as_of, 365)
    assert not original.equals(changed)  # proves the mutation reaches what features must ignore


def test_label_window_never_overlaps_feature_inputs(tables):
    as_of, horizon = pd.Timestamp("2023-09-15"), 180
    o = tables.opportunities
    label = label_won_revenue(o, as_of, horizon)
    won = o[o.stage == "won"]
    in_label = won[(won.closed_at >= as_of) & (won.closed_at < as_of + pd.Timedelta(days=horizon))]
    assert label.sum() == pytest.approx(in_label["amount"].sum())
    # a deal closing the day before as_of is a feature input and never part of the label
    day_before = won.iloc[[0]].assign(closed_at=as_of - pd.Timedelta(days=1), account_id="A001")
    both = pd.concat([o, day_before])
    assert label_won_revenue(both, as_of, horizon).get("A001", 0) == label.get("A001", 0)
    shifted = replace(tables, opportunities=both)
    feats = build_account_features(shifted, as_of)
    base = build_account_features(tables, as_of)
    assert feats.loc["A001", "won_revenue_last_90d"] == pytest.approx(
        base.loc["A001", "won_revenue_last_90d"] + day_before["amount"].iloc[0]
    )


def test_snapshots_stack_dates_with_labels(tables):
    dates = snapshot_dates(pd.Timestamp("2023-01-01"), pd.Timestamp("2023-12-01"), months=3)
    assert dates == [
        pd.Timestamp(d) for d in ("2023-03-01", "2023-06-01", "2023-09-01", "2023-12-01")
    ]
    frame = build_snapshots(tables, dates, 365)
    assert set(frame["as_of"]) == set(dates)
    for as_of, part in frame.groupby("as_of"):
        expected = label_won_revenue(tables.opportunities, as_of, 365)
        labels = part.set_index("account_id")["label"]
        assert labels.to_dict() == pytest.approx(
            expected.reindex(labels.index, fill_value=0).to_dict()
        )


def test_no_snapshot_dates_is_a_clear_error(tables):
    with pytest.raises(DataContractError, match="horizon"):
        build_snapshots(tables, [], 365)


def test_unknown_extra_column_names_it(tables):
    with pytest.raises(DataContractError, match="not_a_column"):
        build_account_features(tables, tables.latest_date(), extra_columns=["not_a_column"])


def test_declared_extra_columns_are_kept(tables):
    assert "web_visits" in tables.extra_account_columns
    frame = build_account_features(tables, tables.latest_date(), extra_columns=["web_visits"])
    assert frame.columns[-1] == "web_visits"
