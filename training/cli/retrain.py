"""CLI command: retrain (registered by training.cli). See docs/retraining.md."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from training.cli.cluster import ClusterOpt
from training.cli.console import console
from training.cli.model import (
    AsOfOpt,
    DataOpt,
    HorizonOpt,
    Objective,
    ObjectiveOpt,
    _oracle,
    print_gates,
)


def retrain(
    data: DataOpt,
    as_of: AsOfOpt = None,
    horizon: HorizonOpt = 365,
    objective: ObjectiveOpt = Objective.revenue,
    max_drop: Annotated[
        float,
        typer.Option(
            "--max-drop", min=0.0, max=1.0, help="allowed holdout Gini drop against the champion"
        ),
    ] = 0.01,
    force: Annotated[
        bool, typer.Option("--force", help="promote even when a gate fails (logged as forced)")
    ] = False,
    cluster: ClusterOpt = None,
) -> None:
    """Train a challenger and promote it to champion only if every gate passes.

    Safe from cron: one run at a time; unchanged data is kept without training.

    Exit codes: 0 promoted, 3 kept, 1 failed, 75 another run is going.
    """
    import pandas as pd

    from training.cli.cluster import training_data
    from training.gates import GatePolicy
    from training.lineage import data_source_id
    from training.retrain import retrain as run_retrain
    from training.settings import TrainingSettings
    from training.train import TrainConfig

    settings = TrainingSettings()
    config = TrainConfig(
        as_of=pd.Timestamp(as_of) if isinstance(as_of, datetime) else None,
        horizon_days=horizon,
        objective=objective.value,
    )
    inputs = training_data(data, cluster, horizon, ())
    with inputs as (tables, data, hooks), console.status("retraining") as status:
        outcome = run_retrain(
            tables,
            data_source_id(data),
            settings,
            config,
            policy=GatePolicy(max_drop=max_drop),
            force=force,
            oracle=_oracle(data, tables),
            progress=lambda m: status.update(m),
            hooks=hooks,
        )
    if outcome.gates:
        print_gates(outcome.gates)
    for warning in (outcome.drift or {}).get("warnings", [])[:10]:
        console.print(f"[yellow]drift:[/] {warning}")
    colour = {"promoted": "green", "kept": "yellow"}.get(outcome.decision, "red")
    version = f" v{outcome.version}" if outcome.version else ""
    before = f" (champion before: v{outcome.champion_version})" if outcome.champion_version else ""
    console.print(f"[{colour}]{outcome.decision}[/]{version}{before}")
    for reason in outcome.reasons:
        console.print(f"  {reason}")
    raise typer.Exit(outcome.exit_code)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command()(retrain)
