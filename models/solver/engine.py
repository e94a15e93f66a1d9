"""Solve an assignment problem: Lagrangian bound, priced rounding, repair and local search, and
CP-SAT when the problem is small enough to prove optimality.

The order never changes: bound first (so every answer has a gap), then a heuristic plan, then the
exact engine where it fits. When neither finds a plan, the LP relaxation
(models.solver.lp_relaxation) decides: it either proves that no plan exists and names the limits in
conflict, or its rounded
optimum becomes the plan. Everything is deterministic for a given problem and options.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

import numpy as np

from models.solver.core import (
    AgentRows,
    AssignmentProblem,
    GlobalRow,
    Prices,
    Solution,
    agent_loads,
    is_feasible,
    objective_value,
    relative_gap,
    row_violations,
)
from models.solver.cpsat_engine import solve_exact
from models.solver.findings import Finding, Verdict, Widening, WithinTolerance
from models.solver.flow_rounding import flow_start
from models.solver.lagrangian import DualResult, priced_scores, solve_dual
from models.solver.lns import lns, repair_neighbourhood
from models.solver.local_search import State
from models.solver.lp_relaxation import LpResult, solve_lp, widening
from models.solver.repair import improve, repair
from models.solver.tolerance import total_violation, within_tolerance

BAND_MARGINS = (0.3, 0.6, 0.9)
OPTIMAL_GAP = 1e-9
HEURISTIC_SHARE_BEFORE_EXACT = 0.15
EXACT_SHARE_BEFORE_LNS = 0.5
EXACT_WORK_SHARE = 0.4
REPAIR_NEIGHBOURHOODS = (8, 24, 64)
LNS_MAX_PAIRS = 500_000
REPAIR_WORK_S = 3.0
MAX_STRETCHES = 8
WIDENING_GROUPS: dict[Literal["bands", "budget"], frozenset[str]] = {
    "bands": frozenset({"workload_band", "potential_band"}),
    "budget": frozenset({"moved_accounts", "moved_potential"}),
}
"""The limits a manager trades off when no plan fits: balance bands against disruption budget."""
LP_BAND_MARGINS = (0.1, 0.3)
LP_BUDGET_MARGIN = 0.01
SAFETY_FACTOR = 10.0
SAFETY_SECONDS = 60.0
SAFETY_SECONDS_PER_MILLION_PAIRS = 500.0
"""The deterministic phases' work grows with the region: ~120 s per million candidate pairs on
2 cores (a 2M-pair region of the 100k world: dual 43 s, rounding and repair 200 s), whatever the
scenario's time limit. The safety net allows ~4x that, so it stops runaway phases only; without
it a large region ran out of clock mid-repair and ended with no plan."""
FLOW_MIN_ITEMS = 10_000
"""Regions this large start repair from the flow rounding when it breaks the rows less: on a
45,328-account region of a 300k world, rounding each account alone broke workload and potential
bands by 20.4 average bounds and repair stalled at 0.86 after 120 s; the flow started at 4.5.
Smaller regions keep the plain rounding, which their repair closes in seconds."""
EXPLAIN_MIN_S = 30.0
"""Seconds the widening LPs get at least, once a region is proven to have no plan: a split
plan's regions share the scenario's time limit by size, and on the 1M world (60 s for ~45
regions) Northeast-2 (2,858 accounts x 8 reps) had 2 s, so each widening got 1 s and named
nothing, where the budget's took 1.7 s and the bands' 3.3 s."""


LP_RESCUE_MAX_PAIRS = 500_000
"""Above this many candidate pairs the LP rescue is not tried: HiGHS' dual simplex on the 1M
world's South-2-1 (50,613 accounts x 119 reps, 1,977,378 pairs) was still in phase 1 after
1,350 s with a 900 s time limit (it does not check its clock there), and in the plan it held the
whole 1M run for over 46 minutes. Such a region ends with the heuristic's broken rows in minutes
(``Verdict("lp_skipped")``); splitting it smaller (``max_accounts_per_region``) brings it back
under the LP."""
REPAIR_MAX_PAIRS = 200_000
"""Exact repair stops widening its neighbourhood beyond this many candidate pairs: on the 100k
world a 626k-pair CP-SAT repair took 95 s of wall time for its 3 s work budget and ended
UNKNOWN; the LP rescue then had no time left."""


class ExactEngine(Protocol):
    """A specialised exact phase for one problem shape, plugged in through ``SolverOptions``.

    The product never plugs one in; ``models.capacity_exact`` (capacity-only problems, the GAP
    shape) is run this way by the GAP benchmark and its tests.
    """

    def applies(self, problem: AssignmentProblem) -> bool:
        """Whether this engine handles the problem's shape."""

    def solve(self, problem: AssignmentProblem, choice: np.ndarray, dual: DualResult, **kw: Any):
        """A result with ``choice``, ``bound``, ``method`` and ``exact_status``."""


