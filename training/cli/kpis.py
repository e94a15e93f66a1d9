"""CLI commands: `territory kpis` (KPIs per rep, region or company for a period), `territory
outcomes` (what an approved plan did) and `territory goals` (goals per territory, into the plan)."""

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
    app.command("outcomes")(outcomes)
    app.command("goals")(goals)


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


def _plan_assignments(plan: Path):
    from models.planning import read_plan_folder

    table = read_plan_folder(plan).plan.assignments
    if table is None:
        raise typer.BadParameter(
            f"{plan} holds no assignments.csv (an infeasible plan?); pass a feasible plan folder.",
            param_hint="'--plan'",
        )
    return table


def outcomes(
    data: Annotated[str, typer.Option("--data", help="CRM export after the plan took effect.")],
    plan: Annotated[Path, typer.Option("--plan", help="The approved plan's folder.")],
    effective: Annotated[str, typer.Option("--effective", help="The plan's effective date (ISO).")],
    stop: Annotated[
        str | None, typer.Option("--to", help="End of the window (exclusive); default +12 months.")
    ] = None,
    holdback: Annotated[
        Path | None,
        typer.Option("--holdback", help="CSV with account_id: moves held back on purpose."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Directory for outcome_accounts/reps.csv.")
    ] = None,
) -> None:
    """Actual against predicted per account and rep, moved against kept, and the measured lift."""
    import pandas as pd

    from features.loaders import load_crm
    from models.kpis import plan_outcomes
    from training.cli.console import console, print_frame

    tables = load_crm(data).tables
    held = []
    if holdback is not None:
        held = pd.read_csv(holdback, dtype={"account_id": "str"})["account_id"].tolist()
    result = plan_outcomes(tables, _plan_assignments(plan), pd.Timestamp(effective), stop, held)
    lift = result.lift
    print_frame(result.reps, title=f"Per rep, {result.effective.date()} to {result.stop.date()}")
    console.print(
        f"lift of {lift.moved_accounts} moved accounts against {lift.control_accounts} "
        f"{lift.comparison}: {lift.lift_ratio:+.1%} (95% interval {lift.lift_ratio_low:+.1%} to "
        f"{lift.lift_ratio_high:+.1%}), {lift.lift:,.0f} in revenue"
    )
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        result.accounts.to_csv(out / "outcome_accounts.csv", index=False)
        result.reps.to_csv(out / "outcome_reps.csv", index=False)
        console.print(f"wrote outcome_accounts.csv and outcome_reps.csv to {out}")


def goals(
    data: Annotated[str, typer.Option("--data", help="CRM export directory, SQLite file or URL.")],
    plan: Annotated[Path, typer.Option("--plan", help="Plan folder; goals.csv is written there.")],
    confidence: Annotated[float, typer.Option(help="Interval coverage, e.g. 0.8.")] = 0.8,
    holdout: Annotated[
        Path | None,
        typer.Option(
            "--holdout",
            help="CSV account_id, predicted, actual of a past year; default: score the data as "
            "of a year ago with --model and compare with the year since.",
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="MLflow model URI for the default holdout.")
    ] = None,
) -> None:
    """Goals per territory from the plan's potential: calibrated, with intervals, and fairness."""
    import json

    from features.loaders import load_crm
    from models.kpis import calibrate_goals, fairness, territory_goals
    from training.cli.console import console, print_frame

    tables = load_crm(data).tables
    predicted, actual = _holdout(tables, holdout, model)
    assignments = _plan_assignments(plan).set_index("account_id")
    book = max(1, int(assignments.groupby("rep_id").size().median()))
    book = min(book, len(predicted))
    calibrator = calibrate_goals(predicted, actual, book_size=book, confidence=confidence)
    table = territory_goals(
        calibrator,
        assignments["potential"].astype(float),
        assignments["rep_id"],
        assignments["expected_value"].astype(float),
    )
    view = fairness(table)
    table.to_csv(plan / "goals.csv", index=False)
    doc = {"scale": calibrator.scale, "confidence": confidence, "book_size": book, **view}
    (plan / "goals.json").write_text(json.dumps(doc, indent=2) + "\n")
    print_frame(table, title=f"Goals per rep, next 12 months ({confidence:.0%} intervals)")
    console.print(
        f"calibration scale {calibrator.scale:.3f}; expected attainment across reps: median "
        f"{view['median']:.2f}, p10-p90 {view['p10']:.2f}-{view['p90']:.2f}; wrote goals.csv "
        f"and goals.json to {plan}"
    )


def _holdout(tables, path: Path | None, model: str | None):
    """(predicted, actual) per account for the holdout year."""
    import pandas as pd

    from models.kpis import won_between

    if path is not None:
        frame = pd.read_csv(path, dtype={"account_id": "str"}).set_index("account_id")
        missing = [c for c in ("predicted", "actual") if c not in frame]
        if missing:
            raise typer.BadParameter(
                f"{path} lacks column(s) {missing}; it needs account_id, predicted, actual.",
                param_hint="'--holdout'",
            )
        return frame["predicted"].astype(float), frame["actual"].astype(float)
    from training.batch import predict_potential
    from training.settings import TrainingSettings

    stop = tables.default_as_of()
    start = stop - pd.Timedelta(days=365)
    _, _, scores, _ = predict_potential(tables, start, TrainingSettings(), model_uri=model)
    predicted = scores.set_index("account_id")["potential"].astype(float)
    actual = won_between(tables, start, stop).reindex(predicted.index).fillna(0.0)
    return predicted, actual
