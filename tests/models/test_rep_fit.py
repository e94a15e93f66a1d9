"""Rep fit: point-in-time rep features, shrinkage, the fallback, and the learned fit vs truth."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from features.rep_features import SHRINKAGE, by_account_id, rep_features_at
from models.repfit import fallback_fit


def history() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    accounts = pd.DataFrame(
        {
            "account_id": ["A1", "A2"],
            "industry": ["Retail", "Energy"],
            "latitude": [40.0, 41.0],
            "longitude": [-100.0, -101.0],
        }
    )
    reps = pd.DataFrame(
        {
            "rep_id": ["R1", "R2"],
            "hired_at": pd.to_datetime(["2020-01-01", "2024-01-01"]),
            "level": ["Senior AE", "SDR"],
            "industries": ["Retail|Energy", ""],
            "home_latitude": [40.0, 45.0],
            "home_longitude": [-100.0, -100.0],
        }
    )
    opportunities = pd.DataFrame(
        {
            "opportunity_id": ["O1", "O2", "O3", "O4", "O5"],
            "account_id": ["A1", "A1", "A2", "A1", "A2"],
            "rep_id": ["R1", "R1", "R1", "R1", "R2"],
            "created_at": pd.to_datetime(
                ["2023-01-01", "2023-02-01", "2023-03-01", "2023-06-01", "2023-06-01"]
            ),
            "closed_at": pd.to_datetime(
                ["2023-03-01", "2023-04-01", "2023-06-01", "2023-09-01", "2023-09-01"]
            ),
            "stage": ["won", "lost", "won", "won", "lost"],
            "amount": [1000.0, 500.0, 2000.0, 800.0, 300.0],
        }
    )
    return accounts, reps, opportunities


@pytest.mark.parametrize("unit", ["s", "us", "ns"])
def test_features_accept_any_datetime_resolution(unit):
    # a scenario's as_of parsed from YAML is datetime64[s]; CRM columns are [us] or [ns]
    accounts, reps, opportunities = history()
    at = pd.Series(pd.to_datetime(["2023-06-01"])).astype(f"datetime64[{unit}]")
    query = pd.DataFrame({"rep_id": ["R1"], "account_id": ["A1"], "at": at})
    features = rep_features_at(query, opportunities, accounts, reps).iloc[0]
    assert features["rep_closed_deals"] == 2


def test_features_use_only_opportunities_closed_strictly_before():
    accounts, reps, opportunities = history()
    query = pd.DataFrame(
        {"rep_id": ["R1"], "account_id": ["A1"], "at": pd.to_datetime(["2023-06-01"])}
    )
    features = rep_features_at(query, opportunities, accounts, reps).iloc[0]
    # O1 (won, closed 03-01) and O2 (lost, 04-01) count; O3 closed on 06-01 itself does not
    assert features["rep_closed_deals"] == 2
    assert features["rep_industry_closed_deals"] == 2
    assert features["rep_log_revenue_closed"] == pytest.approx(np.log1p(1000.0))
    assert features["rep_tenure_years"] == pytest.approx(
        (pd.Timestamp("2023-06-01") - pd.Timestamp("2020-01-01")).days / 365.25
    )
    assert features["rep_knows_industry"] == 1.0
    assert features["distance_km"] == pytest.approx(0.0)
    later = opportunities.copy()
    later.loc[later["closed_at"] >= "2023-06-01", "stage"] = "lost"  # rewrite the future
    again = rep_features_at(query, later, accounts, reps).iloc[0]
    pd.testing.assert_series_equal(features, again)


def test_features_at_one_date_equal_the_mixed_date_path():
    # a plan's pairs all share one date and take a lookup per key instead of merge_asof: the
    # same numbers, for dates on and between closings, unknown reps and unknown accounts
    accounts, reps, opportunities = history()
    dates = ["2023-03-01", "2023-04-15", "2023-06-01", "2023-09-02"]
    pairs = [("R1", "A1"), ("R2", "A2"), ("R1", "A2"), ("R9", "A1"), ("R2", "A9")]
    mixed = pd.DataFrame(
        [(r, a, pd.Timestamp(d)) for d in dates for r, a in pairs],
        columns=["rep_id", "account_id", "at"],
    )
    mixed = pd.concat([mixed, mixed.iloc[:1].assign(at=pd.Timestamp("2022-01-01"))])
    together = rep_features_at(mixed, opportunities, accounts, reps)
    for date in dates:
        rows = np.flatnonzero((mixed["at"] == pd.Timestamp(date)).to_numpy())
        alone = rep_features_at(mixed.iloc[rows], opportunities, accounts, reps)
        pd.testing.assert_frame_equal(alone, together.iloc[rows].reset_index(drop=True))
    assert together["rep_closed_deals"].max() > 0


def test_win_rates_are_shrunk_toward_the_team_and_the_rep():
    accounts, reps, opportunities = history()
    query = pd.DataFrame(
        {
            "rep_id": ["R1", "R2"],
            "account_id": ["A1", "A2"],
            "at": pd.to_datetime(["2023-06-01", "2023-06-01"]),
        }
    )
    features = rep_features_at(query, opportunities, accounts, reps)
    team = (1 + 1.0) / (2 + 4.0)  # 1 win of 2 closed, plus the Laplace prior
    rate = (1 + SHRINKAGE * team) / (2 + SHRINKAGE)
    assert features.loc[0, "rep_win_rate"] == pytest.approx(rate)
    assert features.loc[0, "rep_industry_win_rate"] == pytest.approx(
        (1 + SHRINKAGE * rate) / (2 + SHRINKAGE)
    )
    assert features.loc[1, "rep_closed_deals"] == 0
    assert features.loc[1, "rep_win_rate"] == pytest.approx(team)  # no history: the team prior


def test_fallback_fit_averages_one_and_rewards_expertise_and_tenure(mk):
    accounts = mk.accounts([100.0, 100.0], industry=["energy", "retail"])
    reps = mk.reps([5.0] * 3, tenure=[1.0, 1.0, 9.0], industries=["energy", "", ""])
    rows = np.repeat([0, 1], 3)
    fit = fallback_fit(accounts, reps, rows, np.tile([0, 1, 2], 2)).reshape(2, 3)
    np.testing.assert_allclose(fit.mean(axis=1), 1.0)
    assert fit[0, 0] > fit[0, 1]  # knows energy
    assert fit[1, 2] > fit[1, 1]  # longer tenure
    assert fit[1, 0] == pytest.approx(fit[1, 1])  # energy is no help on a retail account


@pytest.mark.slow
@pytest.mark.model
def test_learned_fit_ranks_reps_like_the_true_skill():
    from scipy.stats import spearmanr

    from features.sample_world import SampleConfig, generate_world
    from models.repfit import RepFitModel, choose_rep_fit

    world = generate_world(SampleConfig(n_accounts=1500, n_reps=20, years=3, seed=11))
    tables = world.tables
    as_of = tables.latest_date()
    fit, info = choose_rep_fit(tables, as_of)
    assert isinstance(fit, RepFitModel) and info["method"] == "learned"
    reps = tables.reps.rename(columns={"home_latitude": "latitude", "home_longitude": "longitude"})
    reps["tenure_years"] = (as_of - reps["hired_at"]).dt.days / 365.25
    active = np.flatnonzero(reps["active"].to_numpy())
    sample = np.arange(0, len(tables.accounts), 10)
    a, r = np.repeat(sample, active.size), np.tile(active, sample.size)
    effect = pd.Series(np.log(fit(tables.accounts, reps, a, r))).groupby(r).mean()
    skill = world.truth.reps.set_index("rep_id")["true_skill"].reindex(
        reps["rep_id"].to_numpy()[effect.index]
    )
    assert spearmanr(effect.to_numpy(), skill.to_numpy())[0] > 0.4
    again = RepFitModel().fit(tables, as_of)(tables.accounts, reps, a[:50], r[:50])
    np.testing.assert_allclose(again, fit(tables.accounts, reps, a[:50], r[:50]))


@pytest.mark.model
def test_fit_read_from_the_trees_equals_the_row_by_row_fit(monkeypatch):
    # The plan's fit over millions of pairs is read from the trees' structure
    # (models.repfit.additive); every pair must get what evaluating its own row gives: known and
    # inactive reps, a planned hire the models never saw, an account without a location or
    # industry, and pairs at every distance.
    from features.sample_world import SampleConfig, generate_world
    from models.repfit import RepFitModel, learned
    from models.repfit.learned import contract_reps

    tables = generate_world(SampleConfig(n_accounts=900, n_reps=15, years=3, seed=5)).tables
    as_of = tables.latest_date()
    model = RepFitModel().fit(tables, as_of)
    accounts = tables.accounts.copy()
    accounts.loc[3, ["latitude", "longitude"]] = np.nan
    accounts.loc[4, "industry"] = None
    model.tables_ = dataclasses.replace(tables, accounts=accounts)
    reps = tables.reps.rename(columns={"home_latitude": "latitude", "home_longitude": "longitude"})
    reps["tenure_years"] = (as_of - reps["hired_at"]).dt.days / 365.25
    hire = reps.iloc[[0]].assign(rep_id="HIRE-1", tenure_years=0.0, latitude=35.0)
    reps = pd.concat([reps, hire], ignore_index=True)
    assert not reps["active"].all()  # departed reps are among the pairs
    a = np.repeat(np.arange(len(accounts)), len(reps))
    r = np.tile(np.arange(len(reps)), len(accounts))
    roster = contract_reps(reps, as_of)
    read = model._fit_additive(accounts, reps, roster, a, r)
    rows = model._fit_by_rows(accounts, reps, roster, a, r)
    np.testing.assert_allclose(np.log(read), np.log(rows), rtol=0, atol=1e-9)
    assert np.unique(np.round(read, 6)).size > 1000  # pairs differ: the check is not vacuous
    np.testing.assert_array_equal(model(accounts, reps, a, r), read)
    # the running totals are built once per export, and again for another export
    assert model._closed(tables.opportunities, accounts) is model._closed(
        tables.opportunities, accounts
    )
    later = tables.opportunities.copy()
    assert model._closed(later, accounts) is not model._closed(tables.opportunities, accounts)

    # were the decomposition ever wrong, the sampled check would notice and fall back
    broken = learned.pair_logs
    monkeypatch.setattr(
        learned,
        "pair_logs",
        lambda *args: {c: v + 0.1 * (v > np.median(v)) for c, v in broken(*args).items()},
    )
    with pytest.warns(RuntimeWarning, match="row-by-row"):
        again = model(accounts, reps, a, r)
    np.testing.assert_allclose(again, rows)


def test_deal_rate_rows_are_whole_quarters_of_one_owner():
    from types import SimpleNamespace

    from models.repfit.learned import RepFitParams, _ownership_quarters

    _, _, opportunities = history()
    assignments = pd.DataFrame(
        {
            "account_id": ["A1", "A2", "A2"],
            "rep_id": ["R1", "R2", "R1"],
            "start_date": pd.to_datetime(["2022-01-01", "2023-01-01", "2023-05-01"]),
            "end_date": pd.to_datetime([None, "2023-05-01", None]),
        }
    )
    tables = SimpleNamespace(assignments=assignments, opportunities=opportunities)
    rows = _ownership_quarters(tables, pd.Timestamp("2023-07-01"), RepFitParams(rate_quarters=2))
    # quarters [2022-12-31, 2023-04-01) and [2023-04-01, 2023-07-01): only A1 had one owner
    # throughout; A2 changed hands inside the second and was owned by nobody at the first's start
    assert rows["account_id"].tolist() == ["A1", "A1"]
    assert rows["rep_id"].tolist() == ["R1", "R1"]
    assert rows["deals"].tolist() == [2.0, 1.0]  # O1, O2 created in the first; O4 in the second


def test_rep_load_is_owned_size_workload_over_capacity_at_each_date():
    from models.potential import size_workload
    from models.repfit.learned import _rep_load

    accounts = pd.DataFrame({"account_id": ["A1", "A2", "A3"], "employees": [9, 99, None]})
    reps = pd.DataFrame({"rep_id": ["R1", "R2"], "capacity": [2.0, None]})
    assignments = pd.DataFrame(
        {
            "account_id": ["A1", "A2", "A3"],
            "rep_id": ["R1", "R1", "R2"],
            "start_date": pd.to_datetime(["2024-01-01", "2024-03-01", "2024-01-01"]),
            "end_date": pd.to_datetime([None, "2024-06-01", None]),
        }
    )
    queries = pd.DataFrame(
        {
            "rep_id": ["R1", "R1", "R1", "R2", "R1"],
            "at": pd.to_datetime(
                ["2024-02-01", "2024-04-01", "2024-07-01", "2024-04-01", "2023-12-01"]
            ),
        }
    )
    work = size_workload(accounts.set_index("account_id")["employees"])
    assert work["A1"] == pytest.approx(0.75) and work["A2"] == pytest.approx(1.0)
    load = _rep_load(assignments, queries, accounts, reps)
    # R1: A1 alone, then A1 + A2, then A1 again once A2 ends; R2 has no capacity: the median (2.0)
    expected = [0.75 / 2, 1.75 / 2, 0.75 / 2, work["A3"] / 2, 0.0]
    np.testing.assert_allclose(load, expected)


def test_rep_load_without_any_capacity_counts_a_typical_book_as_full():
    from models.repfit.learned import _rep_load

    accounts = pd.DataFrame({"account_id": ["A1", "A2", "A3"], "employees": [9, 9, 9]})
    reps = pd.DataFrame({"rep_id": ["R1", "R2"]})  # no capacity column at all
    assignments = pd.DataFrame(
        {
            "account_id": ["A1", "A2", "A3"],
            "rep_id": ["R1", "R1", "R2"],
            "start_date": pd.to_datetime(["2024-01-01"] * 3),
            "end_date": pd.to_datetime([None] * 3),
        }
    )
    queries = pd.DataFrame({"rep_id": ["R1", "R2"], "at": pd.to_datetime(["2024-02-01"] * 2)})
    # books 1.5 and 0.75 units; their median, 1.125, is a full book (plans read 1.0)
    np.testing.assert_allclose(
        _rep_load(assignments, queries, accounts, reps), [1.5 / 1.125, 0.75 / 1.125]
    )


def test_accounts_indexed_once_per_frame_and_again_when_it_changes():
    accounts, _, _ = history()
    first = by_account_id(accounts)
    assert by_account_id(accounts) is first
    assert first.loc["A2", "industry"] == "Energy"
    accounts["employees"] = [10, 20]  # a column added in place: indexed again
    assert by_account_id(accounts).loc["A2", "employees"] == 20
    other = accounts.assign(industry=["Retail", "Retail"])
    assert by_account_id(other).loc["A2", "industry"] == "Retail"
