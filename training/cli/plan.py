"""CLI commands: `territory plan` (owner per account under a scenario) and `territory compare`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

FIT_CHOICES = ("auto", "learned", "fallback")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("plan")(plan)
    app.command("compare")(compare)


def plan(
    data: Annotated[str, typer.Option("--data", help="CRM export directory, SQLite file or URL.")],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Root of the plan's versions: each run writes OUT/v0001, OUT/v0002, ... (never "
            "rewriting one) and points OUT/current at the newest feasible one.",
        ),
    ],
    scenario: Annotated[
        Path | None, typer.Option("--scenario", help="Scenario YAML (docs/scenarios/*.yaml).")
    ] = None,
    scores: Annotated[
        Path | None,
        typer.Option(
            "--scores",
            help="CSV/Parquet with account_id, potential (from `territory score`); default: "
            "score now with the registered champion model.",
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="MLflow model URI when scoring (no --scores).")
    ] = None,
    fit: Annotated[str, typer.Option(help="Rep fit: auto, learned or fallback.")] = "auto",
    time_limit: Annotated[
        float | None, typer.Option(help="Solver seconds (overrides the scenario).")
    ] = None,
    tradeoff: Annotated[
        bool,
        typer.Option(
            help="Also solve at 1, 2, 5, 10, 20, 30% disruption budgets (same inputs and fit, "
            "the scenario's time limit shared among them) and write tradeoff.csv/.png and a "
            "report.md section: the value-versus-moves curve the review page draws."
        ),
    ] = False,
) -> None:
    """Plan who should own each account; write assignments, moves, metrics, report and map as a
    new plan version under --out."""
    from models.errors import InfeasiblePlanError
    from models.planning import run_plan
    from training.plan_outputs import write_plan

    if fit not in FIT_CHOICES:
        raise typer.BadParameter(f"--fit {fit!r}: use one of {FIT_CHOICES}", param_hint="'--fit'")
    tables = _load_tables(data)
    chosen = _read_scenario(scenario, tables, time_limit)
    potential = (
        _read_scores(scores) if scores is not None else _score_now(tables, chosen, model, data)
    )
    from training.cli.console import console

    result, setup = run_plan(
        tables,
        potential,
        chosen,
        lambda crm, as_of: _rep_fit(fit, crm, as_of),
        progress=lambda text: console.print(f"  [dim]{text}[/dim]"),
    )
    inputs, fit_info = setup.inputs, setup.fit_info
    extra = {
        "as_of": str(inputs.as_of.date()),
        "fit": fit_info,
        "unscored_accounts": inputs.unscored_accounts,
        "unknown_scores": inputs.unknown_scores,
    }
    curve = None
    if tradeoff and result.feasible:
        from models.planning import tradeoff_curve

        console.print("  [dim]value-versus-moves curve[/dim]")
        curve = tradeoff_curve(setup, result)
    version = write_plan(result, out, chosen.name, extra, inputs.reps, inputs.accounts, curve)
    _print_summary(result, version)
    if not result.feasible:
        details = "\n  - ".join(result.conflicts)
        raise InfeasiblePlanError(
            f"no plan meets every limit of scenario {chosen.name!r}:\n  - "
            f"{details}\n(details in {version.folder / 'report.md'}; {out / 'current'} still "
            "points at the last feasible version)"
        )


def _load_tables(data: str):
    from features.loaders import load_crm

    return load_crm(data).tables


def _score_now(tables, scenario, model_uri: str | None, data: str):
    """Potential for every account from the registered model (no --scores given); a model
    trained on other data is refused (lineage)."""
    from models.errors import ModelNotFoundError
    from training.batch import predict_potential
    from training.cli.console import console
    from training.lineage import data_source_id
    from training.settings import TrainingSettings

    as_of = scenario.as_of or tables.default_as_of()
    console.print(f"no --scores: scoring {len(tables.accounts):,} accounts as of {as_of.date()}")
    try:
        _, _, scores, uri = predict_potential(
            tables, as_of, TrainingSettings(), model_uri=model_uri, data_source=data_source_id(data)
        )
    except ModelNotFoundError as exc:
        raise ModelNotFoundError(f"{exc} Or pass --scores FILE from `territory score`.") from exc
    console.print(f"  with {uri}")
    return scores[["account_id", "potential"]]


def _read_scores(path: Path):
    import pandas as pd

    if not path.exists():
        raise typer.BadParameter(
            f"{path} does not exist; pass --scores FILE from `territory score`",
            param_hint="'--scores'",
        )
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype={"account_id": "str"})


def _read_scenario(path: Path | None, tables, time_limit: float | None = None):
    """The scenario file (or the defaults), geocoded, with --time-limit applied."""
    from models.planning import scenario_for

    return scenario_for(_parse_scenario(path), tables.accounts, time_limit_s=time_limit)


def _parse_scenario(path: Path | None) -> dict[str, Any] | None:
    """The scenario file's document, named after the file unless it names itself."""
    import yaml

    if path is None:
        return None
    if not path.exists():
        raise typer.BadParameter(
            f"{path} does not exist (examples: docs/scenarios/*.yaml)", param_hint="'--scenario'"
        )
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise typer.BadParameter(
            f"{path} is not valid YAML: {exc}", param_hint="'--scenario'"
        ) from exc
    raw.setdefault("name", path.stem)
    return raw


