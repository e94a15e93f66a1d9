"""The CLI's side of one workspace per dataset: defaults found from `--data` alone.

The layout itself is `features.workspace` (docs/workspace.md); this module picks the model that
was trained on the data and the default scores file and plan folder for each verb.
"""

from __future__ import annotations

from pathlib import Path


def workspace(data: str):
    """The workspace of `--data` (database sources live under TERRITORY_DATA_DIR/workspaces)."""
    from features.workspace import workspace_for
    from training.settings import TrainingSettings

    return workspace_for(data, TrainingSettings().data_dir)


def model_for(data: str, model: str | None) -> str | None:
    """`--model` as given; else the registered model trained on `data` (lineage). None when the
    store holds only models registered before lineage was kept (the old default then applies,
    with its warning). A store with models, none trained on `data`, is refused with the fix."""
    if model is not None:
        return model
    from mlflow import MlflowClient

    from features.workspace import matching_model_uri, no_model_message
    from models.errors import ModelNotFoundError
    from training.register import configure
    from training.settings import TrainingSettings

    settings = TrainingSettings()
    if not _store_exists(settings.tracking_uri):
        raise ModelNotFoundError(no_model_message(data, settings.tracking_uri))
    configure(settings)
    client = MlflowClient()
    uri = matching_model_uri(client, settings.model_name, workspace(data).source_id)
    if uri is not None:
        return uri
    try:
        versions = client.search_model_versions(f"name='{settings.model_name}'")
    except Exception:  # noqa: BLE001 - no such model
        versions = []
    if versions and not any("lineage.data_source" in dict(v.tags) for v in versions):
        return None
    raise ModelNotFoundError(no_model_message(data, settings.tracking_uri))


def _store_exists(tracking_uri: str) -> bool:
    """False for a local SQLite store whose file is missing (MLflow would create an empty one)."""
    if tracking_uri.startswith("sqlite:///"):
        return Path(tracking_uri.removeprefix("sqlite:///")).is_file()
    return True


def scores_for(data: str, scores: Path | None) -> Path | None:
    """`--scores` as given, else the workspace's scores file when `territory score` wrote it."""
    if scores is not None:
        return scores
    default = workspace(data).scores
    return default if default.is_file() else None
