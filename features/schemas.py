"""Typed contract tables: coercion to the contract kinds and the pandera schemas that check rows.

Everything here is derived from features.contract; nothing repeats its column lists. Coercion never
raises on bad values: it returns the typed column plus a mask of the cells that did not parse, so
validation can quarantine those rows and say which ones they were.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc

from features.contract import ACTIVITY_TYPES, OPPORTUNITY_STAGES, TABLES, ColumnKind

TEXT = pd.StringDtype(na_value=np.nan)
KIND_DTYPES: dict[ColumnKind, object] = {
    "id": TEXT,
    "str": TEXT,
    "int": "Int64",
    "float": "float64",
    "date": "datetime64[ns]",
    "bool": "boolean",
}
PLAIN_DAY = r"^(1[7-9]|2[01])\d\d-\d\d-\d\d$"
TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0"})

NON_NEGATIVE: dict[str, tuple[str, ...]] = {
    "accounts": ("employees", "annual_revenue"),
    "reps": ("capacity",),
    "opportunities": ("amount",),
}
ALLOWED_VALUES: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    ("opportunities", "stage"): ("unknown_stage", OPPORTUNITY_STAGES),
    ("activities", "type"): ("unknown_activity_type", ACTIVITY_TYPES),
}
LOWERCASE_COLUMNS = frozenset({("opportunities", "stage"), ("activities", "type")})
INDUSTRY_COLUMNS = frozenset({("accounts", "industry"), ("reps", "industries")})
BOOL_DEFAULTS: dict[tuple[str, str], bool] = {("reps", "active"): True}


@dataclass(frozen=True)
class FrameRule:
    """A row check that needs several columns; ``column`` is the one the report names."""

    check: str
    column: str
    ok: Callable[[pd.DataFrame], pd.Series]


def _both_or_neither(a: str, b: str) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda df: df[a].isna() == df[b].isna()


def _not_before(later: str, earlier: str) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda df: df[later].isna() | df[earlier].isna() | (df[later] >= df[earlier])


def _closed_when_decided(df: pd.DataFrame) -> pd.Series:
    return ~df["stage"].isin(["won", "lost"]) | df["closed_at"].notna()


FRAME_RULES: dict[str, tuple[FrameRule, ...]] = {
    "accounts": (
        FrameRule("half_coordinates", "latitude", _both_or_neither("latitude", "longitude")),
    ),
    "reps": (
        FrameRule(
            "half_coordinates", "home_latitude", _both_or_neither("home_latitude", "home_longitude")
        ),
    ),
    "opportunities": (
        FrameRule("missing_closed_at", "closed_at", _closed_when_decided),
        FrameRule("closed_before_created", "closed_at", _not_before("closed_at", "created_at")),
    ),
    "assignments": (
        FrameRule("ended_before_started", "end_date", _not_before("end_date", "start_date")),
    ),
}


def as_text(values: pd.Series) -> pd.Series:
    """Values as stripped text; empty strings become missing, whole floats lose their ``.0``.

    Text that needs no change is returned as is, sharing the input's buffers: validation keeps
    the raw and the typed frame side by side, and a stripped copy of every clean id column was
    most of the memory `territory validate` needed beyond the raw export (GBs at 1M accounts).
    """
    if isinstance(values.dtype, pd.StringDtype):
        text = values.astype(TEXT)
    else:
        text = values.map(_scalar_text, na_action="ignore").astype(TEXT)
    text = _unless_same(text, text.str.strip())
    empty = text == ""
    return text.mask(empty) if empty.any() else text


def _unless_same(text: pd.Series, changed: pd.Series) -> pd.Series:
    """``text`` itself when a string transform (strip, lower) changed none of its values."""
    same = changed.eq(text) | changed.isna()
    return text if same.all() else changed


def _scalar_text(value: object) -> str:
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)


def normalise_industry(text: pd.Series) -> pd.Series:
    """Industry names in their stable form: lower case, single spaces, ``|`` lists kept in order."""
    parts = text.str.lower().str.split("|")
    joined = parts.map(
        lambda items: "|".join(" ".join(i.split()) for i in items if i.strip()), na_action="ignore"
    ).astype(TEXT)
    return joined.mask(joined == "")


def _parse_float(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        parsed = values.astype("float64")
        return parsed, pd.Series(False, index=values.index)
    text = as_text(values)
    parsed = _arrow_floats(text)
    if parsed is None:
        parsed = pd.to_numeric(text, errors="coerce").astype("float64")
    bad = text.notna() & (parsed.isna() | ~np.isfinite(parsed.fillna(0.0)))
    return parsed.mask(bad), bad


def _arrow_floats(text: pd.Series) -> pd.Series | None:
    """Arrow text that all reads as numbers, as float64 by Arrow's cast; else None.

    pd.to_numeric made a Python object per cell first (+243 MiB for 100k accounts' 3.2M deal
    amounts, 28 MiB this way). Anything the cast refuses, and "-0" (which to_numeric reads as
    the integer 0, Arrow as -0.0), goes the pandas way, so the values are the same.
    """
    if not (isinstance(text.dtype, pd.StringDtype) and text.dtype.storage == "pyarrow"):
        return None
    try:
        numbers = pc.cast(text.array.__arrow_array__(), pyarrow.float64())
    except pyarrow.ArrowInvalid:
        return None
    floats = numbers.to_numpy(zero_copy_only=False)
    if (np.signbit(floats) & (floats == 0)).any():
        return None
    return pd.Series(floats, index=text.index, name=text.name)


def _parse_int(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    parsed, bad = _parse_float(values)
    bad = bad | (parsed.notna() & (parsed % 1 != 0))
    return parsed.mask(bad).round().astype("Int64"), bad


def _parse_date(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = pd.to_datetime(values, utc=True)
        bad = pd.Series(False, index=values.index)
    else:
        text = as_text(values)
        days = _plain_days(text)
        if days is not None:
            return days, text.notna() & days.isna()
        parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
        # pandas only knows years 1677-2262 at ns precision; anything outside is a typo.
        in_range = parsed.between(
            pd.Timestamp("1678-01-01", tz="UTC"), pd.Timestamp("2262-01-01", tz="UTC")
        )
        bad = text.notna() & ~in_range
        parsed = parsed.where(~bad)
    days = parsed.dt.tz_convert(None).dt.normalize()
    return days.astype("datetime64[ns]"), bad


def _plain_days(text: pd.Series) -> pd.Series | None:
    """Text that is all plain YYYY-MM-DD dates (years 1700-2199) parsed by Arrow; else None.

    What exports and the sample world write. pandas' ISO 8601 parser made a Python string per
    cell first (~60 bytes a row: 2.5 GB for 1M accounts' 42M activities); the result is the
    same: an impossible day (2023-02-30) is missing, so it is reported as not a date.
    """
    if not (isinstance(text.dtype, pd.StringDtype) and text.dtype.storage == "pyarrow"):
        return None
    arrow = text.array.__arrow_array__()
    if not pc.all(pc.match_substring_regex(arrow, PLAIN_DAY)).as_py():  # missing ones skipped
        return None
    days = pc.strptime(arrow, format="%Y-%m-%d", unit="ns", error_is_null=True)
    # strptime rolls an impossible day over (02-30 -> 03-02), so its day of the month differs
    # from the text's (compared as numbers: printing the dates back took 2/3 of loading 1M
    # accounts' export)
    written = pc.cast(pc.utf8_slice_codeunits(arrow, 8, 10), pyarrow.int64())
    real = pc.equal(pc.day(days), written)
    days = pc.if_else(real, days, None)
    return pd.Series(days.to_numpy(zero_copy_only=False), index=text.index, name=text.name)


def _parse_bool(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    text = as_text(values).str.lower()
    parsed = pd.Series(pd.NA, index=values.index, dtype="boolean")
    parsed[text.isin(TRUE_WORDS)] = True
    parsed[text.isin(FALSE_WORDS)] = False
    return parsed, text.notna() & parsed.isna()


PARSERS: dict[ColumnKind, Callable[[pd.Series], tuple[pd.Series, pd.Series]]] = {
    "int": _parse_int,
    "float": _parse_float,
    "date": _parse_date,
    "bool": _parse_bool,
}


def coerce_column(
    table: str, column: str, kind: ColumnKind, values: pd.Series
) -> tuple[pd.Series, pd.Series]:
    """One column in its contract dtype and the mask of cells that did not parse.

    Text is stripped (empty = missing); industries are normalised, stages and activity types are
    lower-cased; a bool column with a contract default gets it where empty.
    """
    if kind in PARSERS:
        parsed, bad = PARSERS[kind](values)
    else:
        parsed, bad = as_text(values), pd.Series(False, index=values.index)
    if (table, column) in INDUSTRY_COLUMNS:
        parsed = normalise_industry(parsed)
    if (table, column) in LOWERCASE_COLUMNS:
        parsed = _unless_same(parsed, parsed.str.lower())
    if (table, column) in BOOL_DEFAULTS:
        parsed = parsed.fillna(BOOL_DEFAULTS[(table, column)]).astype(bool)
    return parsed, bad


def coerce_extra(values: pd.Series) -> pd.Series:
    """An extra account column: numbers if every non-empty value is one, else stripped text."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.astype("float64")
    text = as_text(values)
    numbers = pd.to_numeric(text, errors="coerce")
    if text.notna().any() and numbers[text.notna()].notna().all():
        return numbers.astype("float64")
    return text


def column_dtype(table: str, column: str, kind: ColumnKind) -> object:
    """The dtype a coerced contract column has."""
    return "bool" if (table, column) in BOOL_DEFAULTS else KIND_DTYPES[kind]


def _column_checks(table: str, column: str) -> list[pa.Check]:
    checks = []
    if column in NON_NEGATIVE.get(table, ()):
        checks.append(pa.Check(lambda s: s.isna() | (s >= 0), name="negative_value"))
    if (table, column) in ALLOWED_VALUES:
        check, allowed = ALLOWED_VALUES[(table, column)]
        checks.append(pa.Check(lambda s, a=allowed: s.isna() | s.isin(a), name=check))
    return checks


@cache
def contract_schema(name: str) -> pa.DataFrameSchema:
    """The pandera schema of one coerced contract table (extra columns allowed)."""
    table = TABLES[name]
    columns = {
        c.name: pa.Column(
            column_dtype(name, c.name, c.kind),
            checks=_column_checks(name, c.name),
            nullable=c.nullable,
        )
        for c in table.columns
    }
    checks = [pa.Check(rule.ok, name=rule.check) for rule in FRAME_RULES.get(name, ())]
    return pa.DataFrameSchema(columns, checks=checks, strict=False, name=name)
