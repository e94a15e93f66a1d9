"""The validation report: issues with actionable messages, quarantined rows and the summary line."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from features.contract import ACTIVITY_TYPES, OPPORTUNITY_STAGES, ColumnKind
from features.errors import DataContractError

Severity = Literal["fatal", "quarantine", "warning"]
SEVERITIES: tuple[Severity, ...] = ("fatal", "quarantine", "warning")
MAX_EXAMPLES = 5

KIND_WORDS: dict[ColumnKind, tuple[str, str]] = {
    "id": ("text", "text"),
    "str": ("text", "text"),
    "int": ("a whole number", "whole numbers such as 120"),
    "float": ("a number", "plain numbers such as 1234.5 (no currency or thousands separators)"),
    "date": ("an ISO 8601 date", "ISO 8601 dates such as 2024-03-31"),
    "bool": ("true/false", "true or false (also yes/no, 1/0)"),
}


@dataclass(frozen=True)
class CheckText:
    """How the report names a row check: a short label, the finding and the fix."""

    label: str
    finding: str
    fix: str


_TEXTS = (
    ("wrong_type", "wrong type {column}", "where {column} is not {kind_word}",
     "Write {kind_hint}"),
    ("missing_value", "missing {column}", "without {column}", "Fill in {column}"),
    ("negative_value", "negative {column}", "with a negative {column}",
     "Use a value >= 0 or leave it empty"),
    ("unknown_stage", "unknown stage", "with an unknown stage",
     f"Use one of {', '.join(OPPORTUNITY_STAGES)}"),
    ("unknown_activity_type", "unknown type", "with an unknown type",
     f"Use one of {', '.join(ACTIVITY_TYPES)}"),
    ("half_coordinates", "half coordinates", "with only one of the two coordinates",
     "Fill both or leave both empty"),
    ("missing_closed_at", "won/lost without closed_at", "won or lost without closed_at",
     "Add the close date or set the stage to open"),
    ("closed_before_created", "closed before created", "whose closed_at is before created_at",
     "Fix either date"),
    ("ended_before_started", "ended before started", "whose end_date is before start_date",
     "Fix either date"),
    ("duplicate_id", "duplicate {column}", "sharing {column} with another row",
     "Give each row its own {column}; every copy was quarantined"),
    ("parent_quarantined", "quarantined {parent}", "pointing to {parent} that were quarantined",
     "Fix those {parent} rows (see the {parent} quarantine file)"),
    ("dangling_reference", "dangling {column}", "pointing to {parent} that do not exist",
     "Add those {parent} to the {parent} table ({parent}.csv) or fix the ids"),
    ("several_current_owners", "several current owners",
     "left open while a later open assignment exists",
     "Set end_date on the older rows; the latest one was kept as the current owner"),
)  # fmt: skip
CHECK_TEXTS: dict[str, CheckText] = {check: CheckText(*texts) for check, *texts in _TEXTS}
"""Quarantine checks, in the order a row is attributed to the first one it fails."""

OTHER_TEXTS: dict[str, str] = {
    "missing_table": "{table}: the table is missing. Add {table}.csv or {table}.parquet (or a SQL "
    "table {table}) with the columns {columns}.",
    "missing_column": "{table}.{column}: the required column is missing (columns found: {found}). "
    "Add it; its cells may stay empty where the contract allows.",
    "one_column": "{table}: the table was read as one column named {header!r} ({read_as}), so "
    "no contract column was found. The header is split by {delimiter!r}: save the table with "
    "comma, semicolon or tab delimiters, every row with as many cells as the header.",
    "unparseable_column": "{table}.{column}: none of the {count} values is {kind_word} (e.g. "
    "{values}). Write {kind_hint}; the table cannot be used without this column.",
    "duplicate_id": "{table}.{column}: {count} rows have an id that another row has too ({ids}). "
    "Make each {column} unique: other tables refer to rows by it, so the export cannot be used "
    "until it is.",
    "no_current_owner": "accounts.account_id: {count} accounts have no current owner ({ids}). Add "
    "an assignments row with an empty end_date for each; until then they count as unowned.",
    "inactive_current_owner": "assignments.rep_id: {count} accounts are owned by inactive reps "
    "({ids}; reps {reps}). Reassign them or mark the rep active; a plan will move them.",
    "won_without_amount": "opportunities.amount: {count} of {won} won opportunities have an "
    "empty amount ({ids}). Fill in the won amount: won revenue is what the model learns from, and "
    "training counts an empty amount as no revenue (with every won amount empty it stops with "
    "'no won revenue').",
    "extra_columns_ignored": "{table}: {count} columns not in the contract were ignored ({names}). "
    "Only accounts keep extra columns; drop them or rename them to contract columns.",
}


@dataclass(frozen=True)
class Issue:
    """One problem found in an export: where, how many rows, examples and what to change."""

    severity: Severity
    table: str
    column: str | None
    check: str
    count: int
    example_ids: tuple[str, ...]
    message: str


def join_ids(ids: tuple[str, ...]) -> str:
    """The first few ids, comma-separated, with how many more there are."""
    more = f", ... {len(ids) - MAX_EXAMPLES} more" if len(ids) > MAX_EXAMPLES else ""
    return ", ".join(ids[:MAX_EXAMPLES]) + more


def make_issue(
    severity: Severity, table: str, column: str | None, check: str, count: int,
    ids: tuple[str, ...] = (), **fields: object,
) -> Issue:  # fmt: skip
    """A fatal or warning issue with its message from OTHER_TEXTS."""
    message = OTHER_TEXTS[check].format(
        table=table, column=column, count=count, ids=join_ids(ids), **fields
    )
    return Issue(severity, table, column, check, count, ids[:MAX_EXAMPLES], message)


def quarantine_issue(
    table: str, column: str, check: str, ids: tuple[str, ...], values: tuple[str, ...],
    **fields: str,
) -> Issue:  # fmt: skip
    """A quarantine issue: the finding, the offending rows and values, then the fix."""
    text, n = CHECK_TEXTS[check], len(ids)
    detail = join_ids(ids) + (f"; values: {', '.join(values)}" if values else "")
    message = (
        f"{table}.{column}: {n} {'row' if n == 1 else 'rows'} "
        f"{text.finding.format(column=column, **fields)} ({detail}). "
        f"{text.fix.format(column=column, **fields)}; the rows were quarantined."
    )
    return Issue("quarantine", table, column, check, n, ids[:MAX_EXAMPLES], message)


@dataclass(frozen=True)
class ValidationReport:
    """Every issue of one export, the quarantined rows per table and the row counts in and out.

    ``quarantine`` holds, per table with quarantined rows, those rows as read plus ``row``
    (1-based position in the table), ``check``, ``column`` and ``reason``.
    """

    issues: tuple[Issue, ...]
    quarantine: Mapping[str, pd.DataFrame]
    rows_in: Mapping[str, int]
    rows_out: Mapping[str, int]

    @property
    def fatal(self) -> bool:
        """Whether the export is unusable as a whole."""
        return any(i.severity == "fatal" for i in self.issues)

    @property
    def quarantined_rows(self) -> int:
        """Rows removed from the tables, over all tables."""
        return sum(len(frame) for frame in self.quarantine.values())

    def find(self, check: str, table: str, column: str | None = None) -> Issue | None:
        """The first issue with this check on this table (and column, when given)."""
        matches = (i for i in self.issues if (i.check, i.table) == (check, table))
        return next((i for i in matches if column in (None, i.column)), None)

    def summary(self) -> str:
        """One line: rows quarantined per table and reason, led by the fatal count if any."""
        parts = []
        for table, frame in self.quarantine.items():
            counts = frame.groupby("reason", sort=True).size()
            counts = counts.sort_values(ascending=False, kind="stable")
            detail = ", ".join(f"{reason} {n}" for reason, n in counts.items())
            parts.append(f"{table} {len(frame)} ({detail})")
        n = self.quarantined_rows
        line = f"quarantined {n} {'row' if n == 1 else 'rows'}"
        line += ": " + ", ".join(parts) if parts else ""
        fatal = sum(i.severity == "fatal" for i in self.issues)
        return f"{fatal} fatal problems, the export cannot be used; {line}" if fatal else line

    def raise_if_fatal(self) -> None:
        """Raise DataContractError listing every fatal issue, if there is one."""
        fatal = [i.message for i in self.issues if i.severity == "fatal"]
        if fatal:
            raise DataContractError(
                f"The CRM export cannot be used ({len(fatal)} fatal problems):\n- "
                + "\n- ".join(fatal)
            )
