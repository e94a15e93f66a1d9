"""Branch and cut with HiGHS (SciPy's ``milp``) for capacity-only problems: "beat this plan or
prove it cannot be beaten".

CP-SAT and neighbourhood search find good GAP plans fast but rarely close the last unit; a MIP
solver's LP bound and cuts do. The model gets one extra row, value >= ``beat``, so the search only
looks at plans better than the incumbent: a solution is an improvement, and "infeasible" proves
the incumbent optimal (on the problem given, which after reduced-cost fixing still holds every
plan worth ``beat`` or more). SciPy's HiGHS can sit beside OR-Tools in one process (highspy
cannot). Measured on OR-Library GAP: bench/results/matcher.md.
"""

from __future__ import annotations

import time

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from models.assignment_core import AssignmentProblem
from models.cpsat_engine import ExactResult

HIGHS_INFEASIBLE = 2


def solve_mip(problem: AssignmentProblem, *, beat: float, time_limit_s: float) -> ExactResult:
    """A plan worth at least ``beat`` (status FEASIBLE or OPTIMAL), or INFEASIBLE when none
    exists, or UNKNOWN at the time limit; ``bound`` bounds every plan worth ``beat`` or more."""
    started = time.monotonic()
    items, slots = np.nonzero(problem.valid)
    columns = np.arange(items.size)
    value = problem.value[items, slots].astype(float)
    rows = [
        LinearConstraint(
            sparse.csr_matrix(
                (np.ones(items.size), (items, columns)), (problem.n_items, items.size)
            ),
            1.0,
            1.0,
        ),
        LinearConstraint(value[None, :], beat, np.inf),
    ]
    agents = problem.agent[items, slots]
    for row in problem.agent_rows:
        matrix = sparse.csr_matrix(
            (row.coef[items, slots].astype(float), (agents, columns)),
            (problem.n_agents, items.size),
        )
        rows.append(LinearConstraint(matrix, row.lower, row.upper))
    for row in problem.global_rows:
        rows.append(LinearConstraint(row.coef[items, slots][None, :], -np.inf, row.upper))
    res = milp(
        -value,
        constraints=rows,
        integrality=np.ones(items.size),
        bounds=Bounds(0.0, 1.0),
        options={"time_limit": max(1.0, float(time_limit_s)), "mip_rel_gap": 0.0},
    )
    seconds = time.monotonic() - started
    if res.status == HIGHS_INFEASIBLE:
        return ExactResult("INFEASIBLE", None, float(beat), seconds)
    dual = getattr(res, "mip_dual_bound", None)
    bound = np.inf if dual is None or not np.isfinite(dual) else -float(dual)
    if res.x is None:
        return ExactResult("UNKNOWN", None, bound, seconds)
    chosen = res.x > 0.5
    choice = np.full(problem.n_items, -1, dtype=np.int64)
    choice[items[chosen]] = slots[chosen]
    status = "OPTIMAL" if res.status == 0 else "FEASIBLE"
    return ExactResult(status, choice, bound, seconds)
