"""Declarative import mappings applied: source frames in, contract tables (raw, unvalidated) out.

A mapping (parsed and shape-checked by features.mapping_spec) says per contract table which
sources its rows come from (several stack, `union`), which lookups add columns (composite,
normalised or grouped keys), which rows are kept (`filter`), how each contract column is made
(copied, constant, derived id, concatenation, conditional, with value maps, case, date formats,
scaling and fallbacks) and whether rows are grouped to one per key (`agg`: first, min, max, mode,
count, sum, mean). Applying is pure: features.loaders reads the YAML and the files. The language
is documented in docs/data_contract.md.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping

import pandas as pd

from features.contract import TABLES
from features.mapping_spec import (
    Condition,
    Expr,
    ImportMapping,
    Join,
    MappingError,
    Part,
    Source,
    TableMapping,
    parse_mapping,
)
from features.schemas import TEXT, as_text

__all__ = ["ImportMapping", "MappingError", "apply_mapping", "parse_mapping", "slug"]

CASE_FUNCTIONS = {"lower": str.lower, "upper": str.upper, "title": str.title}


def apply_mapping(
    mapping: ImportMapping, sources: Mapping[str, pd.DataFrame]
) -> dict[str, pd.DataFrame]:
    """Contract tables (as raw text/number frames, not yet validated) from the source frames.

    Args:
        sources: the source files as read, by source name.
    """
    fixed = {name: _fix_values(sources[name], spec, name) for name, spec in mapping.sources.items()}
    files = {name: spec.file for name, spec in mapping.sources.items()}
    return {name: _build_table(table, fixed, files) for name, table in mapping.tables.items()}


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
    table: TableMapping, sources: Mapping[str, pd.DataFrame], files: Mapping[str, str]
) -> pd.DataFrame:
    built = [_build_part(part, sources, files) for part in table.parts]
    extras = list(dict.fromkeys(c for part in table.parts for c in part.extra))
    result = pd.concat(built, ignore_index=True) if len(built) > 1 else built[0]
    for name in TABLES[table.name].column_names + extras:
        if name not in result.columns:
            result[name] = pd.Series(pd.NA, index=result.index, dtype=object)
    return result[TABLES[table.name].column_names + extras].reset_index(drop=True)


def _build_part(
    part: Part, sources: Mapping[str, pd.DataFrame], files: Mapping[str, str]
) -> pd.DataFrame:
    frame, file = sources[part.source], files[part.source]
    for join in part.joins:
        frame = _lookup(frame, sources[join.source], join, file, files[join.source])
    if part.filter:
        frame = frame[_holds(part.filter, frame, file)]
    exprs = {**part.columns, **part.extra}
    result = pd.DataFrame(
        {name: _evaluate(expr, frame, file) for name, expr in exprs.items()}, index=frame.index
    )
    if part.group_by:
        keys = [_column(frame, c, f"{part.where}.group_by", file) for c in part.group_by]
        aggs = {name: expr.agg or "first" for name, expr in exprs.items()}
        result = _group(result, keys, aggs)
    return result.reset_index(drop=True)


def normalise_key(text: pd.Series) -> pd.Series:
    """Keys compared loosely: no accents, case-folded, single spaces ("São Paulo" = "sao paulo")."""
    plain = text.map(
        lambda s: " ".join(
            unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode().casefold().split()
        ),
        na_action="ignore",
    ).astype(TEXT)
    return plain.mask(plain == "")


def _keys(frame: pd.DataFrame, names: tuple[str, ...], join: Join, file: str) -> pd.DataFrame:
    keys = pd.DataFrame(
        {f"__key{i}": _column(frame, c, join.where, file) for i, c in enumerate(names)},
        index=frame.index,
    )
    return keys.apply(normalise_key) if join.normalise else keys


def _lookup(
    frame: pd.DataFrame, other: pd.DataFrame, join: Join, file: str, other_file: str
) -> pd.DataFrame:
    clash = [c for c in join.columns if c in frame.columns]
    if clash:
        raise MappingError(
            f"{join.where}: columns {clash} already exist in {file}; name the looked-up columns "
            "differently (columns: {new_name: {column: ...}})."
        )
    right_keys = _keys(other, join.right, join, other_file)
    names = list(right_keys.columns)
    values = {
        new: _column(other, src, join.where, other_file) for new, (src, _) in join.columns.items()
    }
    right = pd.concat([right_keys, pd.DataFrame(values, index=other.index)], axis=1)
    right = right.dropna(subset=names)
    if join.grouped:
        aggs = {new: agg or "first" for new, (_, agg) in join.columns.items()}
        right = _group(right[list(values)], [right[n] for n in names], aggs)
        right = right.rename_axis(names).reset_index()
    else:
        repeated = right[right.duplicated(subset=names)]
        if len(repeated):
            key = tuple(repeated[names].iloc[0])
            shown = key[0] if len(key) == 1 else key
            raise MappingError(
                f"{join.where}: {other_file} has several rows for {shown!r}; a lookup must add "
                "new columns from unique keys (or give an `agg` per column)."
            )
    left = _keys(frame, join.left, join, file)
    merged = pd.concat([frame, left], axis=1).merge(right, on=names, how="left")
    return merged.drop(columns=names).set_axis(frame.index)


def _holds(conditions: tuple[Condition, ...], frame: pd.DataFrame, file: str) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    for cond in conditions:
        text = _column(frame, cond.column, cond.where, file)
        if cond.op == "empty":
            mask &= text.isna() if cond.arg else text.notna()
        elif cond.op == "equals":
            mask &= text.eq(cond.arg).fillna(False).astype(bool)
        else:
            inside = text.isin(list(cond.arg)).astype(bool)
            mask &= inside if cond.op == "in" else ~inside
    return mask


def _evaluate(expr: Expr, frame: pd.DataFrame, file: str) -> pd.Series:
    if expr.kind == "empty":
        return pd.Series(pd.NA, index=frame.index, dtype=object)
    if expr.kind == "const":
        return pd.Series([expr.arg] * len(frame), index=frame.index, dtype=object)
    values = _source_values(expr, frame, file)
    if expr.values is not None:
        values = _replace(values, expr.values)
    if expr.case is not None:
        values = values.map(CASE_FUNCTIONS[expr.case], na_action="ignore")
    if expr.date_format is not None:
        dates = pd.to_datetime(values, format=expr.date_format, errors="coerce")
        # unparseable values stay, for validation to report
        values = dates.dt.strftime("%Y-%m-%d").where(dates.notna(), values)
    if expr.scale is not None:
        numbers = pd.to_numeric(values, errors="coerce")
        values = (numbers * expr.scale).round(6).astype(object).where(numbers.notna(), values)
    if expr.fill is not None:
        values = values.astype(object).where(values.notna(), _evaluate(expr.fill, frame, file))
    return values


def _source_values(expr: Expr, frame: pd.DataFrame, file: str) -> pd.Series:
    """The expression's values before its modifiers, as text."""
    if expr.kind == "concat":
        parts = [_text(_evaluate(p, frame, file)) for p in expr.parts]
        joined = parts[0]
        for part in parts[1:]:
            joined = joined + expr.sep + part  # empty if any part is empty: no half ids
        return joined
    if expr.kind == "cases":
        fallback = expr.otherwise or Expr(expr.where, "empty")
        values = _text(_evaluate(fallback, frame, file))
        for conditions, then in reversed(expr.cases):  # the first case that holds wins
            then_values = _text(_evaluate(then, frame, file))
            values = values.where(~_holds(conditions, frame, file), then_values)
        return values
    values = _column(frame, str(expr.arg), expr.where, file)
    return slug(values) if expr.kind == "id_from" else values


