"""An approved plan as files the CRMs load as they are (docs/crm.md has each layout and its tool).

Pure: the caller hands over the owners before and after the plan, the CRM identities of accounts
and reps and the plan's approval record; this module checks the plan is approved and every row
has the ids its format needs, and returns the files and a manifest (plan, effective date, rows,
checksums). Changed owners only unless ``all_rows``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd

from serving.errors import BadRequest, Conflict

HUBSPOT_BATCH_SIZE = 100  # HubSpot's batch update takes at most 100 inputs per call
TERRITORY_CAUSE = "Territory2Manual"
TEAM_ACCESS = ("Edit", "Edit", "Read", "Read")  # Account, Opportunity, Case, Contact


@dataclass(frozen=True)
class Approval:
    """What the decisions store says about the plan being exported."""

    plan_id: str
    status: str
    effective_date: str | None = None
    approved_by: str | None = None
    approved_at: str | None = None


@dataclass(frozen=True)
class OwnerRow:
    """One account's owner today and under the approved plan."""

    account_id: str
    previous_rep_id: str | None
    rep_id: str | None

    @property
    def changed(self) -> bool:
        return self.previous_rep_id != self.rep_id


@dataclass(frozen=True)
class ExportOptions:
    """Choices an admin makes per export."""

    all_rows: bool = False
    team_role: str = "Account Manager"
    # Data Loader export of the org's manual territory associations (Id, ObjectId, Territory2Id):
    # the delete file needs their record Ids.
    associations: Sequence[Mapping[str, str]] | None = None


@dataclass
class Bundle:
    """The files of one export (name -> bytes) and its manifest."""

    files: dict[str, bytes] = field(default_factory=dict)
    manifest: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Identities:
    """CRM ids by our ids: accounts.crm_id, reps.crm_user_id / email / crm_territory_id."""

    account: Mapping[str, str]
    user: Mapping[str, str]
    email: Mapping[str, str]
    territory: Mapping[str, str]

    @classmethod
    def from_tables(cls, accounts: pd.DataFrame, reps: pd.DataFrame) -> Identities:
        def pairs(frame: pd.DataFrame, key: str, column: str) -> dict[str, str]:
            if column not in frame.columns:
                return {}
            kept = frame[[key, column]].dropna()
            return dict(zip(kept[key].astype(str), kept[column].astype(str), strict=True))

        return cls(
            account=pairs(accounts, "account_id", "crm_id"),
            user=pairs(reps, "rep_id", "crm_user_id"),
            email=pairs(reps, "rep_id", "email"),
            territory=pairs(reps, "rep_id", "crm_territory_id"),
        )


def owner_rows(
    account_ids: Sequence[str],
    current: Mapping[str, str],
    decided: Mapping[str, str],
    *,
    all_rows: bool,
) -> list[OwnerRow]:
    """Every account's owner before and after (changed ones only unless all_rows)."""
    rows = [OwnerRow(a, current.get(a), decided.get(a, current.get(a))) for a in account_ids]
    return rows if all_rows else [r for r in rows if r.changed]


def require_approved(approval: Approval | None, plan_id: str) -> Approval:
    """The approval record; Conflict (409) naming the fix when the plan is not approved."""
    status = approval.status if approval is not None else "not registered"
    if approval is None or status != "approved":
        raise Conflict(
            f"plan {plan_id} is {status}, not approved: CRM exports are only for an approved "
            "plan. Approve it on the review page (or POST /approve_plan with confirm: true and "
            "an effective_date), then export."
        )
    return approval


def _missing(rows: Sequence[OwnerRow], need: Callable[[OwnerRow], bool]) -> list[str]:
    return [r.account_id for r in rows if need(r)]


def require_ids(rows: Sequence[OwnerRow], what: str, missing: list[str], fix: str) -> None:
    """BadRequest naming how many rows lack `what`, a few of them, and the fix."""
    if missing:
        more = f", ... {len(missing) - 5} more" if len(missing) > 5 else ""
        shown = ", ".join(missing[:5]) + more
        raise BadRequest(
            f"{len(missing)} of {len(rows)} rows to export have no {what} ({shown}): {fix} "
            "Nothing was written."
        )


ACCOUNT_FIX = (
    "map `crm_id` (the CRM's record id of each account) in the import mapping, or add a "
    "crm_id column to accounts, and reload."
)


def _user_fix(column: str) -> str:
    return (
        f"map `{column}` on reps in the import mapping (or add the column to reps.csv) for "
        "every rep who owns an exported account."
    )


