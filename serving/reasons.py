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


OWNER_FEATURES = frozenset(
    {
        "owner_tenure_days",
        "owner_level",
        "owner_industry_match",
        "owner_book_size",
        "distance_to_owner_km",
        "days_with_current_owner",
    }
)
"""Score drivers that describe the current owner as a person (level, tenure, expertise, book,
distance): a manager sees them; a rep's card never lists one that holds the score down, since it
reads as a named colleague's shortcoming."""


def is_owner_deficit(reason: dict) -> bool:
    """Whether a score reason describes the current owner and holds the score down."""
    return reason.get("feature") in OWNER_FEATURES and reason.get("direction") == "down"


def rep_facing_reasons(reasons: list[dict]) -> tuple[list[dict], list[str]]:
    """(the reasons a rep's card shows, the phrases left out): owner deficits go."""
    kept = [r for r in reasons if not is_owner_deficit(r)]
    dropped = [str(r.get("phrase", "")) for r in reasons if is_owner_deficit(r)]
    return kept, [p for p in dropped if p]


def without_phrases(narrative: str, phrases: list[str]) -> str:
    """The narrative with every sentence that holds one of ``phrases`` left out."""
    if not phrases:
        return narrative
    sentences = [s for s in narrative.split(". ") if s]
    kept = [s for s in sentences if not any(p and p in s for p in phrases)]
    text = ". ".join(kept)
    return text if not narrative.endswith(".") or text.endswith(".") else text + "."
