"""Behavioural checks of a fitted potential model: direction and invariance, on real rows.

The retraining gates run them on the holdout before a model may become champion; the test suite
runs the same checks on a synthetic frame (tests/model_quality).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.potential.estimator import PotentialModel

GRID = np.concatenate([[0.0], np.geomspace(100, 2_000_000, 25)])
ROWS = 200


@dataclass(frozen=True)
class BehaviourCheck:
    """One check: its name, whether it held, and what was seen."""

    name: str
    passed: bool
    detail: str


def monotone_check(model: PotentialModel, rows: pd.DataFrame, feature: str) -> BehaviourCheck:
    """More of a monotone-increasing feature never lowers any row's potential."""
    predictions = np.column_stack([model.predict(rows.assign(**{feature: v})) for v in GRID])
    drops = np.diff(predictions, axis=1) < -1e-9 * np.abs(predictions[:, 1:]) - 1e-12
    bad = int(drops.any(axis=1).sum())
    return BehaviourCheck(
        f"monotone:{feature}",
        bad == 0,
        f"raising {feature} lowered potential on {bad} of {len(rows)} rows"
        if bad
        else f"raising {feature} never lowered potential ({len(rows)} rows)",
    )


def order_invariance_check(model: PotentialModel, rows: pd.DataFrame) -> BehaviourCheck:
    """Row order and account ids change nothing: each row is scored on its own features."""
    base = model.predict(rows)
    order = np.random.default_rng(0).permutation(len(rows))
    shuffled = rows.iloc[order].copy()
    if "account_id" in shuffled:
        shuffled["account_id"] = [f"renamed-{i}" for i in range(len(shuffled))]
    moved = model.predict(shuffled)
    worst = float(np.max(np.abs(moved - base[order]))) if len(rows) else 0.0
    return BehaviourCheck(
        "invariance:row_order_and_ids",
        worst <= 1e-9 * max(1.0, float(np.max(np.abs(base), initial=0.0))),
        f"largest change {worst:.3g} after shuffling rows and renaming ids",
    )


def behaviour_checks(
    model: PotentialModel, frame: pd.DataFrame, monotone: tuple[str, ...] | None = None
) -> list[BehaviourCheck]:
    """Every behavioural check on up to 200 rows of ``frame`` (which holds the model's features).

    ``monotone`` defaults to the model's declared monotone-increasing features.
    """
    features = [c for c in model.feature_names_ if c in frame.columns]
    keep = ["account_id", *features] if "account_id" in frame.columns else features
    rows = frame[keep].head(ROWS).reset_index(drop=True)
    declared = monotone if monotone is not None else tuple(model.monotone_increasing)
    checks = [monotone_check(model, rows, f) for f in declared if f in features]
    checks.append(order_invariance_check(model, rows))
    return checks
