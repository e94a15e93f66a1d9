"""The batch scoring job: resolve the model, build features as of a date, score every account."""

from __future__ import annotations

import pandas as pd
from mlflow import MlflowClient
from rich.console import Console

from features.pipeline import build_account_features
from features.tables import CrmTables
from models.errors import ModelNotFoundError
from models.explain import explain_frame
from models.potential import PotentialModel, load_potential_model, score_frame
from training.lineage import check_lineage, registered_lineage, unknown_lineage_note
from training.register import configure
from training.settings import TrainingSettings


def resolve_model_uri(settings: TrainingSettings, model_uri: str | None) -> str:
    """The URI to load: as given, else @champion, else the latest registered version."""
    if model_uri:
        return model_uri
    client = MlflowClient()
    name = settings.model_name
    try:
        client.get_model_version_by_alias(name, "champion")
        return f"models:/{name}@champion"
    except Exception:  # noqa: BLE001 - "no such alias" and "no such model" both land here
        versions = client.search_model_versions(f"name='{name}'")
    if not versions:
        raise ModelNotFoundError(
            f"no registered model {name!r} in {settings.tracking_uri}. "
            "Run `territory train --data DIR` "
            "first, or pass --model with a model URI."
        )
    latest = max(int(v.version) for v in versions)
    # printed here, not through the CLI's console: nothing but the CLI imports training.cli
    Console().print(f"[yellow]no 'champion' alias on {name}; using the latest version {latest}[/]")
    return f"models:/{name}/{latest}"


def load_model(
    settings: TrainingSettings, model_uri: str | None, data_source: str | None = None
) -> tuple[PotentialModel, str]:
    """Configure MLflow and load the potential model to score with.

    With ``data_source``, a registered model trained on other data is refused (LineageError)."""
    configure(settings)
    uri = resolve_model_uri(settings, model_uri)
    if data_source is not None:
        registered, lineage = registered_lineage(uri)
        check_lineage(lineage, data_source, uri)
        if registered and lineage is None:
            Console(stderr=True).print(
                f"[yellow]warning:[/] {unknown_lineage_note(uri, data_source)}"
            )
    model, _ = load_potential_model(uri)
    return model, uri


def predict_potential(
    tables: CrmTables,
    as_of: pd.Timestamp,
    settings: TrainingSettings,
    *,
    model_uri: str | None = None,
    data_source: str | None = None,
    progress=lambda _stage: None,
) -> tuple[PotentialModel, pd.DataFrame, pd.DataFrame, str]:
    """Model, features, scores (account_id, potential, percentile, tier) and the model's URI;
    no explanations (what a plan needs)."""
    progress("loading the model")
    model, uri = load_model(settings, model_uri, data_source)
    extra = [c for c in model.feature_names_ if c in tables.extra_account_columns]
    progress("building features")
    features = build_account_features(tables, as_of, extra_columns=extra)
    progress("scoring")
    return model, features, score_frame(model, features), uri


def score_accounts(
    tables: CrmTables,
    as_of: pd.Timestamp,
    settings: TrainingSettings,
    *,
    model_uri: str | None = None,
    previous: pd.DataFrame | None = None,
    data_source: str | None = None,
    progress=lambda _stage: None,
) -> tuple[pd.DataFrame, str]:
    """Scores (account_id, potential, percentile, tier, top_reasons, narrative, as_of) per account.

    top_reasons is JSON text (models.explain.explainer.REASON_KEYS records); the hash columns let a
    later run reuse unchanged accounts' explanations (explain_frame's `previous`).
    """
    model, features, scores, uri = predict_potential(
        tables, as_of, settings, model_uri=model_uri, data_source=data_source, progress=progress
    )
    progress("explaining")
    explained = explain_frame(
        model, features, as_of, scores=scores, reasons_as_json=True, previous=previous
    )
    kept = ("narrative", "input_hash", "split_hash", "explainer_version")
    scores = scores.assign(
        top_reasons=explained["reasons"].to_numpy(), **{c: explained[c].to_numpy() for c in kept}
    )
    return scores.assign(as_of=as_of.date().isoformat(), model_uri=uri), uri
