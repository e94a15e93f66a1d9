"""Reasons for the service: worded on request by models.explain (exactly like the batch job), or
read back from a scores file's top_reasons cells.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from models.explain import explain_frame
from models.potential import PotentialModel


def explain_rows(
    model: PotentialModel,
    features: pd.DataFrame,
    *,
    as_of: pd.Timestamp,
    scores: pd.DataFrame,
    top_k: int = 3,
) -> list[tuple[list[dict], str]]:
    """(reasons, narrative) per row of `features`, worded like the batch job.

    TreeSHAP runs here once per row, with the model's own thread count (serving loads it with
    `num_threads=1`).

    Args:
        scores: account_id, potential, percentile, tier of these rows (the narrative's headline).
    """
    explained = explain_frame(model, features, as_of, top_k=top_k, scores=scores)
    return [
        (list(r), str(n)) for r, n in zip(explained["reasons"], explained["narrative"], strict=True)
    ]


def parse_reasons_cell(cell: object) -> list[dict]:
    """A scores file's top_reasons cell (JSON text or a list) as a list of dicts."""
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
