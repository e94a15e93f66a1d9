"""Baselines every potential model is compared with on the same holdout."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import PoissonRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler


def last_12_month_revenue(features: pd.DataFrame) -> np.ndarray:
    """Score = won revenue in the 365 days before as_of (what most teams rank by today)."""
    return features["won_revenue_last_365d"].to_numpy(dtype=float)


def firmographic_rule(train: pd.DataFrame, y_train, features: pd.DataFrame) -> np.ndarray:
    """Score = employees x the industry's revenue per employee learned on the training rows."""
    employees = train["employees"].fillna(train["employees"].median()).clip(lower=1)
    per_employee = (
        (pd.Series(np.asarray(y_train, float), index=train.index) / employees)
        .groupby(train["industry"].astype(str))
        .mean()
    )
    rate = features["industry"].astype(str).map(per_employee).fillna(per_employee.mean())
    scored_employees = features["employees"].fillna(train["employees"].median()).clip(lower=1)
    return (rate * scored_employees).to_numpy(dtype=float)


def linear_model(train: pd.DataFrame, y_train, features: pd.DataFrame) -> np.ndarray:
    """A Poisson GLM (log link) on signed log1p(numeric features), missing flags, one-hot
    categories.

    The target is divided by its mean so the L2 penalty means the same at any currency scale.
    """
    categorical = list(train.select_dtypes(exclude="number").columns)
    numeric = [c for c in train.columns if c not in categorical]
    signed_log = FunctionTransformer(lambda x: np.sign(x) * np.log1p(np.abs(x)))
    prep = ColumnTransformer(
        [
            (
                "num",
                make_pipeline(
                    SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                    signed_log,
                    StandardScaler(),
                ),
                numeric,
            ),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="missing"),
                    OneHotEncoder(handle_unknown="ignore", min_frequency=20),
                ),
                categorical,
            ),
        ]
    )
    model = make_pipeline(prep, PoissonRegressor(alpha=0.1, max_iter=1000))
    y = np.asarray(y_train, float)
    scale = y.mean() if y.mean() > 0 else 1.0
    to_object = {c: train[c].astype(object).where(train[c].notna(), "missing") for c in categorical}
    model.fit(train.assign(**to_object), y / scale)
    scored = {
        c: features[c].astype(object).where(features[c].notna(), "missing") for c in categorical
    }
    return model.predict(features.assign(**scored)) * scale
