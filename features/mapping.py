"""Declarative import mappings: a small YAML language from a foreign export to contract tables.

A mapping names the source files, then says per contract table which source it comes from and how
each contract column is made: copied, a constant, an id derived from a name, with value maps,
case, date formats, scaling and fallbacks; optionally after a lookup join or grouped to one row per
key. The language is documented in docs/data_contract.md. Parsing and applying are pure: the
loaders read the YAML and the source files. (Over the ~300-line guideline on purpose: the syntax
and its semantics are easier to review side by side than split across modules.)
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import yaml

from features.contract import TABLES
from features.errors import TerritoryError
from features.schemas import as_text

SOURCE_KINDS = ("column", "const", "id_from")
MODIFIERS = ("values", "case", "date_format", "scale", "fill", "agg")
CASES = {"lower": str.lower, "upper": str.upper, "title": str.title}
AGGREGATIONS = ("first", "min", "max", "mode", "count")


class MappingError(TerritoryError):
    """An import mapping is malformed or does not fit the source files it is applied to."""


@dataclass(frozen=True)
class Expr:
    """How one output column is made; ``where`` is its path in the YAML, for error messages."""

    where: str
    kind: str  # column | const | id_from | empty
    arg: Any = None
    values: Mapping[str, str | None] | None = None
    case: str | None = None
    date_format: str | None = None
    scale: float | None = None
    fill: Expr | None = None
    agg: str | None = None


@dataclass(frozen=True)
class Join:
    """A many-to-one lookup: add ``columns`` of ``source`` where ``left`` equals its ``right``."""

    source: str
    left: str
    right: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class TableMapping:
    """How one contract table is built from a source."""

    name: str
    source: str
    columns: Mapping[str, Expr]
    extra: Mapping[str, Expr] = field(default_factory=dict)
    joins: tuple[Join, ...] = ()
    group_by: str | None = None


@dataclass(frozen=True)
class Source:
    """A source file (relative to the export directory) and value fixes applied when it is read."""

    file: str
    values: Mapping[str, Mapping[str, str | None]] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportMapping:
    """A parsed mapping: the sources and one TableMapping per contract table it produces."""

    sources: Mapping[str, Source]
    tables: Mapping[str, TableMapping]
    description: str = ""


def parse_mapping(text: str, origin: str = "mapping") -> ImportMapping:
    """The mapping in a YAML text, checked against the contract; MappingError says what to fix."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MappingError(f"{origin}: not valid YAML ({exc}). Fix the syntax.") from exc
    doc = _dict(doc, origin, ("version", "description", "sources", "tables"))
    if doc.get("version", 1) != 1:
        raise MappingError(
            f"{origin}: version {doc['version']!r} is not supported; use version: 1."
        )
    sources = {
        str(name): _source(spec, f"{origin}: sources.{name}")
        for name, spec in _dict(doc.get("sources"), f"{origin}: sources").items()
    }
    tables = {
        str(name): _table(str(name), spec, f"{origin}: tables.{name}", sources)
        for name, spec in _dict(doc.get("tables"), f"{origin}: tables").items()
    }
    missing = [t.name for t in TABLES.values() if t.required and t.name not in tables]
    if missing:
        raise MappingError(
            f"{origin}: tables {', '.join(missing)} are missing; map every required table."
        )
    return ImportMapping(sources, tables, str(doc.get("description", "")))


