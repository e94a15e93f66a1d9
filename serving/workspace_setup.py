"""What `territory serve --data DIR` finds in the dataset's workspace (features.workspace).

Keys, the decisions database and the model come from `--data` alone unless an option or a
TERRITORY_ variable names them; the model is the registered version trained on this data
(lineage), so a second dataset never serves the first one's champion.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from features.workspace import Workspace, matching_model_uri, no_model_message, workspace_for
from serving.settings import DEFAULT_MODEL_URI, ServingSettings


class NoMatchingModel(Exception):
    """The MLflow store holds models, none trained on the served data."""


@dataclass(frozen=True)
class ServedFrom:
    """The workspace and the model URI to serve (None: keep the configured default)."""

    workspace: Workspace
    model_uri: str | None
    note: str | None = None


def served_from(settings: ServingSettings, data: str, model: str | None) -> ServedFrom:
    """The dataset's workspace and its model; raises NoMatchingModel with the fix."""
    space = workspace_for(data, settings.data_dir)
    if model is not None or settings.model_uri != DEFAULT_MODEL_URI:
        return ServedFrom(space, model)
    uri = settings.tracking_uri
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        return ServedFrom(space, None, f"no MLflow store yet: {no_model_message(data, uri)}")
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(uri)
    client = MlflowClient()
    name = DEFAULT_MODEL_URI.removeprefix("models:/").split("@")[0]
    found = matching_model_uri(client, name, space.source_id)
    if found is not None:
        return ServedFrom(space, found)
    try:
        versions = client.search_model_versions(f"name='{name}'")
    except Exception:  # noqa: BLE001 - no such model yet
        versions = []
    if versions and not any("lineage.data_source" in dict(v.tags) for v in versions):
        return ServedFrom(space, None)  # registered before lineage: the service warns itself
    raise NoMatchingModel(no_model_message(data, uri))
