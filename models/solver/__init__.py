"""The generic assignment engine: each item to one candidate agent under side rows (Lagrangian
bound, priced rounding, repair, local search, CP-SAT, LNS, the LP rescue). Knows nothing of
accounts or reps.
"""

from __future__ import annotations

from models.solver.core import (
    AgentRows,
    AssignmentProblem,
    GlobalRow,
    Prices,
    Solution,
    is_feasible,
    objective_value,
    relative_gap,
    row_violations,
)
from models.solver.cpsat_engine import solve_exact
from models.solver.engine import STRETCH, ExactEngine, SolverOptions, solve
from models.solver.lagrangian import DualResult, dual_bound, priced_scores, solve_dual
from models.solver.lns import lns, resolve_items
from models.solver.lp_relaxation import solve_lp, widening

__all__ = [
    "AgentRows",
    "AssignmentProblem",
    "DualResult",
    "ExactEngine",
    "GlobalRow",
    "Prices",
    "STRETCH",
    "Solution",
    "SolverOptions",
    "dual_bound",
    "is_feasible",
    "lns",
    "objective_value",
    "priced_scores",
    "relative_gap",
    "resolve_items",
    "row_violations",
    "solve",
    "solve_dual",
    "solve_exact",
    "solve_lp",
    "widening",
]
