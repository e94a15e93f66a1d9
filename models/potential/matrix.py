"""Turn a feature DataFrame into the float matrix LightGBM reads, with learned category codes.

Doing this ourselves (rather than handing LightGBM a pandas frame) keeps one code path for
training, batch scoring and the request path, where building DataFrames costs ~100x a numpy row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from models.errors import FeatureMismatchError


def learn_categories(X: pd.DataFrame) -> dict[str, list[str]]:
    """Sorted category values of every non-numeric column (missing values excluded)."""
    return {
        name: sorted(X[name].dropna().astype(str).unique().tolist())
        for name in X.select_dtypes(exclude=["number", "bool"]).columns
    }


def check_columns(X: pd.DataFrame, feature_names: Sequence[str], feature_set: str) -> None:
    """Raise FeatureMismatchError naming the missing features and how to fix it."""
    missing = [name for name in feature_names if name not in X.columns]
    if missing:
        raise FeatureMismatchError(
            f"{len(missing)} feature(s) missing for scoring: {missing[:5]}. The model was trained "
            f"on feature set {feature_set!r}; rebuild features with that set or use a model "
            "trained on the new set."
        )


def to_matrix(
    X: pd.DataFrame, feature_names: Sequence[str], categories: Mapping[str, Sequence[str]]
) -> np.ndarray:
    """float64 matrix in `feature_names` order; categories become codes, unseen ones NaN."""
    out = np.empty((len(X), len(feature_names)), dtype=np.float64)
    for j, name in enumerate(feature_names):
        column = X[name]
        if name in categories:
            codes = pd.Categorical(column.astype("object"), categories=categories[name]).codes
            out[:, j] = np.where(codes < 0, np.nan, codes)
        else:
            out[:, j] = pd.to_numeric(column, errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
    return out
