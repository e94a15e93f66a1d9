"""CLI commands for CRM data: `territory validate` and `territory import`.

Both print the validation report (one row per issue, with the fix), the row counts and the
quarantine summary line, and exit with status 1 when the export has a fatal problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from features.loaders import LoadResult

SEVERITY_STYLES = {"fatal": "bold red", "quarantine": "yellow", "warning": "cyan"}
PIPED_WIDTH = 160  # wide enough that messages stay readable in logs and CI output


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("validate")(validate)
    app.command("import")(import_export)


def validate(
    data: Annotated[
        str, typer.Option("--data", help="Export directory (CSV/Parquet), SQLite file or SQL URL.")
    ],
    quarantine_dir: Annotated[
        Path | None,
        typer.Option(help="Where quarantined rows go. Default: DATA/quarantine for a directory."),
    ] = None,
    schema: Annotated[str | None, typer.Option(help="SQL schema holding the tables.")] = None,
    table_prefix: Annotated[str, typer.Option(help="SQL table name prefix.")] = "",
) -> None:
    """Check a CRM export against the data contract and write the quarantine report."""
    from features.loaders import is_sql, load_crm

    if quarantine_dir is None and not is_sql(data):
        quarantine_dir = Path(data) / "quarantine"
    result = load_crm(data, schema=schema, table_prefix=table_prefix, quarantine_dir=quarantine_dir)
    _print_result(result)


def import_export(
    src: Annotated[Path, typer.Argument(help="Directory holding the foreign export's files.")],
    mapping: Annotated[
        str, typer.Option(help="Mapping YAML file, or a shipped mapping's name (maven_crm).")
    ],
    out: Annotated[
        str, typer.Option(help="Directory (or SQL URL) to write the contract export to.")
    ],
    file_format: Annotated[
        str, typer.Option("--format", help="File format for a directory: csv or parquet.")
    ] = "csv",
    quarantine_dir: Annotated[
        Path | None, typer.Option(help="Where quarantined rows go. Default: OUT/quarantine.")
    ] = None,
) -> None:
    """Map a foreign CRM export onto the contract with a YAML mapping, validate it in a new
    version folder and only then make it OUT's data (a failed import leaves OUT as it was)."""
    from features.imports import ImportRefused
    from features.loaders import FILE_FORMATS, CrmSourceError
    from features.loaders import import_export as run_import

    if file_format not in FILE_FORMATS:
        raise CrmSourceError(f"--format {file_format!r}: use one of {', '.join(FILE_FORMATS)}.")
    fmt: Literal["csv", "parquet"] = "parquet" if file_format == "parquet" else "csv"
    try:
        result = run_import(mapping, src, out, fmt=fmt, quarantine_dir=quarantine_dir)
    except ImportRefused as refused:
        if refused.result is not None:
            _print_result(refused.result, exit_on_fatal=False)
        _console().print(f"error: {refused}", markup=False, soft_wrap=True)
        raise SystemExit(1) from None
    _console().print(f"wrote the contract export to {out}", markup=False)
    _print_result(result)


def _console() -> Console:
    from rich.console import Console

    console = Console(highlight=False)
    return console if console.is_terminal else Console(highlight=False, width=PIPED_WIDTH)


def _print_result(result: LoadResult, *, exit_on_fatal: bool = True) -> None:
    from rich.markup import escape
    from rich.table import Table

    console, report = _console(), result.report
    if report.issues:
        table = Table("severity", "table", "column", "check", "count", "example ids", "fix")
        for issue in report.issues:
            style = SEVERITY_STYLES[issue.severity]
            cells = (issue.table, issue.column or "", issue.check, str(issue.count),
                     ", ".join(issue.example_ids), issue.message)  # fmt: skip
            table.add_row(f"[{style}]{issue.severity}[/]", *map(escape, cells))
        console.print(table)
    else:
        console.print(f"{escape(result.source)}: no problems found")
    rows = ", ".join(
        f"{name} {n} -> {report.rows_out.get(name, 0)}" for name, n in report.rows_in.items()
    )
    console.print(f"rows in -> out: {rows}", soft_wrap=True)
    console.print(escape(report.summary()), soft_wrap=True)
    if result.quarantine_dir is not None:
        console.print(f"quarantine report: {escape(str(result.quarantine_dir))}", soft_wrap=True)
    elif report.quarantined_rows:
        console.print("quarantined rows were not written: pass --quarantine-dir", soft_wrap=True)
    if report.fatal and exit_on_fatal:
        # SystemExit, not typer.Exit: training.cli.main runs the app with standalone_mode=False,
        # where click turns typer.Exit into a return value and the status would be lost.
        raise SystemExit(1)
