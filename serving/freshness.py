"""How old the served scores and data are, and the warnings a card and the review page show.

Pure: the state and a clock in, plain values out. The limits are settings
(TERRITORY_SCORES_MAX_AGE_DAYS, TERRITORY_DATA_MAX_AGE_DAYS) carried on the state.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime

import pandas as pd

from serving.store import ServingState


def age_days(stamp: str | None, now: datetime) -> float | None:
    """Days between an ISO date or timestamp and `now` (UTC when the stamp has no zone)."""
    if not stamp:
        return None
    return round((pd.Timestamp(now) - _utc(stamp)).total_seconds() / 86400.0, 2)


@functools.lru_cache(maxsize=64)
def _utc(stamp: str) -> pd.Timestamp:
    """The stamp as a UTC timestamp; parsed once (every card asks for the same few stamps)."""
    when = pd.Timestamp(stamp)
    return when.tz_localize(UTC) if when.tzinfo is None else when.tz_convert(UTC)


def bare_version(version: str | None) -> str | None:
    """'account-potential v3 (champion)' -> 'account-potential v3' (the alias is not the model)."""
    return re.sub(r"\s*\([^)]*\)$", "", version).strip() if version else None


def freshness(state: ServingState, now: datetime | None = None) -> dict:
    """Ages of the scores and the data, the model the scores came from, and what to warn about."""
    now = now or datetime.now(UTC)
    scores_age = age_days(state.scores.scored_at, now)
    data_age = age_days(state.data_latest, now)
    warnings = []
    if scores_age is not None and scores_age > state.scores_max_age_days:
        warnings.append(
            f"scores were made {scores_age:.0f} days ago ({state.scores.scored_at}), more than "
            f"the {state.scores_max_age_days:g}-day limit (TERRITORY_SCORES_MAX_AGE_DAYS): run "
            "`territory score`; the service picks the new file up by itself."
        )
    if data_age is not None and data_age > state.data_max_age_days:
        warnings.append(
            f"the CRM data's latest record is {data_age:.0f} days old ({state.data_latest}), "
            f"more than the {state.data_max_age_days:g}-day limit (TERRITORY_DATA_MAX_AGE_DAYS): "
            "import a fresh CRM export, then rescore."
        )
    served, scored_with = bare_version(state.model_version), state.scores.model_version
    if scored_with and served and scored_with != served:
        warnings.append(
            f"the scores were made with {scored_with} but the service runs {served}: run "
            "`territory score` so potential and reasons come from the served model."
        )
    return {
        "scores_age_days": scores_age,
        "data_age_days": data_age,
        "scores_model_version": scored_with,
        "scores_path": str(state.scores.path) if state.scores.path else None,
        "warnings": warnings,
    }
