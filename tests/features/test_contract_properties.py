"""Property-based tests (hypothesis) of the CRM data contract: generated exports, valid and
broken, through validation. Valid ones pass and round-trip through files unchanged; a broken one
gets a named fatal issue or quarantined rows (table, column, ids, values, the fix), never an
unhandled exception, and no row is dropped silently (rows in = rows kept + rows quarantined)."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from features.contract import TABLES
from features.errors import TerritoryError
from features.loaders import load_crm, write_crm, write_frames
from features.validation import validate_crm

PROFILE = settings(
    max_examples=int(os.environ.get("TERRITORY_PROPERTY_EXAMPLES", "20")),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
INDUSTRIES = ["manufacturing", "healthcare", "retail", "technology"]
LEVELS = ["SDR", "AE", "Senior AE", "Principal"]
day = st.dates(
    min_value=pd.Timestamp("2019-01-01").date(), max_value=pd.Timestamp("2026-06-30").date()
)


@st.composite
def valid_exports(draw) -> dict[str, pd.DataFrame]:
    """A contract-valid export as read from CSV: every cell text, empty = missing."""
    n_accounts, n_reps = draw(st.integers(1, 8)), draw(st.integers(1, 4))
    accounts = pd.DataFrame(
        {
            "account_id": [f"A{i:03d}" for i in range(n_accounts)],
            "name": [f"Account {i}" for i in range(n_accounts)],
            "industry": draw(
                st.lists(st.sampled_from(INDUSTRIES), min_size=n_accounts, max_size=n_accounts)
            ),
            "employees": [str(draw(st.integers(0, 50_000))) for _ in range(n_accounts)],
            "annual_revenue": [f"{draw(st.floats(0, 1e9)):.2f}" for _ in range(n_accounts)],
            "latitude": [f"{draw(st.floats(-60, 60)):.4f}" for _ in range(n_accounts)],
            "longitude": [f"{draw(st.floats(-170, 170)):.4f}" for _ in range(n_accounts)],
            "city": "Springfield",
            "region": draw(st.sampled_from(["West", "East"])),
            "country": "United States",
            "created_at": [draw(day).isoformat() for _ in range(n_accounts)],
        }
    )
    reps = pd.DataFrame(
        {
            "rep_id": [f"R{i:02d}" for i in range(n_reps)],
            "name": [f"Rep {i}" for i in range(n_reps)],
            "hired_at": [draw(day).isoformat() for _ in range(n_reps)],
            "level": draw(st.lists(st.sampled_from(LEVELS), min_size=n_reps, max_size=n_reps)),
            "industries": "retail|technology",
            "home_latitude": "40.0",
            "home_longitude": "-75.0",
            "capacity": [str(draw(st.integers(1, 100))) for _ in range(n_reps)],
            "active": "true",
        }
    )
    rep_ids, opportunities = list(reps["rep_id"]), []
    for i in range(draw(st.integers(0, 12))):
        opened = draw(day)
        stage = draw(st.sampled_from(["open", "won", "lost"]))
        closed = (
            ""
            if stage == "open"
            else (opened + pd.Timedelta(days=draw(st.integers(0, 200)))).isoformat()
        )
        opportunities.append(
            {
                "opportunity_id": f"O{i:04d}",
                "account_id": draw(st.sampled_from(list(accounts["account_id"]))),
                "rep_id": draw(st.sampled_from(["", *rep_ids])),
                "created_at": opened.isoformat(),
                "closed_at": closed,
                "stage": stage,
                "amount": f"{draw(st.floats(0, 1e6)):.2f}",
            }
        )
    columns = TABLES["opportunities"].column_names
    opportunities = pd.DataFrame(opportunities, columns=columns)
    assignments = pd.DataFrame(
        {
            "account_id": accounts["account_id"],
            "rep_id": [draw(st.sampled_from(rep_ids)) for _ in range(n_accounts)],
            "start_date": accounts["created_at"],
            "end_date": "",
        }
    )
    frames = {"accounts": accounts, "reps": reps, "opportunities": opportunities,
              "assignments": assignments}  # fmt: skip
    return {name: as_read(frame) for name, frame in frames.items()}


def as_read(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells with empty strings as missing, as loaders.read_csv reads a CSV file."""
    text = frame.to_csv(index=False)
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""])


def cells(raw: dict[str, pd.DataFrame]):
    """(table, column) pairs of an export that have at least one row."""
    return [(t, c) for t, f in raw.items() if len(f) for c in f.columns]


