"""Exact phase for capacity-only problems (the GAP shape): fix slots by two bounds, then search.

GAP instances are where the generic exact phase stalls: CP-SAT on every pair neither finds nor
proves the last few units. Here, in order:

1. **Bounds and fixing.** The LP prices (polished) and the knapsack Lagrangian
   (``models/capacity_exact/knapsack_bound.py``) each bound every plan that uses a given slot;
   slots whose bound falls below the incumbent go (50-90% of them on OR-Library GAP). With
   whole-number values the
   bound rounds down, and an incumbent that reaches it is proven optimal on the spot.
2. **Timed runs: Lagrangian branch and bound** on what is left
(``models/capacity_exact/lagrangian_bnb.py``):
   a finder asks for a plan one unit better than the best, again after each one it finds, while
   a prover asks from the bound down, so the proven bound falls unit by unit; one core each,
   until they meet or the clock runs out. On OR-Library GAP this proves every instance whose
   optimum is known within 60 s.
3. **Deterministic runs** (which must end on work, not on the clock, and so cannot race two
   threads): neighbourhood search on the fixed problem, quick CP-SAT steps on random
   neighbourhoods (``models/solver/lns.py``), then the items where the knapsack relaxation's plans
   differ from the incumbent, for ``lns_steps`` steps; then CP-SAT hinted with the incumbent on
   a deterministic work budget. A proof there is a proof for the whole problem.

Every step keeps the optimum (and the incumbent) in the problem, so each bound stays a bound on
the original. Measured on OR-Library GAP (60 s, 2 shared cores): bench/results/matcher.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from models.capacity_exact.knapsack_bound import KnapsackBound, knapsack_bound
from models.capacity_exact.lagrangian_bnb import branch_and_bound, least_gain
from models.capacity_exact.reduced_costs import ReducedCosts, reduced_costs, without_slots
from models.solver import (
    AssignmentProblem,
    DualResult,
    is_feasible,
    lns,
    objective_value,
    priced_scores,
    resolve_items,
    solve_exact,
)

LNS_CHUNK_STEPS = 200
GUIDED_WORK_S = 0.2
GUIDED_MAX_ITEMS = 40
INTEGRAL_ATOL = 1e-9


@dataclass(frozen=True)
class CapacityResult:
    """The best choice, how it was reached, CP-SAT's status name (or None) and a valid bound."""

    choice: np.ndarray
    method: str
    exact_status: str | None
    bound: float


@dataclass(frozen=True)
class _Fixing:
    """Both bounds per slot; ``keep(v)`` is every slot that a plan worth ``v`` or more may use."""

    lp: ReducedCosts
    knapsack: KnapsackBound
    integral: bool

    @property
    def bound(self) -> float:
        bound = min(self.lp.bound, self.knapsack.bound)
        return float(np.floor(bound + 1e-7)) if self.integral else bound

    def keep(self, value: float) -> np.ndarray:
        return self.lp.keep(value) & self.knapsack.keep(value)


def solve_capacity_only(
    problem: AssignmentProblem,
    choice: np.ndarray,
    dual: DualResult,
    *,
    deadline: float,
    deterministic: bool,
    workers: int,
    exact_work_s: float,
    lns_steps: int,
    seed: int,
) -> CapacityResult:
    """Improve a feasible ``choice``; see the module docstring for the steps."""
    lp = reduced_costs(problem, dual.prices)
    incumbent = objective_value(problem, choice)
    start_multipliers = priced_scores(problem, lp.prices).max(axis=1)
    fixing = _Fixing(lp, knapsack_bound(problem, start_multipliers, incumbent), _integral(problem))
    method, bound = "lagrangian+repair", fixing.bound
    if _proven(fixing, incumbent):
        return CapacityResult(choice, method, "OPTIMAL", bound)
    if not deterministic:
        return _branch_and_bound(problem, fixing, choice, deadline, method)
    search = _Search(problem, fixing, deadline, seed, steps_left=lns_steps)
    choice, gained = search.run(choice)
    method += "+lns" if gained else ""
    if _proven(fixing, objective_value(problem, choice)):
        return CapacityResult(choice, method + "+fixing", "OPTIMAL", bound)
    result = solve_exact(
        without_slots(problem, fixing.keep(objective_value(problem, choice)), choice),
        time_limit_s=max(1.0, deadline - time.monotonic()),
        deterministic_time_s=exact_work_s,
        hint=choice,
        workers=workers,
        seed=seed,
    )
    bound = min(bound, result.bound)
    if _improves(problem, result.choice, objective_value(problem, choice)):
        return CapacityResult(result.choice, method + "+cp-sat+fixing", result.status, bound)
    return CapacityResult(choice, method + "+fixing", result.status, bound)


