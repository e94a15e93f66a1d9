"""Validation of a raw CRM export at the boundary: typed tables plus a report of every problem.

`validate_crm` is pure. It coerces each table to the contract (features.schemas), runs the row
checks, then the cross-table checks, and moves every row it cannot use into a quarantine frame
with its reason: nothing is dropped silently. Every check runs even when a problem is fatal, so one
pass reports everything to fix. Each row is reported once, under the first check it
fails in CHECK_ORDER, so the per-check counts add up to the quarantined rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd
import pandera.pandas as pa
import pyarrow.compute as pc

from features.contract import TABLES, Table
from features.crm_identity import crm_identity_issues
from features.lookup import contains
from features.schemas import FRAME_RULES, coerce_column, coerce_extra, contract_schema
from features.tables import CrmTables
from features.validation_report import (
    CHECK_TEXTS,
    KIND_WORDS,
    MAX_EXAMPLES,
    SEVERITIES,
    Issue,
    ValidationReport,
    make_issue,
    quarantine_issue,
)

CHECK_ORDER = tuple(CHECK_TEXTS)
REFERENCES = (
    ("opportunities", "account_id", "accounts"),
    ("opportunities", "rep_id", "reps"),
    ("activities", "account_id", "accounts"),
    ("activities", "rep_id", "reps"),
    ("assignments", "account_id", "accounts"),
    ("assignments", "rep_id", "reps"),
)
FATAL_DUPLICATES = frozenset({"accounts", "reps"})

__all__ = ["Issue", "ValidationReport", "validate_crm"]


@dataclass
class _Work:
    """One table during validation: raw rows, typed rows and the first failed check per row."""

    table: Table
    raw: pd.DataFrame
    typed: pd.DataFrame
    check: pd.Series
    column: pd.Series
    unusable: set[str] = field(default_factory=set)  # columns reported fatal as unparseable

    @property
    def ok(self) -> pd.Series:
        return self.check.isna()

    def flag(self, mask: pd.Series, check: str, column: str) -> None:
        new = mask.reindex(self.check.index, fill_value=False).astype(bool) & self.ok
        self.check[new] = check
        self.column[new] = column

    def ids(self, index: pd.Index) -> tuple[str, ...]:
        key = self.typed.loc[index, self.table.key[0]]
        return tuple(v if pd.notna(v) else f"row {i + 1}" for i, v in key.items())


def validate_crm(raw: Mapping[str, pd.DataFrame]) -> tuple[CrmTables | None, ValidationReport]:
    """Typed, checked tables (None when the export is unusable) and the report of what was wrong.

    Args:
        raw: frames as read, by contract table name; a missing optional table may be left out.
    """
    issues: list[Issue] = []
    works: dict[str, _Work] = {}
    for table in TABLES.values():
        frame = raw.get(table.name)
        if frame is None and not table.required:
            frame = pd.DataFrame({c: pd.Series(dtype=object) for c in table.column_names})
        structural = _structure_issues(table, frame)
        issues += structural
        if frame is not None and not structural:
            works[table.name], found = _coerce(table, frame)
            issues += found
    rows_in = {name: len(work.raw) for name, work in works.items()}
    # Every check runs on every table that could be read, fatal problems or not, so one pass
    # reports everything there is to fix; only the tables are withheld when one is fatal.
    _flag_references(works)
    issues += _owner_issues(works)
    issues += [i for work in works.values() for i in _quarantine_issues(work)]
    issues += _won_without_amount(works)
    issues += crm_identity_issues({n: w.typed[w.ok] for n, w in works.items()})
    fatal = any(i.severity == "fatal" for i in issues)
    report = ValidationReport(
        issues=_sorted(issues),
        quarantine={n: _quarantine_frame(w) for n, w in works.items() if not w.ok.all()},
        rows_in=rows_in,
        rows_out={} if fatal else {name: int(work.ok.sum()) for name, work in works.items()},
    )
    return (None if fatal else _tables(works)), report


def _sorted(issues: list[Issue]) -> tuple[Issue, ...]:
    return tuple(sorted(issues, key=lambda i: SEVERITIES.index(i.severity)))


def _structure_issues(table: Table, frame: pd.DataFrame | None) -> list[Issue]:
    if frame is None:
        columns = ", ".join(table.column_names)
        return [make_issue("fatal", table.name, None, "missing_table", 0, columns=columns)]
    found = ", ".join(map(str, frame.columns)) or "none"
    missing = [c for c in table.required_columns if c not in frame.columns]
    glued = _glued_header(frame)
    if missing and glued is not None:
        read_as = frame.attrs.get("read_as", "as stored")
        return [make_issue("fatal", table.name, None, "one_column", len(frame), header=found,
                           delimiter=glued, read_as=read_as)]  # fmt: skip
    return [
        make_issue("fatal", table.name, c, "missing_column", len(frame), found=found)
        for c in missing
    ]


def _glued_header(frame: pd.DataFrame) -> str | None:
    """The delimiter a one-column frame's header holds, if it looks like a whole header row."""
    if len(frame.columns) != 1:
        return None
    header = str(frame.columns[0])
    return next((d for d in (";", "\t", "|", ",", ":") if d in header), None)


