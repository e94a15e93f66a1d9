"""Loading and writing CRM exports: CSV/Parquet directories, SQLite, round trips, errors."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from features.contract import TABLES
from features.loaders import CrmSourceError, is_sql, load_crm, read_raw, write_crm
from features.tables import CrmTables

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "crm_sample"


@pytest.fixture(scope="module")
def crm_sample_tables() -> CrmTables:
    return load_crm(SAMPLE).tables


def assert_same_tables(left: CrmTables, right: CrmTables) -> None:
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(left, name), getattr(right, name), check_exact=True)
    assert left.extra_account_columns == right.extra_account_columns


def test_sample_loads_with_contract_dtypes(crm_sample_tables: CrmTables) -> None:
    accounts, opportunities = crm_sample_tables.accounts, crm_sample_tables.opportunities
    assert (
        list(accounts.columns[: len(TABLES["accounts"].column_names)])
        == TABLES["accounts"].column_names
    )
    assert str(accounts["account_id"].dtype) == "str"
    assert str(accounts["employees"].dtype) == "Int64"
    assert str(opportunities["created_at"].dtype) == "datetime64[ns]"
    assert str(opportunities["amount"].dtype) == "float64"
    assert str(crm_sample_tables.reps["active"].dtype) == "bool"
    assert opportunities["closed_at"].isna().sum() == 6
    assert crm_sample_tables.current_owners().to_dict()["A003"] == "R3"


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_directory_round_trip(crm_sample_tables: CrmTables, tmp_path: Path, fmt: str) -> None:
    write_crm(crm_sample_tables, tmp_path / "export", fmt=fmt)
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == sorted(
        f"{t}.{fmt}" for t in TABLES
    )
    assert_same_tables(load_crm(tmp_path / "export").tables, crm_sample_tables)


def test_sqlite_round_trip(crm_sample_tables: CrmTables, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    write_crm(crm_sample_tables, url)
    assert_same_tables(load_crm(url).tables, crm_sample_tables)
    assert is_sql(tmp_path / "crm.db")  # a SQLite file path works as a source too
    assert_same_tables(load_crm(tmp_path / "crm.db").tables, crm_sample_tables)


def test_sqlite_table_prefix_and_rewrite(crm_sample_tables: CrmTables, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    write_crm(crm_sample_tables, url, table_prefix="crm_")
    write_crm(crm_sample_tables, url, table_prefix="crm_")  # replaces, does not append
    loaded = load_crm(url, table_prefix="crm_")
    assert loaded.report.rows_in["opportunities"] == 40
    assert load_crm(url).report.find("missing_table", "accounts") is not None


def test_typed_parquet_ids_become_text(tmp_path: Path) -> None:
    shutil.copytree(SAMPLE, tmp_path / "crm")
    frame = pd.read_csv(SAMPLE / "reps.csv", dtype=str).assign(
        rep_id=[1, 2, 3, 4], capacity=[40, 30, None, 25]
    )
    frame.to_parquet(tmp_path / "crm" / "reps.parquet")
    (tmp_path / "crm" / "reps.csv").unlink()
    reps = read_raw(tmp_path / "crm")["reps"]
    assert str(reps["rep_id"].dtype) == "int64"
    result = load_crm(tmp_path / "crm")  # R1..R4 no longer exist, ids "1".."4" do
    assert result.report.find("dangling_reference", "assignments", "rep_id").count == 13
    assert result.tables.reps["rep_id"].tolist() == ["1", "2", "3", "4"]


def test_both_csv_and_parquet_is_ambiguous(crm_sample_tables: CrmTables, tmp_path: Path) -> None:
    write_crm(crm_sample_tables, tmp_path, fmt="csv")
    crm_sample_tables.reps.to_parquet(tmp_path / "reps.parquet")
    with pytest.raises(CrmSourceError, match=r"both reps.csv and reps.parquet exist; keep one"):
        load_crm(tmp_path)


def test_missing_directory_says_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(CrmSourceError, match="neither a directory nor a database"):
        load_crm(tmp_path / "nope")


def test_sql_without_tables_is_fatal(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "empty.db").close()
    report = load_crm(f"sqlite:///{tmp_path / 'empty.db'}").report
    assert [i.check for i in report.issues] == ["missing_table"] * 4
    assert {i.table for i in report.issues} == {"accounts", "reps", "opportunities", "assignments"}


def test_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    with pytest.raises(CrmSourceError, match="SQLite file .*none.db does not exist"):
        load_crm(f"sqlite:///{tmp_path / 'none.db'}")
    assert not (tmp_path / "none.db").exists()


def test_unreadable_csv_names_the_file(tmp_path: Path) -> None:
    shutil.copytree(SAMPLE, tmp_path / "crm")
    (tmp_path / "crm" / "reps.csv").write_text('rep_id,name\n"R1,unterminated\n')
    with pytest.raises(CrmSourceError, match=r"reps.csv: cannot be read as csv"):
        load_crm(tmp_path / "crm")


@pytest.mark.parametrize(
    ("delimiter", "encoding", "read_as"),
    [
        (";", "cp1252", "cp1252, semicolon-delimited"),
        ("\t", "utf-8-sig", "UTF-8 with BOM, tab-delimited"),
        (",", "utf-8", "UTF-8, comma-delimited"),
        (";", "utf-16", "UTF-16-LE with BOM, semicolon-delimited"),
    ],
)
def test_delimiter_and_encoding_are_detected(
    tmp_path: Path, delimiter: str, encoding: str, read_as: str
) -> None:
    folder = Path(shutil.copytree(SAMPLE, tmp_path / "crm"))
    for path in folder.glob("*.csv"):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        if path.stem == "accounts":
            frame.loc[frame["account_id"] == "A001", "name"] = "Café Société; Zürich"
        frame.to_csv(path, index=False, sep=delimiter, encoding=encoding)
    raw = read_raw(folder)
    assert raw["accounts"].attrs["read_as"] == read_as
    result = load_crm(folder)
    assert result.report.issues == ()
    assert result.report.rows_out["opportunities"] == 40
    names = result.tables.accounts.set_index("account_id")["name"]
    assert names["A001"] == "Café Société; Zürich"


def test_utf16_without_bom_is_refused_with_the_fix(tmp_path: Path) -> None:
    folder = Path(shutil.copytree(SAMPLE, tmp_path / "crm"))
    text = (folder / "reps.csv").read_text()
    (folder / "reps.csv").write_bytes(text.encode("utf-16-le"))
    with pytest.raises(CrmSourceError) as error:
        load_crm(folder)
    assert str(error.value) == (
        f"{folder / 'reps.csv'}: the file holds NUL bytes, so it is UTF-16 without a byte-order "
        "mark or not text at all. Save it as CSV UTF-8 (Excel: 'CSV UTF-8 (Comma delimited)')."
    )


def test_undetected_delimiter_names_the_delimiter_seen(tmp_path: Path) -> None:
    folder = Path(shutil.copytree(SAMPLE, tmp_path / "crm"))
    frame = pd.read_csv(folder / "reps.csv", dtype=str, keep_default_na=False)
    (folder / "reps.csv").unlink()
    # one glued column, as an export with an unusual delimiter ends up in a database
    glued = pd.DataFrame({":".join(frame.columns): frame.agg(":".join, axis=1)})
    glued.to_parquet(folder / "reps.parquet")
    report = load_crm(folder).report
    issue = report.find("one_column", "reps")
    assert issue.severity == "fatal"
    assert issue.message == (
        "reps: the table was read as one column named 'rep_id:name:hired_at:level:industries:"
        "home_latitude:home_longitude:capacity:active' (as stored), so no contract column was "
        "found. The header is split by ':': save the table with comma, semicolon or tab "
        "delimiters, every row with as many cells as the header."
    )
    assert report.find("missing_column", "reps") is None
