"""Reason records: chosen drivers worded with the account's current values and catalogue phrases."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from models.explain.catalogue import Catalogue
from models.explain.phrases import is_missing, render
from models.potential import PotentialModel

REASON_KEYS = (
    "concept",
    "feature",
    "value",
    "phrase",
    "effect_multiplier",
    "revenue_share",
    "probability_points",
    "direction",
)
# A driver before it is worded: (concept, feature, direction, multiplier, currency share, points).
Driver = tuple[str, str, str, float, float | None, float | None]


class RowView(Mapping):
    """One account's feature values, read lazily from per-column lists (missing -> None)."""

    def __init__(self, columns: Mapping[str, list], i: int) -> None:
        self.columns, self.i = columns, i

    def __getitem__(self, name: str) -> object:
        column = self.columns.get(name)
        value = column[self.i] if column is not None else None
        return None if is_missing(value) else value

    def __iter__(self):
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)


def value_columns(
    model: PotentialModel, features: pd.DataFrame, matrix: np.ndarray
) -> dict[str, list]:
    """Per feature, the accounts' values as shown to people (category text, numbers as floats)."""
    return {
        name: features[name].astype(object).tolist()
        if name in model.categories_
        else matrix[:, j].tolist()
        for j, name in enumerate(model.feature_names_)
    }


def word_drivers(
    drivers: Sequence[Driver], row: Mapping[str, object], catalogue: Catalogue
) -> list[dict]:
    """Reason records (REASON_KEYS): each driver with its feature's current value and phrase."""
    out = []
    for concept, feature, direction, multiplier, share, points in drivers:
        value = row[feature]
        out.append(
            {
                "concept": concept,
                "feature": feature,
                "value": value,
                "phrase": render(catalogue[feature], value, row, catalogue),
                "effect_multiplier": multiplier,
                "revenue_share": share,
                "probability_points": points,
                "direction": direction,
            }
        )
    return out


def drivers_from_records(reasons: object) -> list[Driver]:
    """Unworded drivers back from stored reasons (a list of records or its JSON text)."""
    records = json.loads(reasons) if isinstance(reasons, str) else reasons
    return [
        (
            r["concept"],
            r["feature"],
            r["direction"],
            r["effect_multiplier"],
            r["revenue_share"],
            r["probability_points"],
        )
        for r in records  # type: ignore[union-attr]
    ]


def reasons_as(stored: object, as_json: bool) -> object:
    """Stored reasons (records or JSON text) in the asked form, as a fresh object."""
    if as_json:
        return stored if isinstance(stored, str) else json.dumps(stored)
    records = json.loads(stored) if isinstance(stored, str) else stored
    return [dict(r) for r in records]  # type: ignore[union-attr]