@dataclass(frozen=True)
class SolverOptions:
    """How hard to try.

    Attributes:
        time_limit_s: wall-clock budget for the whole solve.
        exact_max_pairs: use CP-SAT when the problem has at most this many candidate pairs.
        exact_workers: CP-SAT threads (1 keeps it deterministic).
        dual_iterations: L-BFGS iterations per temperature stage of the dual.
        lns_steps: large-neighbourhood steps after the heuristic or CP-SAT (0 switches off;
            skipped above 500,000 candidate pairs, where 50 steps took 46 s for a 0.0003% gain).
        deterministic: end phases on convergence and work counts (CP-SAT's deterministic time,
            a fixed number of neighbourhood steps), so plans repeat on any machine; the wall
            clock then only stops runaway phases, at 10x ``time_limit_s`` + 60 s.
        seed: random seed of CP-SAT and of the neighbourhood choice.
        exact_engine: a specialised exact phase used instead of CP-SAT when it applies (the
            capacity-only engine in ``models.capacity_exact``; never set on the product path).
        tolerance: relative slack per agent-row name (share of each row's bound) a plan may miss
            that row by when the heuristic finds no plan keeping it exactly: such a plan is kept
            (status "feasible", a ``WithinTolerance`` finding names the rows) instead of going
            to the LP rescue. Rows not named get none.
    """

    time_limit_s: float = 60.0
    exact_max_pairs: int = 50_000
    exact_workers: int = 1
    dual_iterations: int = 100
    lns_steps: int = 100
    deterministic: bool = True
    seed: int = 0
    exact_engine: ExactEngine | None = None
    tolerance: Mapping[str, float] = field(default_factory=dict)


