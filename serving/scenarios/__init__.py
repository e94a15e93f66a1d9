"""Scenario planning: saved scenarios, solves as background jobs in worker processes (state in
the decisions database), comparison with the status quo, adoption as a new plan version, the
pages' map data and a rep's own book. See docs/scenarios.md."""

from __future__ import annotations

from serving.scenarios.hub import ScenarioHub

__all__ = ["ScenarioHub"]
