"""Lineage: which data a registered model came from, and the check that refuses other data.

Every registered version carries these tags; ``score``, ``plan``, ``serve`` and ``retrain`` read
them back and refuse a model trained on another dataset (``LineageError`` says how to fix it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from features.workspace import data_source_id  # noqa: F401 - defined once, with the layout
from models.errors import TerritoryError

TAG_PREFIX = "lineage."


class LineageError(TerritoryError):
    """The model was trained on other data than the data it is asked to score or plan."""


@dataclass(frozen=True)
class Lineage:
    """What a model was trained on; stored as ``lineage.*`` tags on its registered version."""

    data_source: str
    dataset_digest: str
    as_of: str
    horizon_days: int
    feature_set: str
    objective: str
    config_digest: str

    def tags(self) -> dict[str, str]:
        """The MLflow tags that record it."""
        return {f"{TAG_PREFIX}{k}": str(v) for k, v in asdict(self).items()}

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> Lineage | None:
        """Read it back from a model version's tags; None for a model registered without it."""
        ours = {k: v for k, v in tags.items() if k.startswith(TAG_PREFIX)}
        values = {k.removeprefix(TAG_PREFIX): v for k, v in ours.items()}
        if set(values) < {f for f in cls.__dataclass_fields__}:
            return None
        values["horizon_days"] = int(values["horizon_days"])
        return cls(**{f: values[f] for f in cls.__dataclass_fields__})


def unknown_lineage_note(model_uri: str, data_source: str) -> str:
    """The warning for a model that records no training data (registered before lineage)."""
    return (
        f"{model_uri} records no training data (registered before lineage was kept), so it "
        f"cannot be matched to {data_source}; retrain on this data to be sure: "
        f"`territory retrain --data {data_source}`."
    )


def check_lineage(lineage: Lineage | None, data_source: str, model_uri: str) -> None:
    """Raise ``LineageError`` when the model records training data other than ``data_source``
    (a model that records none passes; callers warn with ``unknown_lineage_note``)."""
    if lineage is None:
        return
    if lineage.data_source != data_source:
        raise LineageError(
            f"{model_uri} was trained on {lineage.data_source} (as of {lineage.as_of}), not on "
            f"{data_source}. Train a model on this data: `territory retrain --data "
            f"{data_source}`, point TERRITORY_DATA_DIR / MLFLOW_TRACKING_URI at this dataset's "
            "own store, or pass --ignore-lineage to use it anyway."
        )


def registered_lineage(model_uri: str) -> tuple[bool, Lineage | None]:
    """(is a registry URI, its lineage) for ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``;
    (False, None) for any other URI (a run or a path records no lineage)."""
    if not model_uri.startswith("models:/"):
        return False, None
    from mlflow import MlflowClient

    client = MlflowClient()
    ref = model_uri.removeprefix("models:/")
    if "@" in ref:
        name, alias = ref.split("@", 1)
        version = client.get_model_version_by_alias(name, alias)
    else:
        name, number = ref.rsplit("/", 1)
        version = client.get_model_version(name, number)
    return True, Lineage.from_tags(dict(version.tags))