def _branch_and_bound(problem, fixing: _Fixing, choice, deadline: float, method: str):
    """Timed runs: the Lagrangian branch and bound (``models/capacity_exact/lagrangian_bnb.py``) on
    the problem fixed at the incumbent, its finder and prover on one core each."""
    incumbent = objective_value(problem, choice)
    beat = incumbent + least_gain(fixing.integral, incumbent)
    smaller = without_slots(problem, fixing.keep(beat), choice)
    found = branch_and_bound(
        smaller,
        choice,
        multipliers=fixing.knapsack.multipliers,
        bound=fixing.bound,
        integral=fixing.integral,
        deadline=deadline,
    )
    if found.value > incumbent:
        method += "+bnb"
    status = "OPTIMAL" if found.optimal else "FEASIBLE"
    return CapacityResult(found.choice, method + "+fixing", status, min(fixing.bound, found.bound))


def _improves(problem: AssignmentProblem, candidate: np.ndarray | None, incumbent: float) -> bool:
    """A feasible plan worth more than ``incumbent``."""
    return (
        candidate is not None
        and is_feasible(problem, candidate)
        and objective_value(problem, candidate) > incumbent
    )


@dataclass
class _Search:
    """Deterministic rounds of neighbourhood search, each on the problem fixed at the incumbent:
    random neighbourhoods (``lns``), then the items where relaxed plans differ from the
    incumbent; ``steps_left`` CP-SAT steps in all (each round its own seed)."""

    problem: AssignmentProblem
    fixing: _Fixing
    deadline: float
    seed: int
    steps_left: int
    round_: int = 0
    guided_at: float | None = None

    def run(self, choice):
        """Search until the step budget is spent, the bound is reached or (a safety net only)
        the deadline; returns the best choice and whether it beats the one given."""
        problem, fixing = self.problem, self.fixing
        gained = False
        while self.steps_left > 0:
            value = objective_value(problem, choice)
            smaller = without_slots(problem, fixing.keep(value), choice)
            chunk = min(LNS_CHUNK_STEPS, self.steps_left)
            better = lns(
                smaller,
                choice,
                prices=fixing.lp.prices,
                deadline=self.deadline,
                max_steps=chunk,
                seed=self.seed + self.round_,
                adaptive=True,
            )
            if objective_value(problem, better) != self.guided_at:  # same input, same answer
                self.guided_at = objective_value(problem, better)
                guides = fixing.knapsack.guides
                better = _guided(smaller, better, guides, self.deadline, self.seed + self.round_)
            self.steps_left, self.round_ = self.steps_left - chunk, self.round_ + 1
            if objective_value(problem, better) > value:
                choice, gained = better, True
                if _proven(fixing, objective_value(problem, choice)):
                    break
            if time.monotonic() >= self.deadline:
                break
        return choice, gained


def _guided(problem, choice, guides, deadline: float, seed: int) -> np.ndarray:
    """Re-solve, for each relaxed plan in turn, the items where it differs from the incumbent
    (a random ``GUIDED_MAX_ITEMS`` of them when more differ: CP-SAT must close it quickly)."""
    rng = np.random.default_rng(seed)
    value = objective_value(problem, choice)
    for g in range(len(guides) - 1, -1, -1):  # the last (best converged) relaxed plans first
        if time.monotonic() >= deadline:
            break
        items = np.flatnonzero(guides[g] != choice)
        if items.size > GUIDED_MAX_ITEMS:
            items = np.sort(rng.choice(items, size=GUIDED_MAX_ITEMS, replace=False))
        better, _ = resolve_items(problem, choice, items, work_s=GUIDED_WORK_S)
        if better is not None and objective_value(problem, better) > value:
            choice, value = better, objective_value(problem, better)
    return choice


def _proven(fixing: _Fixing, value: float) -> bool:
    return value >= fixing.bound - 1e-9 * max(1.0, abs(fixing.bound))


def _integral(problem: AssignmentProblem) -> bool:
    """Whole-number values: plan values are whole numbers, so bounds round down."""
    values = problem.value[problem.valid]
    return bool(np.allclose(values, np.round(values), rtol=0.0, atol=INTEGRAL_ATOL))
