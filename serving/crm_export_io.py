"""Where CRM exports get their inputs and where the files go: the service's state, or (for
`territory export`, which runs ``python -m serving.crm_export_io``) the CRM export, the plan
folder and the decisions store read from disk. The formats themselves are serving.crm_export.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

from serving.crm_export import (
    FORMATS,
    Approval,
    Bundle,
    ExportOptions,
    Identities,
    build_export,
    check_format,
    owner_rows,
    require_approved,
)
from serving.decisions import DecisionStore, PlanRecord
from serving.errors import BadRequest


def approval_of(record: PlanRecord | None) -> Approval | None:
    if record is None:
        return None
    return Approval(
        plan_id=record.plan_id,
        status=record.status,
        effective_date=record.effective_date,
        approved_by=record.approved_by,
        approved_at=str(record.approved_at) if record.approved_at else None,
    )


def decided_owners(current: dict[str, str], decisions: dict) -> dict[str, str]:
    """Today's owners with approved and overridden moves applied (as /export_plan does)."""
    owners = dict(current)
    for account_id, decision in decisions.items():
        if decision.action in {"approve", "override"}:
            owners[account_id] = decision.final_rep_id
    return owners


def export_bundle(
    fmt: str,
    *,
    tables,
    current: dict[str, str],
    plan_id: str,
    store: DecisionStore,
    options: ExportOptions,
    model_version: str | None = None,
) -> Bundle:
    """Check the format and the approval, then build the files from the store's decisions."""
    check_format(fmt)
    approval = require_approved(approval_of(store.plan(plan_id)), plan_id)
    decided = decided_owners(current, store.decisions(plan_id))
    accounts = [str(a) for a in tables.accounts["account_id"]]
    rows = owner_rows(accounts, current, decided, all_rows=options.all_rows)
    ids = Identities.from_tables(tables.accounts, tables.reps)
    return build_export(fmt, rows, ids, approval, options, model_version=model_version)


def zip_bundle(bundle: Bundle) -> bytes:
    """The bundle's files (manifest.json included) as one zip archive."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, body in bundle.files.items():
            archive.writestr(name, body)
    return buffer.getvalue()


def write_bundle(bundle: Bundle, out: Path) -> list[Path]:
    """Write the files under `out` (created); returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, body in bundle.files.items():
        path = out / name
        path.write_bytes(body)
        written.append(path)
    return written


def read_associations(path: Path | None) -> list[dict[str, str]] | None:
    """A Data Loader export of ObjectTerritory2Association (Id, ObjectId, Territory2Id)."""
    if path is None:
        return None
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    missing = {"Id", "ObjectId", "Territory2Id"} - set(rows[0] if rows else {})
    if missing:
        raise BadRequest(
            f"{path} lacks column(s) {', '.join(sorted(missing))}: export "
            "ObjectTerritory2Association with Id, ObjectId, Territory2Id from Data Loader."
        )
    return rows


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="territory export", description=__doc__)
    parser.add_argument("--format", required=True, choices=list(FORMATS))
    parser.add_argument("--data", required=True, help="CRM export directory or SQLAlchemy URL")
    parser.add_argument("--plan", required=True, type=Path, help="the approved plan's folder")
    parser.add_argument("--out", required=True, type=Path, help="folder for the files")
    parser.add_argument("--decisions", help="decisions store URL (default: the service's)")
    parser.add_argument("--all-rows", action="store_true", help="unchanged owners too")
    parser.add_argument("--team-role", default="Account Manager")
    parser.add_argument("--associations", type=Path, help="ObjectTerritory2Association export")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """`territory export`: print what was written, or one clear error (exit 2)."""
    from features.errors import TerritoryError
    from features.loaders import load_crm
    from serving.plans import read_plan
    from serving.settings import ServingSettings

    args = parse_args(argv)
    try:
        tables = load_crm(args.data).tables
        current = {str(a): str(r) for a, r in tables.current_owners().items()}
        plan = read_plan(args.plan, current)
        url = args.decisions or ServingSettings().database_url
        options = ExportOptions(
            all_rows=args.all_rows,
            team_role=args.team_role,
            associations=read_associations(args.associations),
        )
        bundle = export_bundle(
            args.format,
            tables=tables,
            current=plan.current_owner,
            plan_id=plan.plan_id,
            store=DecisionStore(url),
            options=options,
        )
    except TerritoryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in write_bundle(bundle, args.out):
        print(path)
    manifest = bundle.manifest
    print(
        f"{manifest['rows']} rows ({manifest['changed_rows']} changed) of plan "
        f"{manifest['plan_id']}, effective {manifest['effective_date']}; load with: "
        f"{manifest['load_with']}"
    )
    for note in manifest["notes"]:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
