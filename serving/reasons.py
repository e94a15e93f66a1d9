"""Scores and reasons for accounts the batch job has not scored yet (the on-request path).

Prediction and TreeSHAP contributions come straight from the LightGBM booster with
``num_threads`` fixed (1 in serving: OpenMP threads fight the server's own threads on small
machines). Reasons use models.explain.explainer when it is installed, so on-request reasons read
exactly like the batch job's; otherwise a plain "feature = value" phrasing stands in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from models.potential import PotentialModel


def predict_rows(model: PotentialModel, matrix: np.ndarray, *, threads: int = 1) -> np.ndarray:
    """model.predict_matrix with a fixed thread count (PotentialModel's own call uses all cores)."""
    if model.constant_ is not None:
        return np.full(matrix.shape[0], model.constant_)
    out = model.booster_.predict(matrix, num_iteration=model.best_iteration_, num_threads=threads)
    if model.calibrator_ is not None:
        out = np.interp(out, *model.calibrator_)
    return out


def contributions_rows(
    model: PotentialModel, matrix: np.ndarray, *, threads: int = 1
) -> np.ndarray:
    """Exact TreeSHAP contributions (raw units, last column = base value), fixed thread count."""
    if model.constant_ is not None:
        return model.contributions(matrix)
    return model.booster_.predict(
        matrix, num_iteration=model.best_iteration_, pred_contrib=True, num_threads=threads
    )


def explain_rows(
    model: PotentialModel,
    features: pd.DataFrame,
    contributions: np.ndarray,
    *,
    as_of: pd.Timestamp,
    scores: pd.DataFrame,
    top_k: int = 3,
) -> list[tuple[list[dict], str]]:
    """(reasons, narrative) per row of `features`, worded by models.explain.explainer like the
    batch job.

    Args:
        scores: account_id, potential, percentile, tier of these rows (the narrative's headline).
    """
    try:
        from models.explain import explain_frame
    except ImportError:  # a build without the explainer still says something useful
        return [
            _plain(model, features.iloc[i], contributions[i], top_k) for i in range(len(features))
        ]
    explained = explain_frame(model, features, as_of, top_k=top_k, scores=scores)
    return [
        (list(r), str(n)) for r, n in zip(explained["reasons"], explained["narrative"], strict=True)
    ]


def _plain(
    model: PotentialModel, values: pd.Series, contrib: np.ndarray, top_k: int
) -> tuple[list[dict], str]:
    names = model.feature_names_
    order = np.argsort(-np.abs(contrib[:-1]))[:top_k]
    reasons = []
    for j in order:
        if contrib[j] == 0:
            continue
        name = names[j]
        value = values.get(name)
        effect = float(math.exp(contrib[j]))
        reasons.append(
            {
                "concept": name,
                "feature": name,
                "value": _plain_value(value),
                "phrase": f"{name.replace('_', ' ')} = {_plain_value(value)}",
                "effect_multiplier": round(effect, 3),
                "revenue_share": None,
                "direction": "up" if contrib[j] > 0 else "down",
            }
        )
    ups = [r["phrase"] for r in reasons if r["direction"] == "up"]
    downs = [r["phrase"] for r in reasons if r["direction"] == "down"]
    parts = []
    if ups:
        parts.append("raised by " + ", ".join(ups))
    if downs:
        parts.append("lowered by " + ", ".join(downs))
    narrative = ("Potential " + "; ".join(parts) + ".") if parts else "No single factor stands out."
    return reasons, narrative


def _plain_value(value: object) -> float | str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, int | float | np.integer | np.floating):
        return round(float(value), 2)
    return str(value)


def parse_reasons_cell(cell: object) -> list[dict]:
    """A scores file's top_reasons cell (JSON text or a list) as a list of dicts."""
    import json

    if cell is None or (isinstance(cell, float) and math.isnan(cell)):
        return []
    if isinstance(cell, str):
        if not cell.strip():
            return []
        try:
            cell = json.loads(cell)
        except json.JSONDecodeError:
            return [
                {
                    "concept": "other",
                    "feature": "",
                    "value": None,
                    "phrase": cell,
                    "effect_multiplier": None,
                    "revenue_share": None,
                    "direction": "up",
                }
            ]
    if isinstance(cell, np.ndarray):
        cell = cell.tolist()
    if isinstance(cell, dict):
        cell = [cell]
    return (
        [dict(item) for item in cell if isinstance(item, dict)]
        if isinstance(cell, Sequence)
        else []
    )