def _dict(value: object, where: str, allowed: tuple[str, ...] | None = None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MappingError(f"{where}: expected a mapping of keys to values, got {value!r}.")
    unknown = [k for k in value if allowed is not None and k not in allowed]
    if unknown:
        raise MappingError(
            f"{where}: unknown key {unknown[0]!r}; use one of {', '.join(allowed or ())}."
        )
    return value


def _value_map(value: object, where: str) -> dict[str, str | None]:
    # YAML reads `yes:` or `1:` as bool/int: compare as text, so quote such keys in the file.
    return {str(k): (None if v is None else str(v)) for k, v in _dict(value, where).items()}


def _source(spec: object, where: str) -> Source:
    if isinstance(spec, str):
        return Source(spec)
    spec = _dict(spec, where, ("file", "values"))
    if "file" not in spec:
        raise MappingError(f"{where}: `file:` is missing; name the source file, e.g. accounts.csv.")
    values = {
        str(c): _value_map(m, f"{where}.values.{c}") for c, m in spec.get("values", {}).items()
    }
    return Source(str(spec["file"]), values)


def _table(name: str, spec: object, where: str, sources: Mapping[str, Source]) -> TableMapping:
    if name not in TABLES:
        raise MappingError(
            f"{where}: {name!r} is not a contract table; use one of {', '.join(TABLES)}."
        )
    spec = _dict(spec, where, ("from", "join", "group_by", "columns", "extra"))
    source = spec.get("from")
    if source not in sources:
        raise MappingError(
            f"{where}.from: {source!r} is not a declared source ({', '.join(sources)})."
        )
    grouped = spec.get("group_by") is not None
    contract = TABLES[name]
    columns = {
        str(c): _expr(e, f"{where}.columns.{c}", grouped)
        for c, e in _dict(spec.get("columns"), f"{where}.columns").items()
    }
    unknown = [c for c in columns if c not in contract.column_names]
    missing = [c for c in contract.required_columns if c not in columns]
    if unknown or missing:
        problem = (
            f"{unknown[0]!r} is not a {name} column" if unknown else f"{missing[0]!r} is required"
        )
        raise MappingError(
            f"{where}.columns: {problem}. Map the contract columns "
            f"{', '.join(contract.column_names)} "
            "(required ones at least; `column: null` leaves one empty)."
        )
    extra = {
        str(c): _expr(e, f"{where}.extra.{c}", grouped)
        for c, e in _dict(spec.get("extra", {}), f"{where}.extra").items()
    }
    if extra and name != "accounts" or set(extra) & set(contract.column_names):
        raise MappingError(
            f"{where}.extra: only accounts keep extra columns, named unlike contract ones."
        )
    joins = tuple(
        _join(j, f"{where}.join[{i}]", sources) for i, j in enumerate(spec.get("join", []))
    )
    return TableMapping(name, source, columns, extra, joins, spec.get("group_by"))


def _join(spec: object, where: str, sources: Mapping[str, Source]) -> Join:
    spec = _dict(spec, where, ("source", "key", "columns"))
    if spec.get("source") not in sources:
        raise MappingError(f"{where}.source: {spec.get('source')!r} is not a declared source.")
    key = spec.get("key")
    left, right = (key, key) if isinstance(key, str) else (None, None)
    if isinstance(key, dict):
        left, right = key.get("left"), key.get("right")
    columns = spec.get("columns")
    if not (left and right and isinstance(columns, list) and columns):
        raise MappingError(
            f"{where}: give `key: <column>` (or {{left: a, right: b}}) and `columns: [..]`."
        )
    return Join(str(spec["source"]), str(left), str(right), tuple(map(str, columns)))


def _expr(spec: object, where: str, grouped: bool) -> Expr:
    if spec is None:
        return Expr(where, "empty")
    if isinstance(spec, str):
        return Expr(where, "column", spec)
    spec = _dict(spec, where, SOURCE_KINDS + MODIFIERS)
    kinds = [k for k in SOURCE_KINDS if k in spec]
    if len(kinds) != 1:
        raise MappingError(
            f"{where}: give exactly one of {', '.join(SOURCE_KINDS)} (found {kinds or 'none'})."
        )
    case, agg = spec.get("case"), spec.get("agg")
    if case is not None and case not in CASES:
        raise MappingError(f"{where}.case: {case!r} is not one of {', '.join(CASES)}.")
    if agg is not None and (not grouped or agg not in AGGREGATIONS):
        raise MappingError(
            f"{where}.agg: {agg!r} needs `group_by` on the table and one of "
            f"{', '.join(AGGREGATIONS)}."
        )
    scale = spec.get("scale")
    if scale is not None and not isinstance(scale, int | float):
        raise MappingError(f"{where}.scale: {scale!r} is not a number.")
    values = _value_map(spec["values"], f"{where}.values") if "values" in spec else None
    fill = _expr(spec["fill"], f"{where}.fill", grouped) if "fill" in spec else None
    return Expr(
        where, kinds[0], spec[kinds[0]], values, case, spec.get("date_format"), scale, fill, agg
    )


def apply_mapping(
    mapping: ImportMapping, sources: Mapping[str, pd.DataFrame]
) -> dict[str, pd.DataFrame]:
    """Contract tables (as raw text/number frames, not yet validated) from the source frames.

    Args:
        sources: the source files as read, by source name.
    """
    fixed = {name: _fix_values(sources[name], spec, name) for name, spec in mapping.sources.items()}
    return {
        name: _build_table(table, fixed, mapping.sources) for name, table in mapping.tables.items()
    }


def _column(frame: pd.DataFrame, name: str, where: str, file: str) -> pd.Series:
    if name not in frame.columns:
        raise MappingError(
            f"{where}: column {name!r} is not in {file} "
            f"(columns: {', '.join(map(str, frame.columns))}). "
            "Fix the column name in the mapping."
        )
    return as_text(frame[name])


def _fix_values(frame: pd.DataFrame, spec: Source, name: str) -> pd.DataFrame:
    fixed = frame.reset_index(drop=True).copy()
    for column, values in spec.values.items():
        text = _column(fixed, column, f"sources.{name}.values.{column}", spec.file)
        fixed[column] = _replace(text, values)
    return fixed


def _replace(text: pd.Series, values: Mapping[str, str | None]) -> pd.Series:
    return text.where(~text.isin(list(values)), text.map(values)).astype(text.dtype)


def _build_table(
    table: TableMapping, sources: Mapping[str, pd.DataFrame], files: Mapping[str, Source]
) -> pd.DataFrame:
    frame, file = sources[table.source], files[table.source].file
    for join in table.joins:
        frame = _lookup(frame, sources[join.source], join, file, files[join.source].file)
    exprs = {**table.columns, **table.extra}
    columns = {name: _evaluate(expr, frame, file) for name, expr in exprs.items()}
    result = pd.DataFrame(columns, index=frame.index)
    if table.group_by is not None:
        key = _column(frame, table.group_by, f"tables.{table.name}.group_by", file)
        result = _group(result, key, {name: expr.agg or "first" for name, expr in exprs.items()})
    contract = [c for c in TABLES[table.name].column_names]
    for name in contract:
        if name not in result.columns:
            result[name] = pd.Series(pd.NA, index=result.index, dtype=object)
    return result[contract + list(table.extra)].reset_index(drop=True)


def _lookup(
    frame: pd.DataFrame, other: pd.DataFrame, join: Join, file: str, other_file: str
) -> pd.DataFrame:
    where = f"join {join.source} on {join.left}={join.right}"
    right = pd.DataFrame(
        {c: _column(other, c, where, other_file) for c in (join.right, *join.columns)}
    )
    clash = [c for c in join.columns if c in frame.columns]
    keys = right[join.right].dropna()
    repeated = keys[keys.duplicated()]
    if clash or len(repeated):
        problem = (
            f"columns {clash} already exist in {file}"
            if clash
            else f"{other_file} has several rows for {repeated.iloc[0]!r}"
        )
        raise MappingError(f"{where}: {problem}; a lookup must add new columns from unique keys.")
    left = _column(frame, join.left, where, file).rename("__key")
    right = right.rename(columns={join.right: "__key"})
    merged = frame.assign(__key=left).merge(right, on="__key", how="left", validate="many_to_one")
    return merged.drop(columns="__key").set_axis(frame.index)


def _evaluate(expr: Expr, frame: pd.DataFrame, file: str) -> pd.Series:
    if expr.kind == "empty":
        return pd.Series(pd.NA, index=frame.index, dtype=object)
    if expr.kind == "const":
        return pd.Series([expr.arg] * len(frame), index=frame.index, dtype=object)
    values: pd.Series = _column(frame, str(expr.arg), expr.where, file)
    if expr.kind == "id_from":
        values = slug(values)
    if expr.values is not None:
        values = _replace(values, expr.values)
    if expr.case is not None:
        values = values.map(CASES[expr.case], na_action="ignore")
    if expr.date_format is not None:
        dates = pd.to_datetime(values, format=expr.date_format, errors="coerce")
        values = dates.dt.strftime("%Y-%m-%d").where(
            dates.notna(), values
        )  # bad ones stay, to be reported
    if expr.scale is not None:
        numbers = pd.to_numeric(values, errors="coerce")
        values = (numbers * expr.scale).round(6).astype(object).where(numbers.notna(), values)
    if expr.fill is not None:
        values = values.astype(object).where(values.notna(), _evaluate(expr.fill, frame, file))
    return values


def slug(names: pd.Series) -> pd.Series:
    """Ids from names: ASCII, lower case, other runs as one dash ("Acme Corp." -> acme-corp)."""
    ascii_names = names.map(
        lambda s: unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode(),
        na_action="ignore",
    ).astype(as_text(names).dtype)
    slugs = ascii_names.str.lower().str.replace(r"[^0-9a-z]+", "-", regex=True).str.strip("-")
    return slugs.mask(slugs == "")


def _group(result: pd.DataFrame, key: pd.Series, aggs: Mapping[str, str]) -> pd.DataFrame:
    """One row per non-empty key; rows without a key do not form a group."""
    rows, keys = result[key.notna()], key[key.notna()]
    grouped = rows.groupby(keys, sort=True)
    columns = {}
    for name, agg in aggs.items():
        if agg == "mode":
            columns[name] = _mode(rows[name], keys)
        elif agg == "count":
            columns[name] = grouped[name].count()
        else:
            columns[name] = getattr(grouped[name], agg)()
    return pd.DataFrame(columns)


def _mode(values: pd.Series, keys: pd.Series) -> pd.Series:
    """The most frequent value per key; ties go to the smallest value, so results are stable."""
    pairs = pd.DataFrame({"key": keys, "value": values}).dropna()
    counts = pairs.groupby(["key", "value"]).size().rename("n").reset_index()
    counts = counts.sort_values(["key", "n", "value"], ascending=[True, False, True], kind="stable")
    return counts.drop_duplicates("key").set_index("key")["value"]
