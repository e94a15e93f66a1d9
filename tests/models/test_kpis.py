"""KPIs on a small sample world equal direct computations from the CRM tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.sample_world import SampleConfig, generate_world
from models.kpis import KpiError, KpiSettings, kpi_table, kpi_trend, owners_on

START, STOP = pd.Timestamp("2025-07-01"), pd.Timestamp("2026-07-01")


@pytest.fixture(scope="module")
def world():
    return generate_world(SampleConfig(n_accounts=400, n_reps=8, years=2, seed=21))


@pytest.fixture(scope="module")
def potential(world):
    return world.truth.accounts.set_index("account_id")["true_potential"]


def _owner_on_last_day(tables, account_id):
    """Loop over the assignment rows by hand: start_date <= day < end_date."""
    day = STOP - pd.Timedelta(days=1)
    owner = None
    for row in tables.assignments[tables.assignments["account_id"] == account_id].itertuples():
        ends_after = pd.isna(row.end_date) or row.end_date > day
        if row.start_date <= day and ends_after:
            owner = row.rep_id
    return owner


def test_rep_kpis_equal_direct_sums(world, potential):
    tables = world.tables
    table = kpi_table(tables, START, STOP, by="rep", potential=potential).set_index("rep")
    opps = tables.opportunities
    rep = tables.current_owners().value_counts().index[0]
    mine = opps[opps["rep_id"] == rep]
    closed = mine[(mine["closed_at"] >= START) & (mine["closed_at"] < STOP)]
    won = closed[closed["stage"] == "won"]
    lost = closed[closed["stage"] == "lost"]
    row = table.loc[rep]
    assert row["won_revenue"] == pytest.approx(won["amount"].sum())
    assert row["won_deals"] == len(won) and row["lost_deals"] == len(lost)
    assert row["win_rate"] == pytest.approx(len(won) / (len(won) + len(lost)))
    assert row["avg_deal_size"] == pytest.approx(won["amount"].mean())
    cycle = [(c - o).days for c, o in zip(won["closed_at"], won["created_at"], strict=True)]
    assert row["sales_cycle_days"] == pytest.approx(float(np.median(cycle)))
    open_then = mine[
        (mine["created_at"] < STOP) & (mine["closed_at"].isna() | (mine["closed_at"] >= STOP))
    ]
    assert row["open_pipeline"] == pytest.approx(open_then["amount"].sum())
    owned = [
        a
        for a in tables.accounts.loc[tables.accounts["created_at"] < STOP, "account_id"]
        if _owner_on_last_day(tables, a) == rep
    ]
    assert row["accounts_owned"] == len(owned) > 0
    capacity = float(tables.reps.set_index("rep_id").loc[rep, "capacity"])
    assert row["revenue_per_account"] == pytest.approx(won["amount"].sum() / len(owned))
    assert row["revenue_per_capacity"] == pytest.approx(won["amount"].sum() / capacity)
    years = (STOP - START).days / 365.25
    assert row["potential_in_period"] == pytest.approx(potential[owned].sum() * years)
    assert row["market_penetration"] == pytest.approx(
        won["amount"].sum() / (potential[owned].sum() * years)
    )


def test_active_accounts_and_coverage_by_hand(world, potential):
    tables = world.tables
    table = kpi_table(tables, START, STOP, by="company", potential=potential).iloc[0]
    acts, opps = tables.activities, tables.opportunities
    existing = tables.accounts.loc[tables.accounts["created_at"] < STOP, "account_id"]
    touched = set(
        acts.loc[(acts["occurred_at"] >= START) & (acts["occurred_at"] < STOP), "account_id"]
    )
    touched |= set(
        opps.loc[(opps["created_at"] >= START) & (opps["created_at"] < STOP), "account_id"]
    )
    assert table["accounts_owned"] == len(existing)
    assert table["accounts_active"] == len(set(existing) & touched)
    p = potential[existing]
    high = set(p[p >= p.quantile(0.8)].index)
    reps = tables.reps.set_index("rep_id")
    industry = tables.accounts.set_index("account_id")["industry"]
    recent = acts[acts["occurred_at"] >= STOP - pd.Timedelta(days=90)]
    recent = recent[recent["occurred_at"] < STOP]
    covered = 0
    for account in high:
        owner = _owner_on_last_day(tables, account)
        if owner is None or not reps.loc[owner, "active"]:
            continue
        expert = str(industry[account]).lower() in str(reps.loc[owner, "industries"]).lower().split(
            "|"
        )
        senior = reps.loc[owner, "level"] in ("Senior AE", "Principal")
        touched_by_owner = ((recent["account_id"] == account) & (recent["rep_id"] == owner)).any()
        covered += bool((expert or senior) and touched_by_owner)
    assert table["high_potential_accounts"] == len(high)
    assert table["covered_accounts"] == covered
    assert table["coverage"] == pytest.approx(covered / len(high))
    assert 0 < table["coverage"] < 1


def test_groupings_add_up_to_the_company(world, potential):
    tables = world.tables
    company = kpi_table(tables, START, STOP, by="company", potential=potential).iloc[0]
    for by in ("rep", "region"):
        part = kpi_table(tables, START, STOP, by=by, potential=potential)
        for column in ("won_revenue", "won_deals", "lost_deals", "open_pipeline", "accounts_owned"):
            assert part[column].sum() == pytest.approx(company[column]), (by, column)
        assert part["capacity"].sum() == pytest.approx(company["capacity"]), by
    regions = kpi_table(tables, START, STOP, by="region").set_index("region")
    opps = tables.opportunities.merge(tables.accounts[["account_id", "region"]], on="account_id")
    west = opps[(opps["region"] == "West") & (opps["stage"] == "won")]
    west = west[(west["closed_at"] >= START) & (west["closed_at"] < STOP)]
    assert regions.loc["West", "won_revenue"] == pytest.approx(west["amount"].sum())


def test_trend_periods_partition_the_window(world):
    trend = kpi_trend(world.tables, START, STOP, by="company", freq="QS")
    assert list(trend["period_start"].dt.month) == [7, 10, 1, 4]
    whole = kpi_table(world.tables, START, STOP, by="company").iloc[0]
    assert trend["won_revenue"].sum() == pytest.approx(whole["won_revenue"])
    assert trend["won_deals"].sum() == whole["won_deals"]


def test_satisfaction_is_the_mean_of_owned_accounts(world):
    tables = world.tables
    accounts = tables.accounts.copy()
    accounts["satisfaction"] = np.where(np.arange(len(accounts)) % 2 == 0, 4.0, np.nan)
    with_csat = type(tables)(**{**tables.__dict__, "accounts": accounts})
    table = kpi_table(with_csat, START, STOP, by="rep").set_index("rep")
    owners = owners_on(tables.assignments, STOP - pd.Timedelta(days=1))
    rep = owners.value_counts().index[0]
    mine = accounts.set_index("account_id").loc[owners[owners == rep].index, "satisfaction"]
    assert table.loc[rep, "satisfaction"] == pytest.approx(mine.mean())
    assert mine.mean() == 4.0
    plain = kpi_table(tables, START, STOP, by="rep")
    assert plain["satisfaction"].isna().all()  # the sample world has no survey data


def test_without_potential_coverage_and_penetration_are_empty(world):
    table = kpi_table(world.tables, START, STOP, by="region")
    assert table["market_penetration"].isna().all() and table["coverage"].isna().all()


def test_recent_days_setting_changes_coverage(world, potential):
    short = kpi_table(
        world.tables,
        START,
        STOP,
        by="company",
        potential=potential,
        settings=KpiSettings(recent_days=7),
    ).iloc[0]
    long = kpi_table(world.tables, START, STOP, by="company", potential=potential).iloc[0]
    assert short["covered_accounts"] < long["covered_accounts"]


def test_bad_requests_name_the_option():
    with pytest.raises(KpiError, match="--by 'team'"):
        kpi_table(None, START, STOP, by="team")
    with pytest.raises(KpiError, match="not before"):
        kpi_table(None, STOP, START, by="rep")
