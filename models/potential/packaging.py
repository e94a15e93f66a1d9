"""MLflow packaging of PotentialModel: a pyfunc flavour with a plain-text LightGBM model inside.

The artifact is two files (state.json with feature names and categories, booster.txt written by
LightGBM itself), so loading never unpickles code and any MLflow client can read it.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pandas as pd

from models.errors import ModelNotFoundError
from models.potential.estimator import PotentialModel

STATE_FILE = "state.json"
BOOSTER_FILE = "booster.txt"


def write_model_dir(model: PotentialModel, directory: Path) -> Path:
    """Write `model` as state.json + booster.txt under `directory`; returns the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    state = model.to_state()
    booster = state.pop("booster")
    (directory / STATE_FILE).write_text(json.dumps(state, indent=1, default=list))
    if booster is not None:
        (directory / BOOSTER_FILE).write_text(booster)
    return directory


def read_model_dir(directory: Path) -> PotentialModel:
    """Rebuild the model that write_model_dir wrote."""
    state = json.loads((Path(directory) / STATE_FILE).read_text())
    booster_path = Path(directory) / BOOSTER_FILE
    state["booster"] = booster_path.read_text() if booster_path.exists() else None
    return PotentialModel.from_state(state)


class PotentialPyfunc(mlflow.pyfunc.PythonModel):
    """mlflow.pyfunc wrapper: predict(DataFrame of features) -> potential per row."""

    def load_context(self, context) -> None:
        self.model = read_model_dir(Path(context.artifacts["potential_model"]))

    def predict(self, context, model_input: pd.DataFrame, params=None):
        return self.model.predict(model_input)


def load_potential_model(model_uri: str) -> tuple[PotentialModel, str]:
    """Load a registered or logged potential model by URI; returns (model, the URI).

    The named constructor ``PotentialModel.from_model_uri`` is the same load (and can pin the
    thread count); this pair form is kept for callers that log the URI next to the model.
    """
    return read_model_uri(model_uri), model_uri


def read_model_uri(model_uri: str) -> PotentialModel:
    """The potential model at an MLflow URI; any failure names the URI and the fix."""
    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=model_uri)
    except Exception as exc:  # noqa: BLE001 - MLflow raises many types for "not there"
        raise ModelNotFoundError(
            f"could not load model {model_uri!r}: {exc}. Train one with `territory train` or "
            "pass --model with a URI from the MLflow UI (models:/NAME/VERSION or runs:/ID/model)."
        ) from exc
    artifacts = Path(local) / "artifacts" / "potential_model"
    if not artifacts.is_dir():
        raise ModelNotFoundError(
            f"{model_uri!r} is not a Territory potential model (no artifacts/potential_model). "
            "Point --model at a model logged by `territory train`."
        )
    return read_model_dir(artifacts)
