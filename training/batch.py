"""The batch scoring job: resolve the model, build features as of a date, score every account."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow import MlflowClient
from rich.console import Console

from features.pipeline import build_account_features
from features.tables import CrmTables
from models.errors import ModelNotFoundError
from models.explain import explain_frame
from models.potential import (
    PotentialModel,
    load_potential_model,
    percentile_rank,
    score_frame,
    tier_of,
)
from training.lineage import check_lineage, registered_lineage, unknown_lineage_note
from training.register import configure
from training.settings import TrainingSettings

FINGERPRINT = "score_fingerprint"


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


@dataclass(frozen=True)
class BatchScores:
    """One `territory score` run: the complete scores and how many accounts were rescored."""

    scores: pd.DataFrame
    model_uri: str
    model_version: str
    rescored: int
    skipped: int


def registry_version(uri: str) -> str:
    """'account-potential v3' for a registry URI (alias resolved now); other URIs as given."""
    match = re.fullmatch(r"models:/([^/@]+)(?:@(.+)|/(\d+))", uri)
    if not match:
        return uri
    name, alias, number = match.groups()
    if alias:
        number = MlflowClient().get_model_version_by_alias(name, alias).version
    return f"{name} v{number}"


def fingerprints(features: pd.DataFrame, columns: list[str], model_version: str) -> list[str]:
    """Per account: a hash of its feature row and the model version (what scoring depends on)."""
    keyed = features[columns].assign(_model_version=model_version)
    hashed = pd.util.hash_pandas_object(keyed, index=True).to_numpy()
    return [f"{h:016x}" for h in hashed.tolist()]


def unchanged_mask(
    ids: pd.Index, prints: list[str], previous: pd.DataFrame | None
) -> tuple[np.ndarray, np.ndarray]:
    """(rows whose fingerprint matches `previous`, their previous potential) by account order."""
    keep = np.zeros(len(ids), dtype=bool)
    potential = np.full(len(ids), np.nan)
    if previous is None or FINGERPRINT not in previous or "potential" not in previous:
        return keep, potential
    prev = previous.assign(account_id=previous["account_id"].astype(str))
    prev = prev.drop_duplicates("account_id", keep="last").set_index("account_id").reindex(ids)
    keep = (prev[FINGERPRINT].astype("string").to_numpy() == np.asarray(prints)) & prev[
        "potential"
    ].notna().to_numpy()
    keep = np.asarray(keep, dtype=bool)
    return keep, np.array(prev["potential"].to_numpy(dtype=float))  # a writable copy


def score_accounts(
    tables: CrmTables,
    as_of: pd.Timestamp,
    settings: TrainingSettings,
    *,
    model_uri: str | None = None,
    previous: pd.DataFrame | None = None,
    data_source: str | None = None,
    progress=lambda _stage: None,
) -> BatchScores:
    """Scores (account_id, potential, percentile, tier, top_reasons, narrative, as_of) per account.

    With ``previous`` (an earlier scores file), accounts whose fingerprint (feature row + model
    version) is unchanged keep their potential and reasons; only the others are predicted and
    explained. Percentile and tier are ranked again over every account. top_reasons is JSON text
    (models.explain.explainer.REASON_KEYS records).
    """
    progress("loading the model")
    model, uri = load_model(settings, model_uri, data_source)
    version = registry_version(uri)
    extra = [c for c in model.feature_names_ if c in tables.extra_account_columns]
    progress("building features")
    features = build_account_features(tables, as_of, extra_columns=extra)
    progress("scoring")
    ids = features.index.astype(str)
    prints = fingerprints(features, list(model.feature_names_), version)
    keep, potential = unchanged_mask(ids, prints, previous)
    if (~keep).any():
        potential[~keep] = score_frame(model, features[~keep])["potential"].to_numpy()
    percentile = percentile_rank(potential)
    scores = pd.DataFrame(
        {
            "account_id": ids,
            "potential": potential,
            "percentile": np.round(percentile, 2),
            "tier": tier_of(percentile),
        }
    )
    progress("explaining")
    explained = explain_frame(
        model, features, as_of, scores=scores, reasons_as_json=True, previous=previous
    )
    kept = ("narrative", "input_hash", "split_hash", "explainer_version")
    scores = scores.assign(
        top_reasons=explained["reasons"].to_numpy(), **{c: explained[c].to_numpy() for c in kept}
    )
    scores = scores.assign(
        as_of=as_of.date().isoformat(),
        model_uri=uri,
        model_version=version,
        scored_at=datetime.now(UTC).isoformat(timespec="seconds"),
        **{FINGERPRINT: prints},
    )
    return BatchScores(scores, uri, version, int((~keep).sum()), int(keep.sum()))


def write_scores(scores: pd.DataFrame, out: Path) -> Path:
    """Write a complete scores file atomically: readers see the old file or the new, never half."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        if out.suffix == ".parquet":
            scores.to_parquet(tmp, index=False)
        else:
            scores.to_csv(tmp, index=False)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def write_score_parts(
    parts: Iterable[pd.DataFrame], out: Path, *, last: str | None = None
) -> tuple[int, str]:
    """Write scores that arrive a partition at a time (the Dask path) as one file, atomically
    like write_scores, holding one part at a time: Parquet appends each part as a row group;
    CSV appends rows. `last`: a column moved to the end. Returns (rows, the as_of cut-off)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    rows, cut, writer, empty = 0, "-", None, None
    try:
        for part in parts:
            if last is not None:
                part = part[[c for c in part.columns if c != last] + [last]]
            if not len(part):  # an empty partition: its columns, if nothing else comes
                empty = part if empty is None else empty
                continue
            if out.suffix == ".parquet":
                table = pa.Table.from_pandas(part, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table.cast(writer.schema))
            else:
                part.to_csv(tmp, index=False, mode="a", header=rows == 0)
            if rows == 0 and len(part):
                cut = str(part["as_of"].iloc[0])
            rows += len(part)
        if writer is not None:
            writer.close()
            writer = None
        elif rows == 0:  # no accounts at all: the columns and no rows
            write_scores(empty if empty is not None else pd.DataFrame(), tmp)
        os.replace(tmp, out)
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
    return rows, cut


def read_previous_scores(path: Path) -> pd.DataFrame:
    """An earlier scores file, its ids and hashes read as text (a hex hash may look numeric)."""
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    text = {c: str for c in ("account_id", FINGERPRINT, "input_hash", "split_hash")}
    return pd.read_csv(path, dtype=text, keep_default_na=False, na_values=[""])
