"""CLI command: `territory plan` (owner per account under a scenario; `compare` is compare.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from training.cli.cluster import ClusterOpt

FIT_CHOICES = ("auto", "learned", "fallback")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    from training.cli.compare import compare

    app.command("plan")(plan)
    app.command("compare")(compare)


def plan(
    data: Annotated[str, typer.Option("--data", help="CRM export directory, SQLite file or URL.")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Root of the plan's versions: each run writes OUT/v0001, OUT/v0002, ... (never "
            "rewriting one) and points OUT/current at the newest feasible one; default DATA/plan.",
        ),
    ] = None,
    scenario: Annotated[
        Path | None, typer.Option("--scenario", help="Scenario YAML (docs/scenarios/*.yaml).")
    ] = None,
    scores: Annotated[
        Path | None,
        typer.Option(
            "--scores",
            help="CSV/Parquet with account_id, potential (from `territory score`); default: "
            "DATA/scores.parquet, else score now with the model trained on DATA.",
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="MLflow model URI when scoring (no --scores).")
    ] = None,
    fit: Annotated[str, typer.Option(help="Rep fit: auto, learned or fallback.")] = "auto",
    time_limit: Annotated[
        float | None, typer.Option(help="Solver seconds (overrides the scenario).")
    ] = None,
    cluster: ClusterOpt = None,
    locks: Annotated[
        Path | None,
        typer.Option(
            "--locks",
            help="Locks from managers' decisions (overrides, accepted contests): the JSON the "
            "service's POST /locks answers. They join the scenario's locks; the report lists them.",
        ),
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
    from training.cli.workspace import scores_for, workspace
    from training.plan_outputs import write_plan

    out = out if out is not None else workspace(data).plans
    scores = scores_for(data, scores)
    if fit not in FIT_CHOICES:
        raise typer.BadParameter(f"--fit {fit!r}: use one of {FIT_CHOICES}", param_hint="'--fit'")
    tables = _load_tables(data)
    chosen = _read_scenario(scenario, tables, time_limit)
    decision_locks = []
    if locks is not None:
        from training.decision_locks import read_locks_file, with_decision_locks

        decision_locks = read_locks_file(locks)
        chosen = with_decision_locks(chosen, decision_locks, tables.latest_date())
    potential = (
        _read_scores(scores) if scores is not None else _score_now(tables, chosen, model, data)
    )
    from training.cli.cluster import region_solver_for
    from training.cli.console import console
    from training.cli.progress import ticking
    from training.cluster import cluster_address

    with (
        ticking("plan", len(tables.accounts)),
        region_solver_for(cluster_address(cluster)) as solve_regions,
    ):
        result, setup = run_plan(
            tables,
            potential,
            chosen,
            lambda crm, as_of: _rep_fit(fit, crm, as_of),
            progress=lambda text: console.print(f"  [dim]{text}[/dim]"),
            solve_regions=solve_regions,
        )
    inputs, fit_info = setup.inputs, setup.fit_info
    from training.cli.compare import dataset_identity

    extra = {
        **dataset_identity(data, tables),
        "as_of": str(inputs.as_of.date()),
        "fit": fit_info,
        "unscored_accounts": inputs.unscored_accounts,
        "unknown_scores": inputs.unknown_scores,
    }
    if decision_locks:
        extra["decision_locks"] = decision_locks

    advice = _feasible_with(setup, result.conflicts) if not result.feasible else []
    if advice:
        extra["feasible_with"] = advice
    curve = None
    if tradeoff and result.feasible:
        from models.planning import tradeoff_curve

        console.print("  [dim]value-versus-moves curve[/dim]")
        curve = tradeoff_curve(setup, result)
    version = write_plan(result, out, chosen.name, extra, inputs.reps, inputs.accounts, curve)
    for note in result.metrics.get("ignored_locks", ()):
        console.print(
            f"[yellow]ignored:[/] {note}; fix the id in the scenario YAML", soft_wrap=True
        )
    _print_summary(result, version)
    if not result.feasible:
        details = "\n  - ".join(result.conflicts)
        fix = "\n  ".join(advice)
        raise InfeasiblePlanError(
            f"no plan meets every limit of scenario {chosen.name!r}:\n  - "
            f"{details}\nwhat makes it feasible, in the scenario YAML:\n  {fix}\n(details in "
            f"{version.folder / 'report.md'}; {out / 'current'} still points at the last "
            "feasible version)"
        )


def _feasible_with(setup, conflicts) -> list[str]:
    """YAML values that make the plan feasible, each checked by re-solving (models.planning).
    The conflicts are printed first: the search re-solves the plan several times, which takes
    as long as the plan did each time (an hour on 1M accounts), and the reason is known now."""
    from dataclasses import replace

    from models.planning import plan_from_setup, relax_until_feasible
    from training.cli.console import console

    shown = [f"  - {c}" for c in conflicts[:10]]
    if len(conflicts) > 10:
        shown.append(f"  - ... and {len(conflicts) - 10} more (all in report.md)")
    console.print("no feasible plan:\n" + "\n".join(shown), soft_wrap=True)
    console.print(
        "re-solving with looser limits to find values that work (each try takes about as long "
        "as the plan did; Ctrl-C stops the search and still writes the plan folder)"
    )
    try:
        relaxed = relax_until_feasible(
            setup.scenario, lambda scenario: plan_from_setup(replace(setup, scenario=scenario))
        )
    except KeyboardInterrupt:
        return ["the search for looser limits was stopped (Ctrl-C) before it found values"]
    if relaxed is None:
        return [
            "no looser `limits:` (bands up to 1.0, disruption limits off) gave a plan: add reps "
            "or capacity (`add_reps`, `capacity`), or remove locks."
        ]
    return relaxed.sentences()


def _load_tables(data: str):
    """The export's tables; a partitioned export (the Dask layout) as one, since the plan
    weighs every account against every rep in this process (only regions go to a cluster)."""
    from features.loaders import load_crm
    from features.partitions import is_partitioned, load_whole

    return load_whole(data) if is_partitioned(data) else load_crm(data).tables


def _score_now(tables, scenario, model_uri: str | None, data: str):
    """Potential for every account from the registered model (no --scores given); a model
    trained on other data is refused (lineage)."""
    from models.errors import ModelNotFoundError
    from training.batch import predict_potential
    from training.cli.console import console
    from training.cli.workspace import model_for
    from training.lineage import data_source_id
    from training.settings import TrainingSettings

    as_of = scenario.as_of or tables.default_as_of()
    console.print(f"no --scores: scoring {len(tables.accounts):,} accounts as of {as_of.date()}")
    try:
        model_uri = model_for(data, model_uri)
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
