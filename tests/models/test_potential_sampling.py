"""Issue 24: training at scale samples snapshots and accounts within a row budget, with an ETA."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from features.pipeline import build_snapshots
from features.sample_world import SampleConfig, generate_world
from training.scale import (
    StageClock,
    refit_estimate,
    row_sample,
    sampled_accounts,
    snapshot_step,
)
from training.train import TrainConfig, label_as_of, plan_at_scale, refit_rows, train_potential


def test_snapshot_step_thins_only_over_budget():
    assert snapshot_step(300_000, 400_000) == 1
    assert snapshot_step(400_000, 400_000) == 1
    assert snapshot_step(1_900_000, 400_000) == 2  # 100k accounts x 19 snapshots
    assert snapshot_step(19_000_000, 400_000) == 3  # 1M accounts x 19 snapshots
    assert snapshot_step(19_000_000, None) == 1  # no cap


def test_row_sample_keeps_the_budget():
    whole = row_sample(20_000, 19, 1, 400_000)
    assert whole.fraction == 1.0 and not whole.samples
    big = row_sample(1_000_000, 7, 3, 400_000)
    assert big.fraction == pytest.approx(400_000 / 7_000_000)
    assert big.candidate_rows == 7_000_000
    assert "every 3 month(s)" in big.note(400_123) and "400,123 of 7,000,000" in big.note(400_123)


def test_sampled_accounts_is_stable_close_to_the_share_and_differs_by_date():
    ids = pd.Index([f"A{i:06d}" for i in range(50_000)])
    day = pd.Timestamp("2024-06-30")
    kept = sampled_accounts(ids, day, 0.2)
    assert kept.dtype == bool and kept.mean() == pytest.approx(0.2, abs=0.01)
    assert np.array_equal(kept, sampled_accounts(ids, day, 0.2))  # reproducible
    other = sampled_accounts(ids, day + pd.DateOffset(months=1), 0.2)
    assert (kept & other).mean() == pytest.approx(0.04, abs=0.01)  # independent draws
    assert sampled_accounts(ids, day, 1.0).all()
    assert not sampled_accounts(ids, day, 0.0).any()


def test_stage_clock_reports_elapsed_and_eta():
    ticks = iter([0.0, 0.0, 10.0, 30.0, 30.0])
    lines: list[str] = []
    clock = StageClock(lines.append, clock=lambda: next(ticks))
    clock.stage("building 4 snapshots", 4)  # t=0
    clock.step(1)  # t=10: 10 s per snapshot, 3 left
    clock.step(3)  # t=30: 1 left
    clock.stage("refit", estimate_s=42.4)  # t=30
    assert lines[0] == "building 4 snapshots: started at 0 s"
    assert lines[1] == "building 4 snapshots 1/4: 10 s in stage, 10 s elapsed, ETA 30 s"
    assert lines[2] == "building 4 snapshots 3/4: 30 s in stage, 30 s elapsed, ETA 10 s"
    assert lines[3] == "refit: started at 30 s, ETA ~42 s"


def test_refit_estimate_scales_with_rows_and_trees():
    assert refit_estimate(10.0, 1000, 100, 2000, 50) == pytest.approx(10.0)
    assert np.isnan(refit_estimate(10.0, 0, 100, 2000, 50))


@pytest.fixture(scope="module")
def world_tables():
    return generate_world(SampleConfig(n_accounts=800, n_reps=15, years=3, seed=11)).tables


def test_sampled_snapshots_keep_whole_validation_and_holdout_dates(world_tables):
    as_of = label_as_of(world_tables)
    dates = [as_of - pd.DateOffset(months=m) for m in (14, 13, 12)]
    frames = build_snapshots(
        world_tables,
        dates,
        90,
        keep=lambda ids, d: sampled_accounts(ids, d, 0.25),
        whole={dates[-1]},
    )
    counts = frames.groupby("as_of").size()
    full = build_snapshots(world_tables, dates[-1:], 90)
    assert counts[dates[-1]] == len(full)  # the whole date keeps every account...
    last = frames[frames["as_of"] == dates[-1]]
    assert last["in_sample"].mean() == pytest.approx(0.25, abs=0.06)  # ...and marks the sample
    for day in dates[:2]:
        assert counts[day] < 0.35 * len(full)
        assert frames.loc[frames["as_of"] == day, "in_sample"].all()
    # features of the kept rows are the same as without sampling (computed over every account)
    kept = last.set_index("account_id").drop(columns="in_sample")
    assert kept.equals(full.set_index("account_id").loc[kept.index])


def test_sampled_dates_build_only_their_accounts_with_the_whole_exports_context(world_tables):
    """A sampled date is built on a slice of the export (the sample plus `also`), yet each row's
    features equal those of a build over every account: cross-account features (book sizes,
    segment growth and medians, the win prior) come from the whole export."""
    as_of = label_as_of(world_tables)
    dates = [as_of - pd.DateOffset(months=m) for m in (14, 13)]
    extra = {dates[1]}
    frames = build_snapshots(
        world_tables,
        dates,
        90,
        keep=lambda ids, d: sampled_accounts(ids, d, 0.25),
        also=lambda ids, d: np.asarray(ids.str.endswith("7")) & (d in extra),
    )
    full = build_snapshots(world_tables, dates, 90).set_index(["as_of", "account_id"])
    built = frames.set_index(["as_of", "account_id"])
    first, second = (built.xs(d, level="as_of") for d in dates)
    assert first["in_sample"].all() and 0.15 < len(first) / len(full.xs(dates[0])) < 0.35
    added = second.index[~second["in_sample"]]
    assert len(added) > 0 and added.str.endswith("7").all()  # `also` rows are built, not sampled
    same = full.loc[built.index]
    assert built.drop(columns="in_sample").equals(same)


def test_plan_at_scale_thins_snapshots_and_samples_rows(world_tables):
    config = TrainConfig(max_train_rows=1_000)
    as_of = label_as_of(world_tables)
    plan, sample = plan_at_scale(world_tables, config, as_of)
    monthly, whole = plan_at_scale(world_tables, TrainConfig(max_train_rows=None), as_of)
    assert not whole.samples and whole.step_months == 1
    assert sample.step_months == 3 and len(plan.refit) < len(monthly.refit) / 2
    assert plan.validation == monthly.validation and plan.holdout == monthly.holdout
    assert sample.fraction == pytest.approx(1_000 / (800 * len(plan.refit)))


@pytest.mark.model
def test_training_within_a_row_budget_reports_progress_and_scores_every_account(world_tables):
    lines: list[str] = []
    budget = 3_000
    result = train_potential(
        world_tables, TrainConfig(max_train_rows=budget), progress=lines.append
    )
    assert result.sample is not None and result.sample.samples
    note = next(n for n in result.warnings if "account-snapshots" in n)
    kept = int(re.search(r"trained on ([\d,]+) of", note).group(1).replace(",", ""))
    assert kept <= 1.3 * budget  # the hash draw is close to the share
    # the holdout still scores every account alive at its date
    alive = (world_tables.accounts["created_at"] < result.plan.holdout).sum()
    assert len(result.holdout) == alive
    assert any(re.search(r"building \d+ snapshots .* \d+/\d+: .*ETA \d+ s", ln) for ln in lines)
    assert any(re.search(r"refitting .* ETA ~\d+ s", ln) for ln in lines)
    gini = result.comparison.set_index("model")["normalized_gini"]
    assert gini["potential_model"] > gini["last_12m_revenue"]


def test_refit_rows_follow_the_sample():
    frames = pd.DataFrame(
        {
            "as_of": pd.to_datetime(["2024-01-01"] * 3 + ["2024-02-01"] * 2),
            "in_sample": [True, False, True, True, False],
        }
    )

    class Plan:
        refit = [pd.Timestamp("2024-02-01")]

    assert refit_rows(frames, Plan()).index.tolist() == [3]
    assert refit_rows(frames.drop(columns="in_sample"), Plan()).index.tolist() == [3, 4]
