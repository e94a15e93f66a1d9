"""CLI commands: train, score, promote (registered by training.cli)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from training.cli.cluster import ClusterOpt
from training.cli.console import console, print_frame, progress_bar


class Objective(str, Enum):  # noqa: UP042 (str() of members stays as typer shows it)
    revenue = "revenue"
    conversion = "conversion"


DataOpt = Annotated[str, typer.Option("--data", help="CRM export directory or SQLAlchemy URL")]
HorizonOpt = Annotated[int, typer.Option("--horizon", min=7, help="label horizon in days")]
ObjectiveOpt = Annotated[Objective, typer.Option("--objective")]
AsOfOpt = Annotated[
    datetime | None,
    typer.Option(
        "--as-of",
        formats=["%Y-%m-%d"],
        help="use data strictly before this date "
        "(default: the day after the latest opportunity date)",
    ),
]


def _oracle(data: str, tables):
    """For a sample world (DATA/truth exists): window -> each account's expected won revenue in
    it under the owners of that time (the ceiling the quality table compares with)."""
    from training.train import ExportFacts

    truth_dir = Path(data) / "truth"
    if isinstance(tables, ExportFacts) or not truth_dir.is_dir():
        return None  # an export held on a cluster: the oracle would need its tables here
    from features.sample_world import window_oracle
    from features.sample_world.writer import load_truth

    return window_oracle(load_truth(truth_dir), tables)


def train(
    data: DataOpt,
    as_of: AsOfOpt = None,
    horizon: HorizonOpt = 365,
    objective: ObjectiveOpt = Objective.revenue,
    promote: Annotated[
        bool,
        typer.Option(
            "--promote", help="also set alias `champion` if the gates pass (docs/retraining.md)"
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="register and (with --promote) promote even when a gate fails",
        ),
    ] = False,
    allow_leakage: Annotated[
        bool,
        typer.Option("--allow-leakage", help="train even when a feature looks too good to be true"),
    ] = False,
    extra_feature: Annotated[
        list[str], typer.Option("--extra-feature", help="extra account column to use as a feature")
    ] = [],  # noqa: B006 - typer needs a literal default
    cluster: ClusterOpt = None,
    max_train_rows: Annotated[
        int,
        typer.Option(
            "--max-train-rows",
            help="account-snapshots fitted at most (snapshots thinned, accounts sampled beyond "
            "it; the holdout still scores every account); 0 = every row",
        ),
    ] = 400_000,
) -> None:
    """Train the potential model, evaluate it against baselines, log and register it in MLflow.

    Exit 3 when --promote was asked but a gate kept the champion (the model stays `challenger`).
    """
    import pandas as pd

    from training.cli.cluster import training_data
    from training.cli.progress import ticking
    from training.gates import GatePolicy, all_gates
    from training.lineage import data_source_id
    from training.register import log_and_register
    from training.retrain import current_champion, planned_lineage
    from training.settings import TrainingSettings
    from training.train import TrainConfig, account_count, train_potential

    config = TrainConfig(
        as_of=pd.Timestamp(as_of) if as_of else None,
        horizon_days=horizon,
        objective=objective.value,
        extra_columns=tuple(extra_feature),
        max_train_rows=max_train_rows or None,
    )
    # a bad --data fails here, before MLflow and LightGBM load
    inputs = training_data(data, cluster, horizon, tuple(extra_feature))
    with (
        inputs as (tables, data, hooks),
        ticking("train", account_count(tables)),
        console.status("training") as status,
    ):
        settings = TrainingSettings()
        result = train_potential(
            tables,
            config,
            oracle=_oracle(data, tables),
            allow_leakage=allow_leakage,
            progress=lambda m: (status.update(m), console.print(m, highlight=False)),
            build=hooks.get("build"),
            refit=hooks.get("refit"),
        )
        lineage = planned_lineage(
            tables, data_source_id(data), result.config, result.dataset_digest
        )
        gates = []
        if promote:
            status.update("judging against the champion")
            gates = all_gates(result, current_champion(settings), lineage, GatePolicy())
        passed = all(g.passed for g in gates)
        status.update("logging to MLflow")
        run_id, version = log_and_register(
            result, settings, promote=promote and (passed or force), force=force, lineage=lineage
        )
    for note in result.warnings:
        console.print(f"[yellow]warning:[/] {note}")
    console.print(
        f"candidates (validation as_of {result.plan.validation.date()}), "
        f"chose [bold]{result.chosen}[/]"
    )
    shown = result.selection.rename(
        columns={
            "capture_top10": "top10",
            "capture_top20": "top20",
            "normalized_gini": "gini",
            "within_tolerance": "within_1%",
        }
    )
    print_frame(shown, title="model selection (forward validation, held-out accounts)")
    print_frame(
        result.comparison.rename(
            columns={"capture_top10": "top10", "capture_top20": "top20", "normalized_gini": "gini"}
        ),
        title=f"holdout as_of {result.plan.holdout.date()}, horizon {horizon} d",
    )
    _print_targets(result.comparison)
    if gates:
        print_gates(gates)
    promoted = promote and (passed or force)
    aliases = "challenger, champion" if promoted else "challenger"
    console.print(
        f"run id [bold]{run_id}[/]; registered {settings.model_name} v{version} ({aliases})"
    )
    console.print(f"MLflow UI: mlflow ui --backend-store-uri {settings.tracking_uri}")
    if promote and not promoted:
        failed = ", ".join(g.name for g in gates if not g.passed)
        console.print(
            f"[yellow]not promoted:[/] gate(s) {failed} failed; the champion is unchanged. "
            "Fix the data or add --force to promote anyway."
        )
        raise typer.Exit(3)


def print_gates(gates) -> None:
    """The promotion gates as a table (name, pass/fail, the numbers)."""
    import pandas as pd

    print_frame(
        pd.DataFrame(
            {
                "gate": [g.name for g in gates],
                "result": ["pass" if g.passed else "FAIL" for g in gates],
                "detail": [g.detail for g in gates],
            }
        ),
        title="promotion gates",
    )


def _print_targets(comparison) -> None:
    table = comparison.set_index("model")["capture_top20"]
    model, baseline = table["potential_model"], table["last_12m_revenue"]
    console.print(f"top-20% capture: model {model:.3f} = {model / baseline:.2f}x last-12m baseline")
    if "oracle_true_potential" in table:
        console.print(f"                 = {model / table['oracle_true_potential']:.1%} of oracle")


def score(
    data: DataOpt,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="output .csv or .parquet; default DATA/scores.parquet"),
    ] = None,
    as_of: AsOfOpt = None,
    model: Annotated[str | None, typer.Option("--model", help="MLflow model URI")] = None,
    previous: Annotated[
        Path | None,
        typer.Option(
            "--previous",
            help="an earlier scores file whose unchanged accounts are kept (default: --out "
            "when it exists)",
        ),
    ] = None,
    rescore_all: Annotated[
        bool, typer.Option("--all", help="rescore every account, even unchanged ones")
    ] = False,
    ignore_lineage: Annotated[
        bool,
        typer.Option("--ignore-lineage", help="score even with a model trained on other data"),
    ] = False,
    cluster: ClusterOpt = None,
) -> None:
    """Score every active account: potential, percentile, tier and top reasons.

    Accounts whose features and model version are unchanged since the previous scores file are
    not scored again (`--all` rescores them too); the new file replaces --out atomically.
    """
    import pandas as pd

    from training.cli.workspace import model_for, workspace
    from training.cluster import cluster_address

    out = out if out is not None else workspace(data).scores
    if out.suffix not in {".csv", ".parquet"}:
        raise typer.BadParameter(f"{out} must end in .csv or .parquet", param_hint="--out")
    address = cluster_address(cluster)
    if address is not None:
        from training.cli.cluster import score_on_cluster

        score_on_cluster(address, data, out, as_of, model, ignore_lineage)
        return

    from training.cli.cluster import needs_cluster

    needs_cluster(data, data)
    from features.loaders import load_crm
    from training.batch import read_previous_scores, score_accounts, write_scores
    from training.lineage import data_source_id
    from training.settings import TrainingSettings

    if previous is not None and not previous.exists():
        raise typer.BadParameter(
            f"{previous} does not exist; pass an earlier `territory score --out` file or drop "
            "--previous",
            param_hint="--previous",
        )
    settings = TrainingSettings()
    tables = load_crm(data).tables
    # --ignore-lineage without --model: the champion, whatever data it was trained on
    model = model if ignore_lineage else model_for(data, model)
    cut = pd.Timestamp(as_of) if as_of else tables.default_as_of()
    source = previous if previous is not None else (out if out.exists() else None)
    earlier = None if rescore_all or source is None else read_previous_scores(source)
    stages = ["loading the model", "building features", "scoring", "explaining"]
    from training.cli.progress import ticking

    with ticking("score", len(tables.accounts)), progress_bar() as bar:
        task = bar.add_task("scoring", total=len(stages))

        def step(stage: str) -> None:
            bar.update(task, completed=stages.index(stage), description=stage)

        run = score_accounts(
            tables,
            cut,
            settings,
            model_uri=model,
            previous=earlier,
            data_source=None if ignore_lineage else data_source_id(data),
            progress=step,
        )
        bar.update(task, completed=len(stages), description="done")
    write_scores(run.scores, out)
    scores = run.scores
    console.print(
        f"scored {len(scores)} accounts as of {cut.date()} with {run.model_version} "
        f"({run.model_uri}) -> {out}"
    )
    console.print(
        f"rescored {run.rescored}, skipped {run.skipped} unchanged "
        f"(features and model version as in {source if earlier is not None else 'no earlier file'})"
    )
    print_frame(
        scores.groupby("tier")
        .agg(accounts=("account_id", "size"), potential=("potential", "sum"))
        .reset_index(),
        title="by tier",
    )


def promote(
    version: Annotated[str, typer.Argument(help="registered version to make champion")],
    force: Annotated[
        bool, typer.Option("--force", help="confirm: this moves `champion` without any gate")
    ] = False,
) -> None:
    """Set alias `champion` on a registered version by hand (no gates: needs --force).

    `territory retrain` and `territory train --promote` promote through the gates instead."""
    if not force:
        raise typer.BadParameter(
            f"promote moves `champion` to v{version} without comparing it with the current "
            "champion or the baselines. Use `territory retrain --data DIR` (or `train "
            "--promote`) to promote through the gates, or add --force to do it by hand.",
            param_hint="--force",
        )
    from mlflow import MlflowClient

    from training.register import configure
    from training.settings import TrainingSettings

    settings = TrainingSettings()
    configure(settings)
    MlflowClient().set_registered_model_alias(settings.model_name, "champion", version)
    console.print(f"{settings.model_name} v{version} is now champion")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command()(train)
    app.command()(score)
    app.command()(promote)