def _coerce(table: Table, frame: pd.DataFrame) -> tuple[_Work, list[Issue]]:
    raw = frame.reset_index(drop=True)
    empty = pd.Series(pd.NA, index=raw.index, dtype=object)
    work = _Work(table, raw, pd.DataFrame(index=raw.index), empty.copy(), empty.copy())
    issues = []
    for col in table.columns:
        values = raw[col.name] if col.name in raw.columns else empty
        typed, bad = coerce_column(table.name, col.name, col.kind, values)
        work.typed[col.name] = typed
        if bad.any() and bad.sum() == (typed.notna() | bad).sum():
            work.unusable.add(col.name)
            word, hint = KIND_WORDS[col.kind]
            issues.append(
                make_issue("fatal", table.name, col.name, "unparseable_column", int(bad.sum()),
                           kind_word=word, kind_hint=hint, values=", ".join(_values(values[bad])))
            )  # fmt: skip
        else:
            work.flag(bad, "wrong_type", col.name)
    extras = [str(c) for c in raw.columns if c not in table.column_names]
    if table.name == "accounts":
        for name in extras:
            work.typed[name] = coerce_extra(raw[name])
    elif extras:
        issues.append(
            make_issue("warning", table.name, None, "extra_columns_ignored", len(extras),
                       names=", ".join(extras))
        )  # fmt: skip
    _flag_schema(work)
    return work, issues + _duplicate_issues(work)


def _flag_schema(work: _Work) -> None:
    try:
        contract_schema(work.table.name).validate(work.typed, lazy=True)
        return
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    if cases["index"].isna().any():  # a dtype failure: coercion is broken, not the data
        raise AssertionError(f"coercion left a wrong dtype in {work.table.name}:\n{cases}")
    frame_columns = {r.check: r.column for r in FRAME_RULES.get(work.table.name, ())}
    is_frame = cases["schema_context"] == "DataFrameSchema"
    checks = cases["check"].replace({"not_nullable": "missing_value"})
    columns = cases["column"].where(~is_frame, checks.map(frame_columns))
    keep = ~columns.isin(work.unusable)  # already fatal: one message, not one per row
    cases, checks, columns = cases[keep], checks[keep], columns[keep]
    order = {c: i for i, c in enumerate(work.table.column_names)}
    cases = pd.DataFrame({
        "rank": checks.map(CHECK_ORDER.index), "pos": columns.map(order),
        "check": checks, "column": columns, "index": cases["index"].astype(int),
    })  # fmt: skip
    for (_, _, check, column), group in cases.groupby(["rank", "pos", "check", "column"]):
        work.flag(pd.Series(True, index=group["index"].unique()), check, column)


def _duplicate_issues(work: _Work) -> list[Issue]:
    key = list(work.table.key)
    if len(key) == 1 and _unique(work.typed[key[0]]):
        return []  # no duplicates among all rows, so none among the usable ones
    usable = work.typed.loc[work.ok & work.typed[key].notna().all(axis=1), key]
    dup = usable.duplicated(keep=False).reindex(work.typed.index, fill_value=False)
    if not dup.any():
        return []
    label = "+".join(key)
    if work.table.name not in FATAL_DUPLICATES:
        work.flag(dup, "duplicate_id", label)
        return []
    ids = tuple(dict.fromkeys(work.typed.loc[dup, key[0]]))
    n = int(dup.sum())
    return [make_issue("fatal", work.table.name, label, "duplicate_id", n, ids, n_ids=len(ids))]


