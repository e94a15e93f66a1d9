"""CLI command: export (registered by training.cli).

`territory export --format F` writes an approved plan as files a CRM loads as they are
(docs/crm.md). The formats, the approval check and the decisions store are the service's, so
this replaces itself with `python -m serving.crm_export_io` (as `territory serve` runs
`python -m serving`): nothing here imports `serving`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

FORMATS = (
    "salesforce-owner",
    "salesforce-territory",
    "salesforce-team",
    "hubspot-import",
    "hubspot-batch",
)


def export_command(
    fmt: str,
    *,
    data: str,
    plan: Path,
    out: Path,
    decisions: str | None = None,
    all_rows: bool = False,
    team_role: str | None = None,
    associations: Path | None = None,
) -> list[str]:
    """`python -m serving.crm_export_io` with the same options, as an argv."""
    command = [sys.executable, "-m", "serving.crm_export_io", "--format", fmt, "--data", data,
               "--plan", str(plan), "--out", str(out)]  # fmt: skip
    for option, value in (
        ("--decisions", decisions),
        ("--team-role", team_role),
        ("--associations", associations),
    ):
        if value is not None:
            command += [option, str(value)]
    return command + (["--all-rows"] if all_rows else [])


def export(
    fmt: Annotated[str, typer.Option("--format", help=" | ".join(FORMATS))],
    data: Annotated[str, typer.Option("--data", help="CRM export directory or SQLAlchemy URL")],
    plan: Annotated[Path, typer.Option("--plan", help="the approved plan (territory plan --out)")],
    out: Annotated[Path, typer.Option("--out", help="folder for the files and manifest.json")],
    decisions: Annotated[
        str | None, typer.Option("--decisions", help="decisions store URL (default: the service's)")
    ] = None,
    all_rows: Annotated[
        bool, typer.Option("--all-rows", help="include accounts whose owner does not change")
    ] = False,
    team_role: Annotated[
        str | None, typer.Option("--team-role", help="AccountTeamMember role (salesforce-team)")
    ] = None,
    associations: Annotated[
        Path | None,
        typer.Option(
            "--associations",
            help="ObjectTerritory2Association export (Id, ObjectId, "
            "Territory2Id): adds the territory delete file",
        ),
    ] = None,
) -> None:
    """Write an approved plan for the CRM: Salesforce owner/territory/team files, HubSpot import
    or batch-update payloads, changed owners only (unless --all-rows), with a manifest."""
    if fmt not in FORMATS:
        raise typer.BadParameter(
            f"{fmt!r} is not one of {', '.join(FORMATS)}", param_hint="--format"
        )
    command = export_command(
        fmt,
        data=data,
        plan=plan,
        out=out,
        decisions=decisions,
        all_rows=all_rows,
        team_role=team_role,
        associations=associations,
    )
    sys.stdout.flush()
    os.execv(sys.executable, command)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command()(export)
