"""The capacity-only exact engine: GAP-shaped problems (one capacity row per agent, nothing else).

Not on the product's path. Territory plans always carry balance bands, so
``models.solver.solve`` never calls this engine unless it is plugged in through
``SolverOptions(exact_engine=CAPACITY_ONLY)``. What plugs it in: the OR-Library GAP benchmark
(``bench/bench_gap.py``, ``bench/gap_ladder.py``) and ``tests/models/test_capacity_search.py`` /
``test_lagrangian_bnb.py``. See docs/matcher.md (GAP section) for what it does and how well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from models.capacity_exact.capacity_search import CapacityResult, solve_capacity_only
from models.capacity_exact.knapsack_bound import applies
from models.capacity_exact.lagrangian_bnb import warm_up
from models.solver import AssignmentProblem, DualResult


@dataclass(frozen=True)
class CapacityOnlyEngine:
    """``models.solver.ExactEngine`` for capacity-only problems."""

    def applies(self, problem: AssignmentProblem) -> bool:
        """True for the GAP shape: capacity rows only, each agent at most once per item."""
        return applies(problem)

    def solve(
        self, problem: AssignmentProblem, choice: np.ndarray, dual: DualResult, **kw: Any
    ) -> CapacityResult:
        """Fixing by two bounds, then branch and bound (timed) or neighbourhood search + CP-SAT."""
        return solve_capacity_only(problem, choice, dual, **kw)


CAPACITY_ONLY = CapacityOnlyEngine()

__all__ = ["CAPACITY_ONLY", "CapacityOnlyEngine", "CapacityResult", "warm_up"]
