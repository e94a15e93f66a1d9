"""A small potential model registered in a test's MLflow store (seconds, not a full training)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def register_small_model(
    tables, data_dir: Path, *, n_estimators: int = 60, num_leaves: int = 7, alias="champion"
) -> str:
    """Fit a small LightGBM on the world, register it as account-potential, set `alias`; the
    registered version number."""
    import mlflow
    from mlflow import MlflowClient

    from features.history import label_won_revenue
    from features.pipeline import build_account_features
    from models.potential import PYFUNC_MODEL_FILE, PotentialModel, write_model_dir

    as_of = tables.latest_date() - pd.Timedelta(days=365)
    X = build_account_features(tables, as_of)
    y = label_won_revenue(tables.opportunities, as_of, 365).reindex(X.index, fill_value=0.0)
    model = PotentialModel(
        n_estimators=n_estimators,
        num_leaves=num_leaves,
        max_depth=3,
        min_child_samples=10,
        num_threads=1,
    ).fit(X, y)
    mlflow.set_tracking_uri(f"sqlite:///{data_dir / 'mlflow.db'}")
    name = "small-models"
    experiment = mlflow.get_experiment_by_name(name)
    experiment_id = (
        experiment.experiment_id
        if experiment
        else mlflow.create_experiment(name, artifact_location=(data_dir / "mlart").as_uri())
    )
    with mlflow.start_run(experiment_id=experiment_id):
        model_dir = write_model_dir(
            model, data_dir / f"tmp_model_{n_estimators}_{num_leaves}" / "potential_model"
        )
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=PYFUNC_MODEL_FILE,
            artifacts={"potential_model": str(model_dir)},
            pip_requirements=["lightgbm"],
        )
    version = mlflow.register_model(info.model_uri, "account-potential").version
    MlflowClient().set_registered_model_alias("account-potential", alias, version)
    return str(version)
