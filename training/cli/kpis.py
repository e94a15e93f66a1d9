"""CLI command: `territory kpis`, KPIs per rep, region or company for a period."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

SHOWN = (
    "won_revenue",
    "win_rate",
    "avg_deal_size",
    "sales_cycle_days",
    "open_pipeline",
    "accounts_owned",
    "accounts_active",
    "coverage",
    "revenue_per_account",
    "market_penetration",
)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("kpis")(kpis)


def kpis(
    data: Annotated[str, typer.Option("--data", help="CRM export directory, SQLite file or URL.")],
    start: Annotated[
        str | None,
        typer.Option(
            "--from", help="First day of the period (ISO); default: 12 months before --to."
        ),
    ] = None,
    stop: Annotated[
        str | None,
        typer.Option(
            "--to", help="Day after the period (ISO, exclusive); default: the data's end."
        ),
    ] = None,
    by: Annotated[str, typer.Option("--by", help="rep, region or company.")] = "rep",
    scores: Annotated[
        Path | None,
        typer.Option(
            "--scores",
            help="account_id, potential (from `territory score`): coverage and penetration.",
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the table here (.csv or .parquet).")
    ] = None,
) -> None:
    """Won revenue, pipeline, win rate, cycle, deal size, coverage, productivity, penetration."""
    import pandas as pd

    from features.loaders import load_crm
    from models.kpis import check_period, kpi_table
    from training.cli.console import console, print_frame

    tables = load_crm(data).tables
    period_stop = pd.Timestamp(stop) if stop else tables.default_as_of()
    period_start = pd.Timestamp(start) if start else period_stop - pd.DateOffset(years=1)
    check_period(period_start, period_stop, by)
    potential = _read_potential(scores) if scores is not None else None
    table = kpi_table(tables, period_start, period_stop, by=by, potential=potential)
    title = f"KPIs by {by}, {period_start.date()} to {period_stop.date()} (exclusive)"
    shown = [c for c in table.columns if c in SHOWN or c == by]
    print_frame(table[shown], title=title)
    if potential is None:
        console.print("[dim]coverage and market penetration need --scores (potential)[/dim]")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix == ".parquet":
            table.to_parquet(out, index=False)
        else:
            table.to_csv(out, index=False)
        console.print(f"wrote {len(table)} row(s) to {out}")


def _read_potential(path: Path):
    """The potential column of a scores file, by account_id."""
    import pandas as pd

    if not path.exists():
        raise typer.BadParameter(
            f"{path} does not exist; pass --scores FILE from `territory score`",
            param_hint="'--scores'",
        )
    frame = (
        pd.read_parquet(path)
        if path.suffix == ".parquet"
        else pd.read_csv(path, dtype={"account_id": "str"})
    )
    missing = [c for c in ("account_id", "potential") if c not in frame.columns]
    if missing:
        raise typer.BadParameter(
            f"{path} lacks column(s) {missing}; pass the scores file `territory score` writes.",
            param_hint="'--scores'",
        )
    return frame.set_index(frame["account_id"].astype(str))["potential"].astype(float)