def _text(values: pd.Series) -> pd.Series:
    return as_text(values.astype(object))


def slug(names: pd.Series) -> pd.Series:
    """Ids from names: ASCII, lower case, other runs as one dash ("Acme Corp." -> acme-corp)."""
    ascii_names = names.map(
        lambda s: unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode(),
        na_action="ignore",
    ).astype(as_text(names).dtype)
    slugs = ascii_names.str.lower().str.replace(r"[^0-9a-z]+", "-", regex=True).str.strip("-")
    return slugs.mask(slugs == "")


def _group(result: pd.DataFrame, keys: list[pd.Series], aggs: Mapping[str, str]) -> pd.DataFrame:
    """One row per key with no empty part; rows with an empty key part form no group."""
    present = pd.concat(keys, axis=1).notna().all(axis=1)
    rows = result[present]
    by = [k[present].rename(f"__by{i}") for i, k in enumerate(keys)]
    grouped = rows.groupby(by, sort=True)
    columns = {}
    for name, agg in aggs.items():
        if agg == "mode":
            columns[name] = _mode(rows[name], by)
        elif agg == "count":
            columns[name] = grouped[name].count()
        elif agg in ("sum", "mean"):
            columns[name] = _numeric(rows[name], by, agg)
        else:
            columns[name] = getattr(grouped[name], agg)()
    return pd.DataFrame(columns)


def _numeric(values: pd.Series, by: list[pd.Series], agg: str) -> pd.Series:
    """Sum or mean of numbers; a group holding a non-number keeps it, for validation to report."""
    numbers = pd.to_numeric(values, errors="coerce")
    bad = values.notna() & numbers.isna()
    parts = pd.DataFrame({"n": numbers, "bad": values.where(bad)}).groupby(by, sort=True)
    total = parts["n"].sum(min_count=1) if agg == "sum" else parts["n"].mean()
    first_bad = parts["bad"].first()
    return total.astype(object).where(first_bad.isna(), first_bad)


def _mode(values: pd.Series, by: list[pd.Series]) -> pd.Series:
    """The most frequent value per key; ties go to the smallest value, so results are stable."""
    names = [k.name for k in by]
    pairs = pd.concat([*by, values.rename("value")], axis=1).dropna()
    counts = pairs.groupby([*names, "value"]).size().rename("n").reset_index()
    order = [*names, "n", "value"]
    counts = counts.sort_values(order, ascending=[True] * len(names) + [False, True], kind="stable")
    return counts.drop_duplicates(names).set_index(names)["value"]