def _rep_fit(choice: str, tables, as_of) -> tuple[Any, dict[str, Any]]:
    from models.repfit import RepFitModel, choose_rep_fit, fallback_fit

    if choice == "fallback":
        return fallback_fit, {"method": "fallback", "reason": "--fit fallback"}
    if choice == "learned":
        model = RepFitModel().fit(tables, as_of)
        return model, model.describe()
    return choose_rep_fit(tables, as_of)


def _print_summary(result, version) -> None:
    from rich.console import Console

    console = Console()
    style = "green" if result.feasible else "red"
    console.print(
        f"[{style}]{result.status}[/]: {len(result.moves)} moves, objective "
        f"{result.objective:,.0f}, gap {100 * result.gap:.2f}% (fit: {result.fit_method}, "
        f"solver: {result.solver}, {result.timings.get('total_s', 0):.1f} s)"
    )
    for path in version.written:
        console.print(f"  wrote {path}")
    where = "now current" if version.current else "not made current (no feasible plan)"
    console.print(f"plan version v{version.version:04d} ({version.plan_id}): {where}")


COMPARE_ROWS = (
    ("status", ("status",), "s"),
    ("objective / yr", ("objective",), ",.0f"),
    ("gap to bound", ("gap",), ".2%"),
    ("expected value / yr", ("after", "expected_value"), ",.0f"),
    ("accounts moved", ("after", "accounts_moved"), ",d"),
    ("potential moved", ("after", "share_potential_moved"), ".1%"),
    ("workload per rep: min", ("after", "workload", "min"), ",.1f"),
    ("workload per rep: max", ("after", "workload", "max"), ",.1f"),
    ("workload CV", ("after", "workload", "cv"), ".3f"),
    ("potential CV", ("after", "potential", "cv"), ".3f"),
    ("rep load max", ("after", "rep_load", "max"), ".2f"),
    ("travel km total", ("after", "travel_km_total"), ",.0f"),
    ("high-potential coverage", ("after", "coverage_high_potential"), ".1%"),
    ("fit", ("fit_method",), "s"),
)


def _lookup(doc: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        doc = doc.get(key) if isinstance(doc, dict) else None
    return doc


def compare(
    plan_a: Annotated[Path, typer.Argument(help="A plan directory (from `territory plan`).")],
    plan_b: Annotated[Path, typer.Argument(help="Another plan directory.")],
) -> None:
    """Show two plans' metrics side by side, with the difference."""
    from rich.console import Console
    from rich.table import Table

    docs = [_read_metrics(p) for p in (plan_a, plan_b)]
    table = Table(title=f"{docs[0].get('scenario')} vs {docs[1].get('scenario')}")
    for column in ("metric", str(plan_a), str(plan_b), "B - A"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for label, path, fmt in COMPARE_ROWS:
        a, b = (_lookup(d, path) for d in docs)
        diff = format(b - a, "+" + fmt.lstrip(",")) if _numbers(a, b) and fmt != "s" else ""
        table.add_row(label, _fmt(a, fmt), _fmt(b, fmt), diff)
    Console().print(table)


def _numbers(*values: Any) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _fmt(value: Any, fmt: str) -> str:
    if value is None:
        return "-"
    try:
        return format(value, fmt)
    except (TypeError, ValueError):
        return str(value)


def _read_metrics(folder: Path) -> dict[str, Any]:
    from models.planning import PlanFolderError, read_plan_metrics

    try:
        return read_plan_metrics(folder)
    except PlanFolderError as exc:
        raise typer.BadParameter(f"{exc} (pass a directory written by `territory plan`)") from exc