def _unique(values: pd.Series) -> bool:
    """Whether the non-missing values are distinct.

    Arrow text is sorted and neighbours compared: ~45 bytes a row, where hashing it
    (`duplicated`, `nunique`, `pc.unique`) took ~180 (7 GB for 1M accounts' 42M activities).
    """
    if not (isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow"):
        return bool(values.nunique(dropna=True) == values.count())
    arrow = values.array.__arrow_array__()
    ordered = arrow.take(pc.sort_indices(arrow))  # missing values last; equal() skips them
    n = len(ordered)
    return n < 2 or not pc.any(pc.equal(ordered.slice(1), ordered.slice(0, n - 1))).as_py()


def _flag_references(works: dict[str, _Work]) -> None:
    for child, column, parent in REFERENCES:
        if parent not in works or child not in works or column in works[child].unusable:
            continue  # that table or column is already reported fatal
        parent_work, work = works[parent], works[child]
        if parent_work.table.key[0] in parent_work.unusable:
            continue
        key = parent_work.table.key[0]
        kept = parent_work.typed.loc[parent_work.ok, key].dropna()
        dropped = parent_work.typed.loc[~parent_work.ok, key].dropna()
        dropped = dropped[~contains(dropped, kept)]
        ref = work.typed[column]
        work.flag(pd.Series(contains(ref, dropped), index=ref.index), "parent_quarantined", column)
        dangling = ref.notna() & ~contains(ref, kept)
        work.flag(dangling, "dangling_reference", column)


def _owner_issues(works: dict[str, _Work]) -> list[Issue]:
    if not {"assignments", "accounts", "reps"} <= set(works):
        return []  # a missing table is already reported fatal
    assignments, accounts, reps = works["assignments"], works["accounts"], works["reps"]
    if {"start_date", "end_date"} & assignments.unusable:
        return []  # ownership cannot be read from dates that are reported fatal
    rows = assignments.typed[assignments.ok & assignments.typed["end_date"].isna()]
    latest = rows.sort_values("start_date", kind="stable").groupby("account_id").tail(1)
    superseded = pd.Series(True, index=rows.index.difference(latest.index))
    assignments.flag(superseded, "several_current_owners", "end_date")
    owners = latest.set_index("account_id")["rep_id"]
    kept = accounts.typed.loc[accounts.ok, "account_id"]
    unowned = tuple(kept[~contains(kept, owners.index)])
    active = reps.typed.loc[reps.ok].set_index("rep_id")["active"]
    active = active[~active.index.duplicated()]  # duplicate rep ids are reported fatal
    inactive = owners[owners.map(active).eq(False)]
    issues = []
    if unowned:
        issues.append(
            make_issue(
                "warning", "accounts", "account_id", "no_current_owner", len(unowned), unowned
            )
        )
    if len(inactive):
        ids, rep_ids = tuple(inactive.index), ", ".join(dict.fromkeys(inactive))
        issues.append(
            make_issue("warning", "assignments", "rep_id", "inactive_current_owner", len(ids), ids,
                       reps=rep_ids)
        )  # fmt: skip
    return issues


def _won_without_amount(works: dict[str, _Work]) -> list[Issue]:
    """Won deals the contract accepts without an amount, which training reads as no revenue."""
    work = works.get("opportunities")
    if work is None or {"stage", "amount"} & work.unusable:
        return []
    typed = work.typed
    empty = work.ok & typed["stage"].eq("won") & typed["amount"].isna()
    if not empty.any():
        return []
    won = int((work.ok & typed["stage"].eq("won")).sum())
    ids = work.ids(empty[empty].index)
    return [make_issue("warning", "opportunities", "amount", "won_without_amount", len(ids), ids,
                       won=won)]  # fmt: skip


def _quarantine_issues(work: _Work) -> list[Issue]:
    flagged = work.check.dropna()
    issues = []
    for (check, column), group in flagged.groupby([flagged, work.column[flagged.index]]):
        values = _values(work.raw.loc[group.index, column]) if column in work.raw.columns else ()
        issues.append(
            quarantine_issue(work.table.name, column, check, work.ids(group.index),
                             () if check == "duplicate_id" else values, **_fields(work, column))
        )  # fmt: skip
    return sorted(issues, key=lambda i: CHECK_ORDER.index(i.check))


def _fields(work: _Work, column: str) -> dict[str, str]:
    parent = next((p for c, col, p in REFERENCES if (c, col) == (work.table.name, column)), "")
    kind = work.table.column(column).kind if column in work.table.column_names else "id"
    return {"parent": parent, "kind_word": KIND_WORDS[kind][0], "kind_hint": KIND_WORDS[kind][1]}


def _quarantine_frame(work: _Work) -> pd.DataFrame:
    bad = ~work.ok
    checks, columns = work.check[bad], work.column[bad]
    reasons = [
        CHECK_TEXTS[check].label.format(column=column, **_fields(work, column))
        for check, column in zip(checks, columns, strict=True)
    ]
    extra = {"row": work.raw.index[bad] + 1, "check": checks, "column": columns, "reason": reasons}
    return work.raw.loc[bad].assign(**extra).reset_index(drop=True)


def _tables(works: dict[str, _Work]) -> CrmTables:
    frames = {}
    for name, work in works.items():
        # every row kept (the usual case): the typed frame itself, not a copy of it (GBs at 1M)
        frame = work.typed if work.ok.all() else work.typed.loc[work.ok].reset_index(drop=True)
        frames[name] = contract_schema(name).validate(frame)  # post-condition: the contract holds
    extras = tuple(
        c for c in frames["accounts"].columns if c not in TABLES["accounts"].column_names
    )
    return CrmTables(extra_account_columns=extras, **frames)


def _values(values: pd.Series) -> tuple[str, ...]:
    distinct = dict.fromkeys(str(v) for v in values if pd.notna(v) and str(v).strip())
    return tuple(repr(v) for v in list(distinct)[:MAX_EXAMPLES])
