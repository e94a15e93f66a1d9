"""Plan previews: run the planner on a scenario in memory and summarise it like a saved plan."""

from __future__ import annotations

from serving.errors import NotReady
from serving.store import ServingState


def preview_plan(
    state: ServingState, scenario: dict, *, top_moves: int, time_limit_s: float
) -> dict:
    """Metrics, rep balance and the top moves of the plan the scenario would produce."""
    try:
        from models import matcher  # noqa: F401
    except ImportError as exc:
        raise NotReady(
            "the planner (models.matcher) is not installed in this build; previews need it."
        ) from exc
    raise NotReady("plan previews are not wired to the planner yet")