def solve(
    problem: AssignmentProblem,
    options: SolverOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> Solution:
    """The best plan found within the budget, its value, a valid upper bound and a status;
    ``progress`` hears of each phase as it starts (the LP rescue can take minutes) and, last,
    how the solve ended (a 1M-account plan solves ~45 regions one after another)."""
    solution = _solve(problem, options, progress)
    if progress is not None:
        progress(f"{solution.status} ({solution.method}) in {solution.seconds:.0f} s")
    return solution


def _solve(
    problem: AssignmentProblem,
    options: SolverOptions | None,
    progress: Callable[[str], None] | None,
) -> Solution:
    options = options or SolverOptions()
    say = progress or (lambda _: None)
    start = time.monotonic()
    # deterministic: phases end on convergence / work counts; the clock is only a safety net
    limit = options.time_limit_s
    if options.deterministic:
        limit = safety_limit_s(options.time_limit_s, problem.n_pairs())
    deadline = start + limit
    if problem.n_items == 0:
        return Solution("optimal", np.zeros(0, dtype=np.int64), 0.0, 0.0, "empty", 0.0)
    say(
        f"bounding {problem.n_items:,} items x {problem.n_agents:,} agents "
        f"({problem.n_pairs():,} candidate pairs)"
    )
    dual = solve_dual(problem, max_iter=options.dual_iterations)
    exact_fits = problem.n_pairs() <= options.exact_max_pairs
    heuristic_end = deadline
    if exact_fits and not options.deterministic:
        heuristic_end = start + HEURISTIC_SHARE_BEFORE_EXACT * options.time_limit_s
    say("rounding and repairing at the bound's prices")
    choice, findings, attempt = _heuristic(problem, dual, start, min(deadline, heuristic_end))
    method, bound, exact_status = "lagrangian+repair", dual.bound, None
    tolerated = within_tolerance(problem, attempt, options.tolerance) if choice is None else None
    if tolerated is not None and not exact_fits:
        say("kept the best attempt: it misses rows only within the rounding tolerance")
        return _finish(
            problem, attempt, bound, method + "+tolerance", None, dual, [tolerated], start
        )
    engine = options.exact_engine
    if exact_fits and choice is not None and engine is not None and engine.applies(problem):
        found = engine.solve(
            problem,
            choice,
            dual,
            deadline=deadline,
            deterministic=options.deterministic,
            workers=options.exact_workers,
            exact_work_s=EXACT_WORK_SHARE * options.time_limit_s,
            lns_steps=options.lns_steps,
            seed=options.seed,
        )
        bound = min(bound, found.bound)
        return _finish(
            problem, found.choice, bound, found.method, found.exact_status, dual, findings, start
        )
    if exact_fits:
        share = EXACT_SHARE_BEFORE_LNS if options.lns_steps else 1.0
        exact_end = time.monotonic() + share * max(0.0, deadline - time.monotonic())
        choice, method, exact_status, bound = _exact_phase(
            problem, choice, options, exact_end, method, bound
        )
    if choice is None and exact_status == "INFEASIBLE":
        named = _widenings(problem, min(_explain_s(options), deadline - time.monotonic()))
        findings = [Verdict("cpsat_infeasible"), *(named or findings)]
    if choice is None and tolerated is not None:
        choice, method, findings = attempt, method + "+tolerance", [tolerated]
    if choice is None and exact_status != "INFEASIBLE":
        if problem.n_pairs() > LP_RESCUE_MAX_PAIRS:
            say("no plan found; too large for the LP relaxation: reporting the broken limits")
            findings = [Verdict("lp_skipped", value=float(problem.n_pairs())), *findings]
        else:
            say("no plan yet: solving the LP relaxation (HiGHS; can take minutes on large regions)")
            choice, lp_status, lp_findings, bound = _lp_rescue(
                problem, deadline, bound, dual.prices, _explain_s(options)
            )
            # no plan: the LP's verdict first, the heuristic's broken rows only when it names none
            keep = [] if choice is not None or len(lp_findings) > 1 else findings
            findings = lp_findings + keep
            exact_status = "INFEASIBLE" if lp_status == "infeasible" else None
            method = "lp+repair" if choice is not None else method
    small = problem.n_pairs() <= LNS_MAX_PAIRS  # on big regions steps cost much, gain ~nothing
    if choice is not None and exact_status != "OPTIMAL" and options.lns_steps and small:
        better = lns(
            problem,
            choice,
            prices=dual.prices,
            deadline=deadline,
            max_steps=options.lns_steps,
            seed=options.seed,
        )
        if objective_value(problem, better) > objective_value(problem, choice):
            choice, method = better, method + "+lns"
    return _finish(problem, choice, bound, method, exact_status, dual, findings, start)


def _explain_s(options: SolverOptions) -> float:
    """Seconds to name the limits that must widen (``EXPLAIN_MIN_S`` at least)."""
    return max(options.time_limit_s, EXPLAIN_MIN_S)


def safety_limit_s(time_limit_s: float, n_pairs: int) -> float:
    """The wall clock a deterministic solve may run before phases are cut (a safety net)."""
    per_pairs = SAFETY_SECONDS_PER_MILLION_PAIRS * n_pairs / 1e6
    return SAFETY_FACTOR * time_limit_s + SAFETY_SECONDS + per_pairs


def _exact_phase(problem, choice, options: SolverOptions, end: float, method: str, bound: float):
    """CP-SAT on the whole problem, hinted with the heuristic's plan; keeps the better plan."""
    wall = max(1.0, end - time.monotonic())
    # deterministic mode: CP-SAT's work budget comes from the options, never from the clock
    work = EXACT_WORK_SHARE * options.time_limit_s
    exact = solve_exact(
        problem,
        time_limit_s=SAFETY_FACTOR * work + SAFETY_SECONDS if options.deterministic else wall,
        deterministic_time_s=work if options.deterministic else None,
        hint=choice,
        workers=options.exact_workers,
        seed=options.seed,
    )
    bound = min(bound, exact.bound)
    if (
        exact.choice is not None
        and is_feasible(problem, exact.choice)
        and (
            choice is None
            or objective_value(problem, exact.choice) >= objective_value(problem, choice)
        )
    ):
        choice, method = exact.choice, "cp-sat"
    return choice, method, exact.status, bound


def _finish(problem, choice, bound, method, exact_status, dual, findings, start) -> Solution:
    seconds = time.monotonic() - start
    if choice is None:
        status = "infeasible" if exact_status == "INFEASIBLE" else "unknown"
        empty = np.full(problem.n_items, -1, dtype=np.int64)
        return Solution(
            status, empty, float("-inf"), bound, method, seconds, dual.prices, tuple(findings)
        )
    value = objective_value(problem, choice)
    bound = max(bound, value) if exact_status == "OPTIMAL" else bound
    tolerated = any(isinstance(f, WithinTolerance) for f in findings)
    proven = not tolerated and (
        exact_status == "OPTIMAL" or relative_gap(value, bound) <= OPTIMAL_GAP
    )
    status = "optimal" if proven else "feasible"
    return Solution(status, choice, value, bound, method, seconds, dual.prices, tuple(findings))


def _heuristic(problem: AssignmentProblem, dual: DualResult, start: float, deadline: float):
    """Round at prices of ever more tightly banded copies until repair reaches feasibility.

    Returns (feasible choice or None, findings, the least-violating attempt or None)."""
    findings: list[Finding] = []
    budget = deadline - start
    choice = best = None
    for margin in BAND_MARGINS:
        tighter = shrink_bands(problem, margin)
        prices = solve_dual(tighter, start=dual.prices, temperatures=(0.002,), max_iter=40).prices
        score = priced_scores(tighter, prices)
        repair_deadline = min(deadline, time.monotonic() + 0.3 * budget)
        choice = repair(problem, _rounded(problem, tighter, prices, score), score, repair_deadline)
        if not is_feasible(problem, choice):
            choice = _exact_repair(problem, choice, deadline)
        if is_feasible(problem, choice):
            improve_deadline = min(deadline, time.monotonic() + 0.3 * budget)
            return improve(problem, choice, improve_deadline), findings, None
        if best is None or total_violation(problem, choice) < total_violation(problem, best):
            best = choice
        if time.monotonic() >= deadline:
            break
    if dual.saturated:
        findings.append(Verdict("diverged"))
    if best is not None:
        findings.extend(row_violations(problem, best))
    return None, findings, best


def _rounded(
    problem: AssignmentProblem, tighter: AssignmentProblem, prices: Prices, score: np.ndarray
) -> np.ndarray:
    """Each item to its best priced candidate, or, on regions of ``FLOW_MIN_ITEMS`` items or
    more, the flow rounding (models.solver.flow_rounding) when it breaks the rows less."""
    start = score.argmax(axis=1)
    if problem.n_items < FLOW_MIN_ITEMS:
        return start
    flowed = flow_start(tighter, prices, start)
    if flowed is None:
        return start
    if State(problem, flowed).violation() < State(problem, start).violation():
        return flowed
    return start


def _lp_rescue(
    problem: AssignmentProblem,
    deadline: float,
    bound: float,
    prices: Prices,
    explain_s: float = float("inf"),
):
    """When the heuristic finds no plan: plan from the LP relaxation (models.solver.lp_relaxation).

    First the LP of a copy with room to round in (bands narrowed by ``LP_BAND_MARGINS`` of their
    half-width in turn, budgets by ``LP_BUDGET_MARGIN``): its optimum, each item to its largest
    share, lands near the real rows, and repair with its prices closes the rest. Where no copy has
    a solution or its rounding cannot be repaired, the LP of the problem itself decides: infeasible
    means no plan exists (``_widenings`` then says how far bands or budget must give, within
    ``explain_s`` seconds).
    Returns (choice or None, status of the deciding LP, findings, bound).
    """
    for margin in LP_BAND_MARGINS:
        if time.monotonic() >= deadline:
            break
        room = shrink_bands(problem, margin)
        budgets = tuple(
            GlobalRow(g.name, g.coef, g.upper * (1 - LP_BUDGET_MARGIN)) for g in room.global_rows
        )
        room = replace(room, global_rows=budgets)
        lp = solve_lp(room, deadline - time.monotonic(), hint=priced_scores(room, prices))
        if lp.status == "optimal":
            choice = _round_lp(problem, lp, deadline)
            if choice is not None:
                return choice, lp.status, [], bound
    lp = solve_lp(problem, deadline - time.monotonic(), hint=priced_scores(problem, prices))
    if lp.status in ("time limit", "failed"):
        return (
            None,
            lp.status,
            [Verdict("lp_unfinished", seconds=lp.seconds, reason=lp.status)],
            bound,
        )
    if lp.status == "infeasible":
        # the proof is in; naming the limits gets at most the scenario's own time budget
        named = _widenings(problem, min(explain_s, deadline - time.monotonic()))
        return None, lp.status, [Verdict("lp_infeasible"), *named], bound
    bound = min(bound, lp.value)
    choice = _round_lp(problem, lp, deadline)
    if choice is None:
        return None, lp.status, [Verdict("lp_rounding_failed", value=lp.value)], bound
    return choice, lp.status, [], bound


def _round_lp(problem: AssignmentProblem, lp: LpResult, deadline: float) -> np.ndarray | None:
    """Each item to its largest LP share, repaired and improved; None when repair fails."""
    choice = repair(problem, lp.x.argmax(axis=1), priced_scores(problem, lp.prices), deadline)
    if not is_feasible(problem, choice):
        choice = _exact_repair(problem, choice, deadline)
    if not is_feasible(problem, choice):
        return None
    return improve(problem, choice, deadline)


def _widenings(problem: AssignmentProblem, seconds: float) -> list[Finding]:
    """How far the bands must widen if the budget holds, and the budget if the bands hold (each
    with the rows that bind); half the time each."""
    out: list[Finding] = []
    for group, names in WIDENING_GROUPS.items():
        found = widening(problem, names, max(1.0, seconds / len(WIDENING_GROUPS)))
        if found.status == "no room":  # "absent" (no such rows) and failures say nothing
            out.append(Widening(group, None))
        elif found.status == "infeasible":
            out.append(Widening(group, found.widen, found.stretches[:MAX_STRETCHES]))
    return out


def _exact_repair(problem: AssignmentProblem, choice: np.ndarray, deadline: float) -> np.ndarray:
    """CP-SAT on the broken agents and ever more of their neighbours, until the rows hold."""
    for size in REPAIR_NEIGHBOURHOODS:
        broken = _broken_agents(problem, choice)
        if not broken.any() or time.monotonic() >= deadline:
            break
        fixed = repair_neighbourhood(
            problem, choice, broken, agents=size, work_s=REPAIR_WORK_S, max_pairs=REPAIR_MAX_PAIRS
        )
        if fixed is not None:
            choice = fixed
    return choice


def _broken_agents(problem: AssignmentProblem, choice: np.ndarray) -> np.ndarray:
    broken = np.zeros(problem.n_agents, dtype=bool)
    for rows in problem.agent_rows:
        load = agent_loads(problem, rows, choice)
        tol = 1e-7 * np.maximum(np.abs(np.where(np.isfinite(rows.upper), rows.upper, 1.0)), 1.0)
        broken |= (load > rows.upper + tol) | (load < rows.lower - tol)
    return broken


def shrink_bands(problem: AssignmentProblem, margin: float) -> AssignmentProblem:
    """A copy whose two-sided agent rows are narrowed by ``margin`` of their half-width and whose
    one-sided rows lose ``margin`` of an average item, so rounding lands inside the real rows."""
    rows = []
    for r in problem.agent_rows:
        lo, up = r.lower.copy(), r.upper.copy()
        both = np.isfinite(lo) & np.isfinite(up)
        half = np.where(both, (up - lo) / 2.0, 0.0)
        average = float(np.abs(r.coef[problem.valid]).mean()) if problem.n_pairs() else 0.0
        lo = np.where(both, lo + margin * half, lo)
        up = np.where(
            both, up - margin * half, np.where(np.isfinite(up), up - margin * average, up)
        )
        rows.append(AgentRows(r.name, r.coef, lo, up))
    return AssignmentProblem(
        problem.agent, problem.value, problem.n_agents, tuple(rows), problem.global_rows
    )