def _csv(header: Sequence[str], rows: Sequence[Sequence[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180, what Data Loader writes
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _ids(rows: Sequence[OwnerRow], ids: Identities, column: str) -> None:
    require_ids(rows, "accounts.crm_id", _missing(rows, lambda r: r.account_id not in ids.account),
                ACCOUNT_FIX)  # fmt: skip
    table = {"crm_user_id": ids.user, "email": ids.email, "crm_territory_id": ids.territory}[column]
    require_ids(rows, f"reps.{column} for the planned owner",
                _missing(rows, lambda r: r.rep_id not in table), _user_fix(column))  # fmt: skip


def salesforce_owner(rows, ids: Identities, options: ExportOptions) -> dict[str, bytes]:
    """Account owner update: Id,OwnerId (Data Loader / Bulk API 2.0 update on Account)."""
    _ids(rows, ids, "crm_user_id")
    body = [(ids.account[r.account_id], ids.user[r.rep_id]) for r in rows]
    return {"salesforce_account_owner.csv": _csv(("Id", "OwnerId"), body)}


def salesforce_territory(rows, ids: Identities, options: ExportOptions) -> dict[str, bytes]:
    """ObjectTerritory2Association: insert the planned territory, delete the previous one."""
    changed = [r for r in rows if r.changed]
    _ids(rows, ids, "crm_territory_id")
    create = [
        (ids.account[r.account_id], ids.territory[r.rep_id], TERRITORY_CAUSE) for r in changed
    ]
    files = {
        "salesforce_territory_create.csv": _csv(("ObjectId", "Territory2Id", "AssociationCause"),
                                                create)
    }  # fmt: skip
    if options.associations is not None:
        by_pair = {(a.get("ObjectId"), a.get("Territory2Id")): a.get("Id")
                   for a in options.associations}  # fmt: skip
        old = [
            (ids.account[r.account_id], ids.territory.get(r.previous_rep_id or "")) for r in changed
        ]
        delete = [(by_pair[p], *p) for p in old if by_pair.get(p)]
        files["salesforce_territory_delete.csv"] = _csv(("Id", "ObjectId", "Territory2Id"), delete)
    return files


def salesforce_team(rows, ids: Identities, options: ExportOptions) -> dict[str, bytes]:
    """AccountTeamMember insert: the planned owner joins the account team with a role."""
    changed = [r for r in rows if r.changed] if not options.all_rows else list(rows)
    _ids(changed, ids, "crm_user_id")
    header = ("AccountId", "UserId", "TeamMemberRole", "AccountAccessLevel",
              "OpportunityAccessLevel", "CaseAccessLevel", "ContactAccessLevel")  # fmt: skip
    body = [(ids.account[r.account_id], ids.user[r.rep_id], options.team_role, *TEAM_ACCESS)
            for r in changed]  # fmt: skip
    return {"salesforce_account_team.csv": _csv(header, body)}


def hubspot_import(rows, ids: Identities, options: ExportOptions) -> dict[str, bytes]:
    """Company import: Record ID (matches existing companies) and Company owner (user email)."""
    _ids(rows, ids, "email")
    body = [(ids.account[r.account_id], ids.email[r.rep_id]) for r in rows]
    return {"hubspot_company_owner_import.csv": _csv(("Record ID", "Company owner"), body)}


def hubspot_batch(rows, ids: Identities, options: ExportOptions) -> dict[str, bytes]:
    """Batch update payloads for POST /crm/v3/objects/companies/batch/update, 100 per file."""
    _ids(rows, ids, "crm_user_id")
    inputs = [
        {"id": ids.account[r.account_id], "properties": {"hubspot_owner_id": ids.user[r.rep_id]}}
        for r in rows
    ]
    chunks = [inputs[i : i + HUBSPOT_BATCH_SIZE] for i in range(0, len(inputs), HUBSPOT_BATCH_SIZE)]
    return {
        f"hubspot_companies_batch_update_{n:04d}.json": json.dumps(
            {"inputs": chunk}, indent=1
        ).encode()
        for n, chunk in enumerate(chunks, start=1)
    }


FORMATS: dict[str, tuple[Callable[..., dict[str, bytes]], str]] = {
    "salesforce-owner": (salesforce_owner, "Data Loader: Update on Account (or Bulk API 2.0 "
                         "ingest job, operation update, object Account)"),
    "salesforce-territory": (salesforce_territory, "Data Loader: Insert on "
                             "ObjectTerritory2Association (create file), then Delete (delete "
                             "file)"),
    "salesforce-team": (salesforce_team, "Data Loader: Insert on AccountTeamMember"),
    "hubspot-import": (hubspot_import, "HubSpot: Import > File from computer > one object: "
                       "Companies > update existing by Record ID"),
    "hubspot-batch": (hubspot_batch, "HubSpot API: POST /crm/v3/objects/companies/batch/update, "
                      "one call per file"),
}  # fmt: skip


def _rows_in(name: str, body: bytes) -> int:
    """Data rows of one file: CSV lines after the header, or a batch payload's inputs."""
    if name.endswith(".json"):
        return len(json.loads(body)["inputs"])
    return max(body.count(b"\r\n") - 1, 0)


def check_format(name: str) -> None:
    if name not in FORMATS:
        raise BadRequest(
            f"export format {name!r} is not one of {', '.join(FORMATS)}; pick one (docs/crm.md)."
        )


def build_export(
    name: str,
    rows: Sequence[OwnerRow],
    ids: Identities,
    approval: Approval,
    options: ExportOptions,
    *,
    model_version: str | None = None,
    now: datetime | None = None,
) -> Bundle:
    """The files of format `name` for an approved plan, and the manifest describing them."""
    check_format(name)
    writer, tool = FORMATS[name]
    files = writer(rows, ids, options)
    notes = []
    if name == "salesforce-territory" and options.associations is None:
        notes.append(
            "salesforce_territory_delete.csv not written: pass the org's manual associations "
            "(Data Loader export of SELECT Id, ObjectId, Territory2Id FROM "
            "ObjectTerritory2Association WHERE AssociationCause = 'Territory2Manual') to get it."
        )
    manifest = {
        "format": name,
        "plan_id": approval.plan_id,
        "plan_status": approval.status,
        "effective_date": approval.effective_date,
        "approved_by": approval.approved_by,
        "approved_at": approval.approved_at,
        "model_version": model_version,
        "rows": len(rows),
        "changed_rows": sum(r.changed for r in rows),
        "changed_only": not options.all_rows,
        "generated_at": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        "load_with": tool,
        "files": {
            f: {"rows": _rows_in(f, b), "bytes": len(b), "sha256": hashlib.sha256(b).hexdigest()}
            for f, b in files.items()
        },
        "notes": notes,
    }
    files["manifest.json"] = json.dumps(manifest, indent=1).encode()
    return Bundle(files=files, manifest=manifest)
