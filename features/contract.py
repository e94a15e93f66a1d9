"""The CRM data contract (v1): tables, columns, types and allowed values.

This module is the single source of truth for what a CRM export must look like. Loaders coerce to
these types, validation checks against them, the sample world writes them and the import mapping
targets them. See ../shared/DESIGN.md ("CRM data contract").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ColumnKind = Literal["id", "str", "int", "float", "date", "bool"]


@dataclass(frozen=True)
class Column:
    """One contract column: its kind, whether the table needs it, and whether it may be empty."""

    name: str
    kind: ColumnKind
    required: bool = True
    nullable: bool = True
    doc: str = ""


@dataclass(frozen=True)
class Table:
    """One contract table: its key, its columns and whether an export must contain it."""

    name: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    required: bool = True

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


OPPORTUNITY_STAGES = ("open", "won", "lost")
ACTIVITY_TYPES = ("call", "email", "meeting", "visit", "other")
REP_LEVELS = ("SDR", "AE", "Senior AE", "Principal")

ACCOUNTS = Table(
    "accounts",
    key=("account_id",),
    columns=(
        Column("account_id", "id", nullable=False, doc="unique account id"),
        Column("name", "str"),
        Column("industry", "str", doc="free text; normalised (case, spacing) on load"),
        Column("employees", "int", required=False, doc=">= 0"),
        Column("annual_revenue", "float", required=False, doc="the account's own revenue, >= 0"),
        Column("latitude", "float", required=False, doc="WGS84; both or neither"),
        Column("longitude", "float", required=False, doc="WGS84; both or neither"),
        Column("city", "str", required=False),
        Column("region", "str", required=False),
        Column("country", "str", required=False),
        Column("created_at", "date", nullable=False, doc="when the account entered the CRM"),
        Column(
            "satisfaction",
            "float",
            required=False,
            doc="latest customer satisfaction score (e.g. CSAT 1-5); optional, may be empty",
        ),
        Column(
            "crm_id",
            "id",
            required=False,
            doc="the account's record id in the CRM (Salesforce Account Id, HubSpot company "
            "Record ID); optional, needed by the CRM exports (docs/crm.md)",
        ),
    ),
)

REPS = Table(
    "reps",
    key=("rep_id",),
    columns=(
        Column("rep_id", "id", nullable=False),
        Column("name", "str"),
        Column("hired_at", "date", doc="tenure is derived from it"),
        Column("level", "str", required=False, doc="SDR, AE, Senior AE, Principal"),
        Column("industries", "str", required=False, doc="expertise, '|'-separated"),
        Column("home_latitude", "float", required=False),
        Column("home_longitude", "float", required=False),
        Column("capacity", "float", required=False, doc="workload units; empty = team default"),
        Column("active", "bool", required=False, doc="inactive reps get no accounts"),
        Column(
            "crm_user_id",
            "id",
            required=False,
            doc="the rep's user id in the CRM (Salesforce User Id, HubSpot owner id); optional",
        ),
        Column(
            "email",
            "str",
            required=False,
            doc="the rep's sign-in email in the CRM (HubSpot owner email); optional",
        ),
        Column(
            "crm_territory_id",
            "id",
            required=False,
            doc="Salesforce Territory2 Id of the rep's territory; optional (territory export)",
        ),
    ),
)

OPPORTUNITIES = Table(
    "opportunities",
    key=("opportunity_id",),
    columns=(
        Column("opportunity_id", "id", nullable=False),
        Column("account_id", "id", nullable=False, doc="must exist in accounts"),
        Column("rep_id", "id", doc="may be empty; else must exist in reps"),
        Column("created_at", "date", nullable=False),
        Column("closed_at", "date", doc="empty while open"),
        Column("stage", "str", nullable=False, doc="open / won / lost"),
        Column("amount", "float", doc=">= 0"),
    ),
)

ACTIVITIES = Table(
    "activities",
    key=("activity_id",),
    required=False,
    columns=(
        Column("activity_id", "id", nullable=False),
        Column("account_id", "id", nullable=False),
        Column("rep_id", "id"),
        Column("occurred_at", "date", nullable=False),
        Column("type", "str", nullable=False, doc="call / email / meeting / visit / other"),
    ),
)

ASSIGNMENTS = Table(
    "assignments",
    key=("account_id", "start_date"),
    columns=(
        Column("account_id", "id", nullable=False),
        Column("rep_id", "id", nullable=False),
        Column("start_date", "date", nullable=False),
        Column("end_date", "date", doc="empty for the current owner"),
    ),
)

KNOWN_AT_SUFFIX = "_known_at"
"""Dated attributes: an accounts column ``<attribute>_known_at`` (date) says when the attribute of
that row became known; features use it only at snapshots after that day (features.known_at).
Empty = known since the account's creation; attributes without one are known at every snapshot."""

TABLES: dict[str, Table] = {
    t.name: t for t in (ACCOUNTS, REPS, OPPORTUNITIES, ACTIVITIES, ASSIGNMENTS)
}
