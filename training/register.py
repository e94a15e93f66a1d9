"""Log a training run to MLflow, register `account-potential` and set aliases."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import mlflow
from mlflow import MlflowClient
from mlflow.models import infer_signature

from models.potential import PYFUNC_MODEL_FILE, write_model_dir
from training import plots
from training.lineage import Lineage
from training.settings import TrainingSettings
from training.train import BaselineGateError, TrainingResult

PIP_REQUIREMENTS = [
    f"lightgbm=={__import__('lightgbm').__version__}",
    f"pandas=={__import__('pandas').__version__}",
    f"numpy=={__import__('numpy').__version__}",
    f"mlflow=={mlflow.__version__}",
]


def configure(settings: TrainingSettings) -> None:
    """Point MLflow at the configured store and make sure the experiment exists."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    outside = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(settings.tracking_uri)
    # MLflow exports the URI as MLFLOW_TRACKING_URI for child processes; undo that, so the next
    # TrainingSettings() in this process reads the environment it was really given.
    if outside is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = outside
    if mlflow.get_experiment_by_name(settings.mlflow_experiment) is None:
        mlflow.create_experiment(
            settings.mlflow_experiment, artifact_location=settings.artifact_location
        )
    mlflow.set_experiment(settings.mlflow_experiment)


def _log_params(result: TrainingResult) -> None:
    cfg, plan = result.config, result.plan
    mlflow.log_params(
        {
            "objective": cfg.objective,
            "horizon_days": cfg.horizon_days,
            "feature_set": cfg.feature_set,
            "feature_set_version": 1,
            "extra_columns": ",".join(cfg.extra_columns) or "-",
            "as_of": cfg.as_of.date().isoformat(),
            "holdout_as_of": plan.holdout.date().isoformat(),
            "validation_as_of": plan.validation.date().isoformat(),
            "validation": plan.validation_kind,
            "train_as_ofs": ",".join(d.date().isoformat() for d in plan.train),
            "refit_as_ofs": ",".join(d.date().isoformat() for d in plan.refit),
            "chosen_candidate": result.chosen,
            "dataset_digest": result.dataset_digest,
            "seed": cfg.seed,
            "max_train_rows": cfg.max_train_rows or "-",
            "sample_fraction": round(result.sample.fraction, 5) if result.sample else 1.0,
            "snapshot_step_months": result.sample.step_months if result.sample else 1,
            **{
                f"model_{k}": v
                for k, v in result.model.get_params().items()
                if k != "monotone_increasing"
            },
            "monotone_increasing": ",".join(result.model.monotone_increasing) or "-",
        }
    )


def _log_figures(result: TrainingResult) -> None:
    holdout = result.holdout
    features = holdout[result.model.feature_names_]
    sample = features.sample(min(2000, len(features)), random_state=result.config.seed)
    contributions = result.model.contributions(sample)
    figures = {
        "calibration.png": plots.calibration_figure(result.calibration),
        "capture_curve.png": plots.capture_figure(
            holdout["label"].to_numpy(),
            {
                "potential_model": holdout["predicted"].to_numpy(),
                "last_12m_revenue": holdout["won_revenue_last_365d"].to_numpy(),
            },
        ),
        "shap_summary.png": plots.shap_summary_figure(contributions, sample),
    }
    for feature in plots.top_shap_features(contributions, sample.columns, 3):
        figure = plots.shap_dependence_figure(contributions, sample, feature)
        figures[f"shap_dependence_{feature}.png"] = figure
    for name, fig in figures.items():
        mlflow.log_figure(fig, f"plots/{name}")
        plt.close(fig)


def log_and_register(
    result: TrainingResult,
    settings: TrainingSettings,
    *,
    promote: bool,
    force: bool = False,
    lineage: Lineage | None = None,
) -> tuple[str, str]:
    """Log params, metrics, tables, figures and the model; register it with its lineage tags.

    A model that did not beat the baselines on the later validation period is logged but not
    registered (BaselineGateError) unless `force`.

    Returns (run_id, version)."""
    configure(settings)
    with mlflow.start_run(
        run_name=f"potential-{result.config.objective}-{result.config.as_of.date()}"
    ) as run:
        _log_params(result)
        mlflow.log_metrics(result.metrics)
        for _, row in result.comparison.iterrows():
            mlflow.log_metrics(
                {f"{row['model']}_{k}": float(v) for k, v in row.items() if k != "model" and v == v}
            )
        mlflow.log_table(result.comparison, "tables/baseline_comparison.json")
        mlflow.log_table(result.selection, "tables/candidate_selection.json")
        mlflow.log_table(result.calibration, "tables/calibration_by_decile.json")
        mlflow.set_tags(
            {
                "feature_set": result.config.feature_set,
                "warnings": " | ".join(result.warnings) or "-",
                "baseline_gate": "passed" if result.beats_baselines else "failed",
            }
        )
        if result.gate is not None:
            mlflow.log_table(result.gate, "tables/baseline_gate_validation.json")
        _log_figures(result)
        example = result.holdout[result.model.feature_names_].head(5)
        with tempfile.TemporaryDirectory() as tmp:
            model_dir = write_model_dir(result.model, Path(tmp) / "potential_model")
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=PYFUNC_MODEL_FILE,
                artifacts={"potential_model": str(model_dir)},
                signature=infer_signature(example, result.model.predict(example)),
                input_example=example,
                pip_requirements=PIP_REQUIREMENTS,
            )
        if not (result.beats_baselines or force):
            raise BaselineGateError(
                f"run {run.info.run_id} logged but not registered: "
                + next(w for w in result.warnings if "does not beat the baseline" in w)
            )
        version = mlflow.register_model(info.model_uri, settings.model_name).version
    client = MlflowClient()
    for key, value in (lineage.tags() if lineage else {}).items():
        client.set_model_version_tag(settings.model_name, version, key, value)
    client.set_registered_model_alias(settings.model_name, "challenger", version)
    if promote:
        client.set_registered_model_alias(settings.model_name, "champion", version)
    return run.info.run_id, str(version)