@st.composite
def broken_exports(draw) -> dict[str, pd.DataFrame]:
    """A valid export with 1-4 breakages: odd text in any cell, a blanked cell, a duplicated
    row, a dropped column, an id that references nothing."""
    raw = {name: frame.copy() for name, frame in draw(valid_exports()).items()}
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["text", "blank", "duplicate", "drop", "dangling"]))
        table, column = draw(st.sampled_from(cells(raw)))
        frame = raw[table]
        if column not in frame.columns or not len(frame):
            continue
        row = draw(st.integers(0, len(frame) - 1))
        if kind == "text":
            frame.loc[frame.index[row], column] = draw(st.text(max_size=12))
        elif kind == "blank":
            frame.loc[frame.index[row], column] = None
        elif kind == "duplicate":
            raw[table] = pd.concat([frame, frame.iloc[[row]]], ignore_index=True)
        elif kind == "drop":
            raw[table] = frame.drop(columns=[column])
        elif column in {"account_id", "rep_id"}:
            frame.loc[frame.index[row], column] = "NOPE-404"
    return raw


def assert_accounted_for(raw: dict[str, pd.DataFrame]) -> None:
    """Validation's promises on any export: named problems, nothing dropped silently."""
    tables, report = validate_crm(raw)
    for issue in report.issues:
        assert issue.table in TABLES and issue.table in issue.message, issue
        assert issue.message.strip().endswith("."), issue.message
    if report.fatal:
        assert tables is None
        fatal = [i for i in report.issues if i.severity == "fatal"]
        assert all(i.table in i.message for i in fatal), fatal
        return
    assert tables is not None
    for name, rows_in in report.rows_in.items():
        quarantined = report.quarantine.get(name, pd.DataFrame())
        assert rows_in == report.rows_out[name] + len(quarantined), name
        assert len(getattr(tables, name)) == report.rows_out[name]
        if len(quarantined):
            assert quarantined["reason"].str.len().gt(0).all()
            assert set(quarantined["row"]) <= set(range(1, rows_in + 1))
            issues = [i for i in report.issues if i.severity == "quarantine" and i.table == name]
            assert sum(i.count for i in issues) == len(quarantined)  # each row once, named
            for issue in issues:
                assert f"{name}.{issue.column}:" in issue.message
                assert "quarantined" in issue.message and issue.example_ids


@PROFILE
@given(raw=valid_exports())
def test_a_valid_export_passes_and_round_trips_through_files(raw):
    tables, report = validate_crm(raw)
    assert tables is not None and not report.fatal, [i.message for i in report.issues]
    assert report.quarantined_rows == 0
    assert report.rows_out == report.rows_in | {"activities": 0}
    with tempfile.TemporaryDirectory() as folder:
        write_crm(tables, folder)
        again = load_crm(folder).tables
    for name in TABLES:
        pd.testing.assert_frame_equal(
            getattr(again, name), getattr(tables, name), check_dtype=False
        )


@PROFILE
@given(raw=broken_exports())
def test_a_broken_export_is_named_and_nothing_is_dropped_silently(raw):
    assert_accounted_for(raw)


@PROFILE
@given(raw=broken_exports())
def test_a_broken_export_read_from_files_fails_only_with_a_named_error(raw):
    with tempfile.TemporaryDirectory() as folder:
        try:
            write_frames(raw, folder)
            result = load_crm(folder, quarantine_dir=Path(folder) / "quarantine")
        except TerritoryError as exc:  # a file the reader refuses: named, with the fix
            assert str(Path(folder)) in str(exc) or "accounts" in str(exc), exc
            return
        report = result.report
        if not report.fatal:
            for name, rows_in in report.rows_in.items():
                kept = report.rows_out[name]
                quarantined = Path(folder) / "quarantine" / f"{name}.csv"
                written = len(pd.read_csv(quarantined, dtype=str)) if quarantined.exists() else 0
                assert rows_in == kept + written, name


plain_day_text = st.builds(
    lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d}",
    st.integers(1700, 2199),
    st.integers(1, 12),
    st.integers(1, 31),  # 31 in a 30-day month, Feb 29-31: impossible days
)


@PROFILE
@given(st.lists(st.one_of(plain_day_text, st.none()), min_size=1, max_size=40))
@example(["2023-02-30", "2024-02-29", "2023-04-31", None, "1900-02-29", "2000-02-29"])
def test_plain_dates_parse_as_pandas_parses_them(texts):
    """The Arrow path for plain YYYY-MM-DD text (what loads a 1M-account export in seconds)
    gives pandas' answer: the same days, and an impossible day (2023-02-30) missing and bad."""
    from features.schemas import PARSERS

    text = pd.Series(texts, dtype="string[pyarrow]")
    days, bad = PARSERS["date"](text)
    expected = pd.to_datetime(text.astype(object), format="%Y-%m-%d", errors="coerce")
    assert days.astype("datetime64[ns]").equals(expected.astype("datetime64[ns]"))
    assert bad.tolist() == (text.notna() & expected.isna()).tolist()
