"""Validation of broken CRM exports: one test per kind of problem, on a copy of the sample."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.errors import DataContractError
from features.loaders import load_crm
from features.validation import validate_crm
from training.cli import app

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "crm_sample"
KEYS = {"accounts": "account_id", "reps": "rep_id", "opportunities": "opportunity_id",
        "activities": "activity_id"}  # fmt: skip


@pytest.fixture
def crm_dir(tmp_path: Path) -> Path:
    """A writable copy of tests/data/crm_sample."""
    return Path(shutil.copytree(SAMPLE, tmp_path / "crm"))


def edit(folder: Path, table: str, change: Callable[[pd.DataFrame], pd.DataFrame]) -> None:
    path = folder / f"{table}.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    change(frame).to_csv(path, index=False)


def set_cells(folder: Path, table: str, ids: list[str], column: str, value: str) -> None:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        assert set(ids) <= set(frame[KEYS[table]]), ids
        frame.loc[frame[KEYS[table]].isin(ids), column] = value
        return frame

    edit(folder, table, change)


def test_sample_export_is_clean() -> None:
    report = load_crm(SAMPLE).report
    assert report.issues == ()
    assert report.rows_in == report.rows_out
    assert report.rows_in == {"accounts": 12, "reps": 4, "opportunities": 40, "activities": 28,
                              "assignments": 13}  # fmt: skip
    assert report.summary() == "quarantined 0 rows"


def test_text_in_amount_is_quarantined(crm_dir: Path) -> None:
    set_cells(crm_dir, "opportunities", ["O005"], "amount", "abc")
    result = load_crm(crm_dir)
    issue = result.report.find("wrong_type", "opportunities", "amount")
    assert (issue.severity, issue.count, issue.example_ids) == ("quarantine", 1, ("O005",))
    assert issue.message == (
        "opportunities.amount: 1 row where amount is not a number (O005; values: 'abc'). "
        "Write plain numbers such as 1234.5 (no currency or thousands separators); "
        "the rows were quarantined."
    )
    assert "O005" not in set(result.tables.opportunities["opportunity_id"])
    assert result.report.summary() == "quarantined 1 row: opportunities 1 (wrong type amount 1)"


def test_bad_date_is_quarantined(crm_dir: Path) -> None:
    set_cells(crm_dir, "opportunities", ["O002", "O007"], "created_at", "2023-02-30")
    issue = load_crm(crm_dir).report.find("wrong_type", "opportunities", "created_at")
    assert (issue.count, issue.example_ids) == (2, ("O002", "O007"))
    assert "ISO 8601" in issue.message and "'2023-02-30'" in issue.message


def test_missing_required_column_is_fatal(crm_dir: Path) -> None:
    edit(crm_dir, "accounts", lambda f: f.drop(columns="created_at"))
    result = load_crm(crm_dir)
    assert result.crm is None and result.report.fatal
    issue = result.report.find("missing_column", "accounts", "created_at")
    assert (issue.severity, issue.count) == ("fatal", 12)
    assert issue.message.startswith("accounts.created_at: the required column is missing")
    with pytest.raises(DataContractError, match="accounts.created_at"):
        _ = result.tables


def test_missing_optional_column_is_added_empty(crm_dir: Path) -> None:
    edit(crm_dir, "accounts", lambda f: f.drop(columns=["city", "employees"]))
    tables = load_crm(crm_dir).tables
    assert (
        tables.accounts["city"].isna().all() and str(tables.accounts["employees"].dtype) == "Int64"
    )


def test_missing_required_table_is_fatal(crm_dir: Path) -> None:
    (crm_dir / "assignments.csv").unlink()
    report = load_crm(crm_dir).report
    issue = report.find("missing_table", "assignments")
    assert issue.severity == "fatal"
    assert "Add assignments.csv or assignments.parquet" in issue.message
    assert report.summary().startswith("1 fatal problems, the export cannot be used")


def test_missing_activities_give_an_empty_table(crm_dir: Path) -> None:
    (crm_dir / "activities.csv").unlink()
    result = load_crm(crm_dir)
    assert result.report.issues == ()
    activities = result.tables.activities
    assert len(activities) == 0
    assert list(activities.columns) == [
        "activity_id",
        "account_id",
        "rep_id",
        "occurred_at",
        "type",
    ]
    assert str(activities["occurred_at"].dtype) == "datetime64[ns]"


def test_unparseable_column_is_fatal(crm_dir: Path) -> None:
    edit(crm_dir, "accounts", lambda f: f.assign(created_at="15/03/2021"))
    report = load_crm(crm_dir).report
    issue = report.find("unparseable_column", "accounts", "created_at")
    assert (issue.severity, issue.count) == ("fatal", 12)
    assert "none of the 12 values is an ISO 8601 date (e.g. '15/03/2021')" in issue.message
    assert report.find("wrong_type", "accounts") is None
    assert report.find("missing_value", "accounts") is None  # one fatal line, not 12 row issues
    assert report.summary() == "1 fatal problems, the export cannot be used; quarantined 0 rows"


@pytest.mark.parametrize(("table", "ids"), [("accounts", ["A002", "A004"]), ("reps", ["R2"])])
def test_duplicate_parent_ids_are_fatal(crm_dir: Path, table: str, ids: list[str]) -> None:
    key = KEYS[table]
    edit(crm_dir, table, lambda f: pd.concat([f, f[f[key].isin(ids)]]))
    issue = load_crm(crm_dir).report.find("duplicate_id", table, key)
    assert (issue.severity, issue.count, issue.example_ids) == ("fatal", 2 * len(ids), tuple(ids))
    assert (
        f"{table}.{key}: {2 * len(ids)} rows have an id that another row has too ({', '.join(ids)})"
        in issue.message
    )


def test_duplicate_opportunity_ids_quarantine_every_copy(crm_dir: Path) -> None:
    set_cells(crm_dir, "opportunities", ["O012"], "opportunity_id", "O011")
    report = load_crm(crm_dir).report
    issue = report.find("duplicate_id", "opportunities", "opportunity_id")
    assert (issue.severity, issue.count, issue.example_ids) == ("quarantine", 2, ("O011", "O011"))
    assert report.rows_out["opportunities"] == 38


def test_opportunities_pointing_to_unknown_accounts(crm_dir: Path) -> None:
    set_cells(crm_dir, "opportunities", ["O003", "O017", "O030"], "account_id", "A999")
    report = load_crm(crm_dir).report
    issue = report.find("dangling_reference", "opportunities", "account_id")
    assert issue.message == (
        "opportunities.account_id: 3 rows pointing to accounts that do not exist (O003, O017, "
        "O030; values: 'A999'). Add those accounts to the accounts table (accounts.csv) or fix "
        "the ids; the rows were quarantined."
    )
    assert report.summary() == "quarantined 3 rows: opportunities 3 (dangling account_id 3)"


@pytest.mark.parametrize(
    ("table", "ids", "column"),
    [
        ("opportunities", ["O001", "O013"], "rep_id"),
        ("activities", ["T004"], "rep_id"),
        ("activities", ["T009", "T027"], "account_id"),
    ],
)
def test_rows_pointing_to_unknown_parents(
    crm_dir: Path, table: str, ids: list[str], column: str
) -> None:
    set_cells(crm_dir, table, ids, column, "X9")
    issue = load_crm(crm_dir).report.find("dangling_reference", table, column)
    assert (issue.severity, issue.count, issue.example_ids) == ("quarantine", len(ids), tuple(ids))
    assert "values: 'X9'" in issue.message


def test_assignment_to_unknown_rep(crm_dir: Path) -> None:
    edit(
        crm_dir,
        "assignments",
        lambda f: f.assign(rep_id=f["rep_id"].mask(f["account_id"] == "A004", "R9")),
    )
    report = load_crm(crm_dir).report
    issue = report.find("dangling_reference", "assignments", "rep_id")
    assert (issue.count, issue.example_ids) == (1, ("A004",))
    owner = report.find("no_current_owner", "accounts")
    assert (owner.severity, owner.example_ids) == ("warning", ("A004",))


@pytest.mark.parametrize(
    ("table", "key", "column"),
    [
        ("accounts", "A002", "employees"),
        ("accounts", "A006", "annual_revenue"),
        ("reps", "R3", "capacity"),
        ("opportunities", "O010", "amount"),
    ],
)
def test_negative_values_are_quarantined(crm_dir: Path, table: str, key: str, column: str) -> None:
    set_cells(crm_dir, table, [key], column, "-5")
    issue = load_crm(crm_dir).report.find("negative_value", table, column)
    assert (issue.severity, issue.count, issue.example_ids) == ("quarantine", 1, (key,))
    assert (
        f"{table}.{column}: 1 row with a negative {column} ({key}; values: '-5')" in issue.message
    )


def test_rows_of_quarantined_parents_are_counted(crm_dir: Path) -> None:
    set_cells(crm_dir, "accounts", ["A009"], "employees", "-1")
    result = load_crm(crm_dir)
    assert result.report.summary() == (
        "quarantined 9 rows: accounts 1 (negative employees 1), opportunities 4 (quarantined "
        "accounts 4), activities 3 (quarantined accounts 3), assignments 1 (quarantined accounts 1)"
    )
    issue = result.report.find("parent_quarantined", "opportunities", "account_id")
    assert issue.example_ids == ("O008", "O017", "O029", "O036")
    assert "A009" not in set(result.tables.assignments["account_id"])


def test_closed_before_created(crm_dir: Path) -> None:
    set_cells(crm_dir, "opportunities", ["O004"], "closed_at", "2022-12-31")
    issue = load_crm(crm_dir).report.find("closed_before_created", "opportunities")
    assert (issue.column, issue.count, issue.example_ids) == ("closed_at", 1, ("O004",))


def test_assignment_ending_before_it_starts(crm_dir: Path) -> None:
    edit(
        crm_dir,
        "assignments",
        lambda f: f.assign(end_date=f["end_date"].replace("2023-09-30", "2020-01-01")),
    )
    issue = load_crm(crm_dir).report.find("ended_before_started", "assignments", "end_date")
    assert (issue.count, issue.example_ids) == (1, ("A003",))


@pytest.mark.parametrize(
    ("table", "key", "column"), [("accounts", "A004", "longitude"), ("reps", "R2", "home_latitude")]
)
def test_half_coordinates(crm_dir: Path, table: str, key: str, column: str) -> None:
    set_cells(crm_dir, table, [key], column, "")
    issue = load_crm(crm_dir).report.find("half_coordinates", table)
    assert (issue.severity, issue.count, issue.example_ids) == ("quarantine", 1, (key,))
    assert "only one of the two coordinates" in issue.message


def test_unknown_stage_is_quarantined_and_case_is_forgiven(crm_dir: Path) -> None:
    set_cells(crm_dir, "opportunities", ["O001"], "stage", "Won ")
    set_cells(crm_dir, "opportunities", ["O002", "O003"], "stage", "negotiation")
    result = load_crm(crm_dir)
    issue = result.report.find("unknown_stage", "opportunities", "stage")
    assert (issue.count, issue.example_ids) == (2, ("O002", "O003"))
    assert "values: 'negotiation'). Use one of open, won, lost" in issue.message
    assert result.tables.opportunities.set_index("opportunity_id").loc["O001", "stage"] == "won"


def test_unknown_activity_type(crm_dir: Path) -> None:
    set_cells(crm_dir, "activities", ["T005"], "type", "webinar")
    issue = load_crm(crm_dir).report.find("unknown_activity_type", "activities", "type")
    assert (issue.count, issue.example_ids) == (1, ("T005",))
    assert "Use one of call, email, meeting, visit, other" in issue.message


def test_won_without_closed_at(crm_dir: Path) -> None:
    set_cells(crm_dir, "opportunities", ["O001", "O003"], "closed_at", "")
    issue = load_crm(crm_dir).report.find("missing_closed_at", "opportunities", "closed_at")
    assert (issue.count, issue.example_ids) == (2, ("O001", "O003"))


def test_account_without_current_owner_is_a_warning(crm_dir: Path) -> None:
    edit(crm_dir, "assignments", lambda f: f[f["account_id"] != "A005"])
    result = load_crm(crm_dir)
    issue = result.report.find("no_current_owner", "accounts", "account_id")
    assert (issue.severity, issue.count, issue.example_ids) == ("warning", 1, ("A005",))
    assert "A005" in set(result.tables.accounts["account_id"])


def test_several_current_owners_keep_the_latest(crm_dir: Path) -> None:
    edit(
        crm_dir, "assignments", lambda f: f.assign(end_date=f["end_date"].replace("2023-09-30", ""))
    )
    result = load_crm(crm_dir)
    issue = result.report.find("several_current_owners", "assignments", "end_date")
    assert (issue.severity, issue.count, issue.example_ids) == ("quarantine", 1, ("A003",))
    assert result.tables.current_owners()["A003"] == "R3"
    assert result.report.quarantine["assignments"]["rep_id"].tolist() == ["R4"]


def test_inactive_current_owner_is_a_warning(crm_dir: Path) -> None:
    edit(
        crm_dir,
        "assignments",
        lambda f: f.assign(rep_id=f["rep_id"].mask(f["account_id"] == "A001", "R4")),
    )
    issue = load_crm(crm_dir).report.find("inactive_current_owner", "assignments", "rep_id")
    assert (issue.severity, issue.count, issue.example_ids) == ("warning", 1, ("A001",))
    assert "(A001; reps R4)" in issue.message


def test_extra_columns_outside_accounts_are_reported(crm_dir: Path) -> None:
    edit(crm_dir, "reps", lambda f: f.assign(team="west"))
    result = load_crm(crm_dir)
    issue = result.report.find("extra_columns_ignored", "reps")
    assert (issue.severity, issue.count) == ("warning", 1) and "(team)" in issue.message
    assert "team" not in result.tables.reps.columns


def test_each_row_is_counted_once_under_its_first_problem(crm_dir: Path) -> None:
    set_cells(crm_dir, "opportunities", ["O006"], "amount", "-3")
    set_cells(crm_dir, "opportunities", ["O006"], "stage", "maybe")
    report = load_crm(crm_dir).report
    assert report.find("negative_value", "opportunities").count == 1
    assert report.find("unknown_stage", "opportunities") is None
    assert report.quarantined_rows == 1


def test_quarantine_report_files(crm_dir: Path, tmp_path: Path) -> None:
    quarantine = tmp_path / "q"
    quarantine.mkdir()
    (quarantine / "reps.csv").write_text("stale\n")
    set_cells(crm_dir, "opportunities", ["O010", "O020"], "account_id", "A404")
    load_crm(crm_dir, quarantine_dir=quarantine)
    assert sorted(p.name for p in quarantine.iterdir()) == ["opportunities.csv", "summary.txt"]
    rows = pd.read_csv(quarantine / "opportunities.csv", dtype=str)
    assert rows["opportunity_id"].tolist() == ["O010", "O020"]
    assert rows[["row", "check", "reason"]].iloc[0].tolist() == [
        "10",
        "dangling_reference",
        "dangling account_id",
    ]
    summary = (quarantine / "summary.txt").read_text().splitlines()
    assert summary[0] == "quarantined 2 rows: opportunities 2 (dangling account_id 2)"
    assert summary[1].startswith(
        "quarantine: opportunities.account_id: 2 rows pointing to accounts"
    )


def test_values_are_normalised() -> None:
    tables = load_crm(SAMPLE).tables
    accounts = tables.accounts.set_index("account_id")
    assert accounts.loc["A007", "industry"] == "health care"  # "  health  care " in the file
    assert accounts.loc["007", "name"] == "Trey Research"  # numeric-looking ids stay text
    assert tables.reps["active"].tolist() == [True, True, True, False]  # "yes" is true
    assert tables.reps.set_index("rep_id").loc["R4", "industries"] == "manufacturing"
    assert tables.extra_account_columns == ("segment", "web_visits")
    assert str(accounts["web_visits"].dtype) == "float64"


def test_validation_is_pure_on_frames() -> None:
    raw = {
        t: pd.read_csv(SAMPLE / f"{t}.csv", dtype=str)
        for t in ("accounts", "reps", "opportunities", "assignments")
    }
    before = {t: f.copy() for t, f in raw.items()}
    tables, report = validate_crm(raw)
    assert report.issues == () and len(tables.activities) == 0
    for name, frame in raw.items():
        pd.testing.assert_frame_equal(frame, before[name])


def test_cli_validate_clean_sample(crm_dir: Path) -> None:
    result = CliRunner().invoke(app, ["validate", "--data", str(crm_dir)])
    assert result.exit_code == 0, result.output
    assert "no problems found" in result.output and "quarantined 0 rows" in result.output
    assert (crm_dir / "quarantine" / "summary.txt").is_file()


def test_cli_validate_reports_quarantine(crm_dir: Path, tmp_path: Path) -> None:
    set_cells(crm_dir, "opportunities", ["O011"], "amount", "-10")
    args = ["validate", "--data", str(crm_dir), "--quarantine-dir", str(tmp_path / "q")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "negative_value" in result.output
    assert "quarantined 1 row: opportunities 1 (negative amount 1)" in result.output
    assert (tmp_path / "q" / "opportunities.csv").is_file()


def test_cli_validate_fails_on_fatal_problems(crm_dir: Path) -> None:
    (crm_dir / "reps.csv").unlink()
    result = CliRunner().invoke(app, ["validate", "--data", str(crm_dir)])
    assert result.exit_code == 1, result.output
    assert "missing_table" in result.output
    assert "1 fatal problems, the export cannot be used" in result.output


def test_territory_main_exits_1_on_fatal_problems(
    crm_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training.cli import main

    (crm_dir / "reps.csv").unlink()
    monkeypatch.setattr("sys.argv", ["territory", "validate", "--data", str(crm_dir)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 1


def test_every_problem_is_reported_in_one_pass(crm_dir: Path) -> None:
    edit(crm_dir, "accounts", lambda f: pd.concat([f, f[f["account_id"] == "A002"]]))
    set_cells(crm_dir, "opportunities", ["O010"], "amount", "-5")
    set_cells(crm_dir, "opportunities", ["O003"], "account_id", "A999")
    result = load_crm(crm_dir)
    assert result.crm is None
    assert [(i.severity, i.table, i.column, i.check) for i in result.report.issues] == [
        ("fatal", "accounts", "account_id", "duplicate_id"),
        ("quarantine", "opportunities", "amount", "negative_value"),
        ("quarantine", "opportunities", "account_id", "dangling_reference"),
    ]
    assert [i.message for i in result.report.issues] == [
        "accounts.account_id: 2 rows have an id that another row has too (A002). Make each "
        "account_id unique: other tables refer to rows by it, so the export cannot be used until "
        "it is.",
        "opportunities.amount: 1 row with a negative amount (O010; values: '-5'). Use a value >= 0 "
        "or leave it empty; the rows were quarantined.",
        "opportunities.account_id: 1 row pointing to accounts that do not exist (O003; values: "
        "'A999'). Add those accounts to the accounts table (accounts.csv) or fix the ids; the rows "
        "were quarantined.",
    ]
    assert result.report.summary() == (
        "1 fatal problems, the export cannot be used; quarantined 2 rows: opportunities 2 "
        "(dangling account_id 1, negative amount 1)"
    )


def test_missing_table_still_reports_row_problems_elsewhere(crm_dir: Path) -> None:
    (crm_dir / "reps.csv").unlink()
    set_cells(crm_dir, "opportunities", ["O010"], "amount", "-5")
    report = load_crm(crm_dir).report
    assert [(i.severity, i.table, i.check) for i in report.issues] == [
        ("fatal", "reps", "missing_table"),
        ("quarantine", "opportunities", "negative_value"),
    ]


def test_won_opportunities_without_amount_are_named(crm_dir: Path) -> None:
    set_cells(crm_dir, "opportunities", ["O001", "O002", "O004"], "amount", "")
    result = load_crm(crm_dir)
    issue = result.report.find("won_without_amount", "opportunities", "amount")
    assert (issue.severity, issue.count, issue.example_ids) == (
        "warning", 3, ("O001", "O002", "O004"),
    )  # fmt: skip
    won = int((result.tables.opportunities["stage"] == "won").sum())
    assert issue.message == (
        f"opportunities.amount: 3 of {won} won opportunities have an empty amount (O001, O002, "
        "O004). Fill in the won amount: won revenue is what the model learns from, and training "
        "counts an empty amount as no revenue (with every won amount empty it stops with 'no won "
        "revenue')."
    )
    assert result.report.rows_out["opportunities"] == 40  # the contract allows it: rows are kept
