"""The generic assignment engine: each item to one candidate agent under side rows (Lagrangian
bound, priced rounding, repair, local search, CP-SAT, LNS, the LP rescue). Knows nothing of
accounts or reps; says why there is no plan in typed records
(``models.solver.findings``), never in text.
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
from models.solver.engine import ExactEngine, SolverOptions, solve
from models.solver.findings import (
    BrokenRow,
    Finding,
    MoreBrokenRows,
    Stretch,
    UnassignedItems,
    Verdict,
    Widening,
    WithinTolerance,
)
from models.solver.flow_rounding import RowGroup, flow_rounding, least_moves
from models.solver.lagrangian import DualResult, dual_bound, priced_scores, solve_dual
from models.solver.lns import lns, resolve_items
from models.solver.lp_relaxation import solve_lp, widening
from models.solver.tolerance import within_tolerance

__all__ = [
    "AgentRows",
    "AssignmentProblem",
    "BrokenRow",
    "DualResult",
    "ExactEngine",
    "Finding",
    "GlobalRow",
    "MoreBrokenRows",
    "Prices",
    "RowGroup",
    "Solution",
    "SolverOptions",
    "Stretch",
    "UnassignedItems",
    "Verdict",
    "Widening",
    "WithinTolerance",
    "dual_bound",
    "flow_rounding",
    "is_feasible",
    "least_moves",
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
    "within_tolerance",
]
