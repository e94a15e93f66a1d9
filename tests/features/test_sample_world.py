"""Sample world: contract validity, determinism, hidden truth, calibration, CLI."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.contract import ACTIVITY_TYPES, OPPORTUNITY_STAGES, REP_LEVELS, TABLES
from features.sample_world import (
    CALIBRATION_TARGETS,
    SampleConfig,
    SampleConfigError,
    WorldParams,
    calibration_report,
    check_config,
    generate_world,
    load_truth,
    out_of_range,
    pair_multiplier,
    pair_value,
    write_world,
)

SMALL = SampleConfig(n_accounts=500, n_reps=10, years=2, seed=11)
ID_PATTERNS = {
    "account_id": r"A\d{6}",
    "rep_id": r"R\d{4}",
    "opportunity_id": r"O\d{8}",
    "activity_id": r"E\d{9}",
}
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@pytest.fixture(scope="module")
def sample_world():
    return generate_world(SMALL)


@pytest.fixture(scope="module")
def sample_dir(sample_world, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample_world")
    write_world(sample_world, out, "csv", calibration_report(sample_world.tables, SMALL.end_date))
    return out


def _files(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


# ---- determinism -------------------------------------------------------------------------------


def test_same_seed_gives_byte_identical_files(sample_dir, tmp_path):
    again = generate_world(SMALL)
    write_world(again, tmp_path, "csv", calibration_report(again.tables, SMALL.end_date))
    first, second = _files(sample_dir), _files(tmp_path)
    assert sorted(first) == sorted(second)
    assert [name for name in first if first[name] != second[name]] == []


def test_other_seed_gives_other_world(sample_world):
    other = generate_world(SampleConfig(n_accounts=500, n_reps=10, years=2, seed=12))
    amounts = sample_world.tables.opportunities["amount"]
    assert not other.tables.opportunities["amount"].equals(amounts)


# ---- contract ----------------------------------------------------------------------------------

KIND_CHECKS = {
    "id": pd.api.types.is_string_dtype,
    "str": pd.api.types.is_string_dtype,
    "int": pd.api.types.is_integer_dtype,
    "float": pd.api.types.is_float_dtype,
    "date": pd.api.types.is_datetime64_dtype,
    "bool": pd.api.types.is_bool_dtype,
}


@pytest.mark.parametrize("name", list(TABLES))
def test_tables_follow_contract_columns_and_kinds(sample_world, name):
    frame = getattr(sample_world.tables, name)
    table = TABLES[name]
    assert list(frame.columns) == table.column_names
    for column in table.columns:
        values = frame[column.name]
        assert KIND_CHECKS[column.kind](values), (name, column.name, values.dtype)
        if not column.nullable:
            assert frame[column.name].notna().all(), (name, column.name)


@pytest.mark.parametrize("name", list(TABLES))
def test_written_csv_has_contract_header_and_iso_dates(sample_dir, name):
    raw = pd.read_csv(sample_dir / f"{name}.csv", dtype=str, keep_default_na=False)
    assert list(raw.columns) == TABLES[name].column_names
    for column in TABLES[name].columns:
        if column.kind == "date":
            values = raw[column.name][raw[column.name] != ""]
            assert values.str.match(ISO_DATE).all(), (name, column.name)


def test_ids_are_unique_and_well_formed(sample_world):
    t = sample_world.tables
    for frame, column in [
        (t.accounts, "account_id"),
        (t.reps, "rep_id"),
        (t.opportunities, "opportunity_id"),
        (t.activities, "activity_id"),
    ]:
        assert frame[column].is_unique
        assert frame[column].str.fullmatch(ID_PATTERNS[column]).all()
    assert not t.assignments.duplicated(["account_id", "start_date"]).any()


def test_foreign_keys_resolve(sample_world):
    t = sample_world.tables
    accounts, reps = set(t.accounts["account_id"]), set(t.reps["rep_id"])
    for frame in (t.opportunities, t.activities, t.assignments):
        assert set(frame["account_id"]) <= accounts
        assert set(frame["rep_id"].dropna()) <= reps
    assert t.assignments["rep_id"].notna().all()


def test_every_account_has_one_current_owner_who_is_active(sample_world):
    t = sample_world.tables
    current = t.assignments[t.assignments["end_date"].isna()]
    assert current["account_id"].is_unique
    assert set(current["account_id"]) == set(t.accounts["account_id"])
    active = set(t.reps.loc[t.reps["active"], "rep_id"])
    assert set(current["rep_id"]) <= active
    assert t.reps["active"].sum() == SMALL.n_reps


def test_ownership_spells_are_ordered_and_disjoint(sample_world):
    t = sample_world.tables
    spells = t.assignments.sort_values(["account_id", "start_date"])
    closed = spells.dropna(subset=["end_date"])
    assert (closed["end_date"] > closed["start_date"]).all()
    previous_end = spells.groupby("account_id")["end_date"].shift()
    starts_after = spells["start_date"] >= previous_end
    assert starts_after[previous_end.notna()].all()
    hired = spells["rep_id"].map(t.reps.set_index("rep_id")["hired_at"])
    assert (spells["start_date"] >= hired).all()
    created = spells["account_id"].map(t.accounts.set_index("account_id")["created_at"])
    assert (spells["start_date"] >= created).all()


def test_opportunities_are_consistent(sample_world):
    opps = sample_world.tables.opportunities
    assert set(opps["stage"]) == set(OPPORTUNITY_STAGES)
    assert (opps["amount"] >= 0).all()
    closed = opps["closed_at"].notna()
    assert (opps.loc[closed, "closed_at"] >= opps.loc[closed, "created_at"]).all()
    assert (opps.loc[~closed, "stage"] == "open").all()
    assert (opps.loc[closed, "stage"] != "open").all()
    end = pd.Timestamp(SMALL.end_date)
    assert opps["created_at"].max() <= end and opps["closed_at"].max() <= end


def test_values_within_contract_domains(sample_world):
    t = sample_world.tables
    assert set(t.activities["type"]) <= set(ACTIVITY_TYPES)
    assert set(t.reps["level"]) <= set(REP_LEVELS)
    assert (t.accounts["employees"].dropna() >= 0).all()
    assert (t.accounts["annual_revenue"].dropna() >= 0).all()
    assert (t.accounts["latitude"].isna() == t.accounts["longitude"].isna()).all()
    assert t.activities["occurred_at"].max() <= pd.Timestamp(SMALL.end_date)


def test_some_values_are_missing_like_a_real_crm():
    world = generate_world(SampleConfig(n_accounts=5000, n_reps=20, years=1, seed=3))
    accounts = world.tables.accounts
    for column, rate in [("employees", 0.04), ("annual_revenue", 0.06), ("latitude", 0.01)]:
        assert accounts[column].isna().mean() == pytest.approx(rate, abs=0.015)


def test_project_loader_accepts_the_export(sample_dir):
    from features.loaders import load_crm

    result = load_crm(sample_dir)
    assert not result.report.fatal
    assert result.report.quarantined_rows == 0


# ---- truth -------------------------------------------------------------------------------------


def test_truth_files_exist_and_document_the_model(sample_dir):
    truth = sample_dir / "truth"
    for name in ("accounts.csv", "reps.csv", "params.json", "README.md"):
        assert (truth / name).is_file(), name
    params = json.loads((truth / "params.json").read_text())
    assert params["pair_value"]["b_skill"] == WorldParams().b_skill
    readme = (truth / "README.md").read_text()
    assert "V(a, r)" in readme and f"{WorldParams().b_match}" in readme
    assert set(params["calibration"]) >= set(CALIBRATION_TARGETS)


def test_pair_value_of_current_owner_matches_truth_file(sample_dir):
    truth = load_truth(sample_dir)
    accounts = truth.accounts
    value = pair_value(
        accounts, truth.reps, truth.params, accounts["account_id"], accounts["current_owner"]
    )
    np.testing.assert_allclose(value, accounts["expected_revenue_current_owner"], rtol=1e-9)
    assert truth.config == SMALL


def test_pair_value_rejects_unknown_ids(sample_world):
    truth = sample_world.truth
    with pytest.raises(KeyError, match="not in the truth files"):
        pair_value(truth.accounts, truth.reps, truth.params, ["A999999"], ["R0001"])


def test_average_rep_keeps_potential_and_effects_point_the_right_way():
    p = WorldParams()
    assert pair_multiplier(0.0, p.ref_match, p.ref_dist_km, p) == pytest.approx(1.0)
    base = pair_multiplier(0.0, 0, 50.0, p)
    assert pair_multiplier(1.0, 0, 50.0, p) > base
    assert pair_multiplier(0.0, 1, 50.0, p) > base
    assert pair_multiplier(0.0, 0, 500.0, p) < base
    capped = pair_multiplier(0.0, 0, p.dist_cap_km, p)
    assert pair_multiplier(0.0, 0, 5000.0, p) == pytest.approx(capped)


def test_oracle_over_next_year_is_true_potential(sample_world):
    truth = sample_world.truth
    end = pd.Timestamp(SMALL.end_date)
    oracle = truth.oracle_potential(end, end + pd.DateOffset(years=1))
    np.testing.assert_allclose(oracle.to_numpy(), truth.accounts["true_potential"], rtol=1e-9)
    assert list(oracle.index) == list(truth.accounts["account_id"])


def test_potential_has_an_unobserved_part_and_drifts(sample_world):
    accounts = sample_world.truth.accounts
    assert accounts["latent_effect"].std() == pytest.approx(WorldParams().latent_sd, rel=0.2)
    drift = accounts["trend_per_year"].abs()
    assert drift.mean() > 0.05


def test_skill_correlates_with_tenure_and_level_but_is_not_them():
    world = generate_world(SampleConfig(n_accounts=5000, n_reps=400, years=1, seed=5))
    reps = world.truth.reps
    tenure = (pd.Timestamp(date(2026, 6, 30)) - reps["hired_at"]).dt.days
    level = reps["level"].map({name: i for i, name in enumerate(REP_LEVELS)})
    for signal in (tenure, level):
        rho = reps["true_skill"].corr(signal, method="spearman")
        assert 0.15 < rho < 0.8


# ---- calibration -------------------------------------------------------------------------------


def test_calibration_of_a_medium_world_is_typical_b2b():
    config = SampleConfig(n_accounts=5000, n_reps=60, years=3, seed=7)
    world = generate_world(config)
    figures = calibration_report(world.tables, config.end_date)
    assert out_of_range(figures) == {}


@pytest.mark.slow
def test_calibration_of_the_default_world_is_typical_b2b():
    config = SampleConfig()
    world = generate_world(config)
    assert out_of_range(calibration_report(world.tables, config.end_date)) == {}


def test_one_year_world_has_no_year_over_year_figure():
    world = generate_world(SampleConfig(n_accounts=300, n_reps=5, years=1, seed=1))
    figures = calibration_report(world.tables, world.config.end_date)
    assert np.isnan(figures["revenue_rank_corr_yoy"])
    assert "revenue_rank_corr_yoy" in out_of_range(figures)


# ---- config and CLI ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "option"),
    [
        (SampleConfig(n_accounts=0), "--accounts"),
        (SampleConfig(n_accounts=10, n_reps=20), "--reps"),
        (SampleConfig(n_reps=0), "--reps"),
        (SampleConfig(years=0), "--years"),
        (SampleConfig(years=99), "--years"),
    ],
)
def test_bad_config_names_the_option(config, option):
    with pytest.raises(SampleConfigError, match=re.escape(option)) as caught:
        check_config(config)
    assert caught.value.option == option


def _cli(args: list[str]):
    from typer.testing import CliRunner

    from training.cli import app

    return CliRunner().invoke(app, ["sample", *args])


def test_cli_writes_world_and_prints_summary(tmp_path):
    out = tmp_path / "world"
    result = _cli(
        ["--accounts", "300", "--reps", "6", "--years", "2", "--seed", "4", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    for name in TABLES:
        assert (out / f"{name}.csv").is_file()
    assert (out / "truth" / "accounts.csv").is_file()
    assert "opportunities rows" in result.output and "Spearman" in result.output


def test_cli_parquet_format(tmp_path):
    result = _cli(
        [
            "--accounts",
            "200",
            "--reps",
            "4",
            "--years",
            "1",
            "--out",
            str(tmp_path),
            "--format",
            "parquet",
        ]
    )
    assert result.exit_code == 0, result.output
    opps = pd.read_parquet(tmp_path / "opportunities.parquet")
    assert list(opps.columns) == TABLES["opportunities"].column_names
    truth = load_truth(tmp_path)
    assert len(truth.accounts) == 200


@pytest.mark.parametrize(
    ("args", "option", "value"),
    [
        (["--accounts", "0"], "--accounts", "0"),
        (["--accounts", "10", "--reps", "50"], "--reps", "50"),
        (["--years", "0"], "--years", "0"),
    ],
)
def test_cli_bad_input_names_option_value_and_fix(tmp_path, args, option, value):
    result = _cli([*args, "--out", str(tmp_path)])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert option in text and value in text and ("try" in text or "use" in text)
    assert not (tmp_path / "accounts.csv").exists()
