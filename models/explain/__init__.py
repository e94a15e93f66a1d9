"""Explanations of a potential score: TreeSHAP contributions grouped into business concepts,
worded from the feature catalogue, and the one-paragraph narrative.
"""

from __future__ import annotations

from models.explain.catalogue import (
    UNITS,
    Catalogue,
    CatalogueError,
    load_catalogue,
    parse_catalogue,
)
from models.explain.explainer import OUTPUT_COLUMNS, REASON_KEYS, explain_frame, model_fingerprint
from models.explain.narrative import headline, narrative, rebase_narrative
from models.explain.phrases import currency, days, format_value, growth, render
from models.explain.row_hash import hash_rows

__all__ = [
    "Catalogue",
    "CatalogueError",
    "OUTPUT_COLUMNS",
    "REASON_KEYS",
    "UNITS",
    "currency",
    "days",
    "explain_frame",
    "format_value",
    "growth",
    "hash_rows",
    "headline",
    "load_catalogue",
    "model_fingerprint",
    "narrative",
    "parse_catalogue",
    "rebase_narrative",
    "render",
]
