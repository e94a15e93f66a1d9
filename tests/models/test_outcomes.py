"""Plan outcomes on a world simulated a year past a plan: the measured lift recovers the truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.sample_world import SampleConfig, generate_world, pair_value
from features.sample_world.after_plan import simulate_year_after
from models.kpis import KpiError, choose_holdback, plan_outcomes

CONFIG = SampleConfig(n_accounts=8000, n_reps=50, years=2, seed=6)
HOLDBACK_SHARE = 0.4
# Stated tolerance: the measured lift ratio of the moves is within 0.15 of the true one (about
# 2.5 bootstrap standard errors at this size; revenue per account is a few lognormal deals), and
# the true one lies inside the measured 95% bootstrap interval.
TOLERANCE = 0.15


def better_owner_plan(world, seed: int = 1) -> pd.DataFrame:
    """A plan that moves accounts to the best of six random active reps when truly 10% better."""
    truth, owners = world.truth, world.tables.current_owners()
    rng = np.random.default_rng(seed)
    reps = truth.reps.loc[truth.reps["active"], "rep_id"].to_numpy()
    accounts = owners.index.to_numpy()
    cand = rng.choice(reps, (len(accounts), 6))
    value = np.column_stack(
        [
            pair_value(truth.accounts, truth.reps, world.params, accounts, cand[:, j])
            for j in range(6)
        ]
    )
    now = pair_value(truth.accounts, truth.reps, world.params, accounts, owners.to_numpy())
    best = cand[np.arange(len(accounts)), value.argmax(axis=1)]
    planned = np.where(value.max(axis=1) > 1.1 * now, best, owners.to_numpy())
    potential = truth.accounts.set_index("account_id")["true_potential"].reindex(accounts)
    noisy = potential.to_numpy() * np.exp(rng.normal(0, 0.3, len(accounts)))  # a model's error
    return pd.DataFrame(
        {"account_id": accounts, "rep_id": planned, "current_rep": owners.to_numpy(),
         "potential": noisy, "objective_delta": value.max(axis=1) - now}
    )  # fmt: skip


@pytest.fixture(scope="module")
def year_after():
    world = generate_world(CONFIG)
    plan = better_owner_plan(world)
    moves = plan[plan["rep_id"] != plan["current_rep"]]
    held = choose_holdback(moves, HOLDBACK_SHARE, seed=3)
    made = moves[~moves["account_id"].isin(held)]
    after = simulate_year_after(CONFIG, dict(zip(made["account_id"], made["rep_id"], strict=True)))
    return world, plan, held, made, after


def test_history_before_the_plan_is_the_worlds_own(year_after):
    world, _, _, _, after = year_after
    end = pd.Timestamp(CONFIG.end_date)
    before = after.tables.opportunities[after.tables.opportunities["created_at"] <= end]
    assert (
        before["opportunity_id"].tolist() == world.tables.opportunities["opportunity_id"].tolist()
    )
    assert before["amount"].tolist() == world.tables.opportunities["amount"].tolist()
    pd.testing.assert_frame_equal(after.tables.accounts, world.tables.accounts)
    acts = after.tables.activities
    assert (acts["occurred_at"] <= end).sum() == len(world.tables.activities)
    assert after.tables.opportunities["created_at"].max() >= after.stop - pd.Timedelta(days=31)


def test_new_owners_take_over_on_the_effective_date(year_after):
    _, _, held, made, after = year_after
    a = after.tables.assignments
    opened = a[a["start_date"] == after.effective].set_index("account_id")["rep_id"]
    assert opened.reindex(made["account_id"]).tolist() == made["rep_id"].tolist()
    assert not set(held) & set(opened.index)


def test_measured_lift_recovers_the_true_lift(year_after):
    _, plan, held, made, after = year_after
    outcome = plan_outcomes(after.tables, plan, after.effective, after.stop, holdback=held)
    moved = made["account_id"].to_numpy()
    true_ratio = after.expected_under_plan[moved].sum() / after.expected_if_kept[moved].sum() - 1.0
    lift = outcome.lift
    assert lift.comparison == "held back at random"
    assert lift.moved_accounts == len(moved) and lift.control_accounts == len(held)
    assert true_ratio > 0.2  # the plan really helps: a lift of zero would not pass below
    print(f"true lift {true_ratio:.3f}, measured {lift.lift_ratio:.3f} "
          f"[{lift.lift_ratio_low:.3f}, {lift.lift_ratio_high:.3f}]")  # fmt: skip
    assert abs(lift.lift_ratio - true_ratio) < TOLERANCE, (lift, true_ratio)
    assert lift.lift_ratio_low <= true_ratio <= lift.lift_ratio_high
    groups = outcome.accounts.groupby("group")["actual"].sum()
    assert groups["moved"] == pytest.approx(lift.actual)
    assert outcome.accounts["plan_applied"].all()
    assert outcome.reps["accounts"].sum() == len(plan)
    assert outcome.reps["gained"].sum() == len(moved)


def test_without_holdback_kept_accounts_are_the_labelled_comparison(year_after):
    _, plan, held, _, after = year_after
    applied = plan.assign(
        rep_id=np.where(plan["account_id"].isin(held), plan["current_rep"], plan["rep_id"])
    )
    outcome = plan_outcomes(after.tables, applied, after.effective, after.stop, n_boot=50)
    assert outcome.lift.comparison == "kept, matched on predicted potential"
    assert outcome.lift.control_accounts == (applied["rep_id"] == applied["current_rep"]).sum()


def test_outcomes_need_the_plan_columns_and_moves(year_after):
    _, plan, _, _, after = year_after
    with pytest.raises(KpiError, match="current_rep"):
        plan_outcomes(after.tables, plan.drop(columns="current_rep"), after.effective)
    nothing = plan.assign(rep_id=plan["current_rep"])
    with pytest.raises(KpiError, match="no lift to measure"):
        plan_outcomes(after.tables, nothing, after.effective)
