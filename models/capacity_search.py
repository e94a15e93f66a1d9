"""Exact phase for capacity-only problems (the GAP shape): fix slots by two bounds, then search.

GAP instances are where the generic exact phase stalls: CP-SAT on every pair neither finds nor
proves the last few units. Here, in order:

1. **Bounds and fixing.** The LP prices (polished) and the knapsack Lagrangian
   (``models/knapsack_bound.py``) each bound every plan that uses a given slot; slots whose bound
   falls below the incumbent go (50-90% of them on OR-Library GAP). With whole-number values the
   bound rounds down, and an incumbent that reaches it is proven optimal on the spot.
2. **Neighbourhood search** on the smaller problem, in rounds until it stalls: quick CP-SAT
   steps on random neighbourhoods sized to what CP-SAT closes (``models/lns.py``), then the items
   where the knapsack relaxation's plans (nearly assignments) differ from the incumbent. Each
   better incumbent re-fixes more slots.
3. **Branch and cut on what is left** for the rest of the time: HiGHS asked for a plan better
   than the incumbent (``models/mip_engine.py``), where "no such plan" proves the incumbent
   optimal. Timed runs start HiGHS in a child process at once, while neighbourhood search goes
   on beside it, so both cores work: each search gain restarts HiGHS from the better plan, a
   stalled search hands its core to a second HiGHS seed, and a search proof stops HiGHS.
   Deterministic runs use CP-SAT hinted with the incumbent instead (HiGHS stops on the clock,
   not on work). A proof there is a proof for the whole problem.

Every step keeps the optimum (and the incumbent) in the problem, so CP-SAT's bound stays a bound
on the original. Measured on OR-Library GAP (60 s, 2 shared cores): bench/results/matcher.md.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import numpy as np

from models.assignment_core import AssignmentProblem, is_feasible, objective_value
from models.cpsat_engine import ExactResult, solve_exact
from models.knapsack_bound import KnapsackBound, knapsack_bound
from models.lagrangian import DualResult, priced_scores
from models.lns import lns, resolve_items
from models.mip_engine import MipError, MipRun
from models.reduced_costs import ReducedCosts, reduced_costs, without_slots

LNS_SHARE = 0.3
"""Deterministic runs: share of the remaining time for neighbourhood search before CP-SAT."""
LNS_CHUNK_STEPS = 200
LNS_CHUNK_S = 3.0
LNS_STALL = 2
"""Deterministic runs hand over to CP-SAT after this many rounds without a gain."""
HIGHS_RESTART_MIN_S = 5.0
"""Timed runs: HiGHS starts again from a better plan only while this much time is left."""
SEARCH_STALL = 3
"""Timed runs: rounds without a gain after which a second HiGHS takes the search's core."""
HIGHS_POLL_S = 0.05
MIP_MIN_GAIN = 1e-9
"""With fractional values, a plan must beat the incumbent by this share to count."""
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
    search = _Search(problem, fixing, deadline, deterministic, seed, steps_left=lns_steps)
    if not deterministic:
        return _mip_beside_search(problem, fixing, choice, search, deadline, method)
    lns_end = time.monotonic() + LNS_SHARE * max(0.0, deadline - time.monotonic())
    choice, gained = search.run(choice, end=lns_end, stall=LNS_STALL)
    method += "+lns" if gained else ""
    if _proven(fixing, objective_value(problem, choice)):
        return CapacityResult(choice, method + "+fixing", "OPTIMAL", bound)
    result = solve_exact(  # deterministic: HiGHS stops on the clock, not on work
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


def _start_highs(problem, fixing: _Fixing, choice, end: float, seed: int) -> MipRun:
    """HiGHS, in its own process, on the problem fixed at ``choice``, asked for a better plan."""
    incumbent = objective_value(problem, choice)
    beat = incumbent + _step(fixing, incumbent)
    return MipRun(
        without_slots(problem, fixing.keep(beat), choice),
        beat=beat,
        time_limit_s=end - time.monotonic(),
        seed=seed,
    )


def _highs_outcome(problem, fixing: _Fixing, choice, result: ExactResult):
    """What HiGHS's answer to ``_start_highs(..., choice, ...)`` gives: (best choice, status
    name, bound); "OPTIMAL" when HiGHS proves its plan best or finds no better one."""
    incumbent = objective_value(problem, choice)
    if result.status == "INFEASIBLE":  # nothing is worth incumbent + step or more
        step = _step(fixing, incumbent)
        return choice, "OPTIMAL", incumbent if fixing.integral else incumbent + step
    better = _improves(problem, result.choice, incumbent)
    choice = result.choice if better else choice
    value = objective_value(problem, choice)
    bound = min(fixing.bound, max(value, result.bound))
    return choice, "OPTIMAL" if better and result.status == "OPTIMAL" else "FEASIBLE", bound


def _step(fixing: _Fixing, incumbent: float) -> float:
    """The least gain that counts: one unit with whole-number values, else a sliver."""
    return 1.0 if fixing.integral else MIP_MIN_GAIN * max(1.0, abs(incumbent))


def _improves(problem: AssignmentProblem, candidate: np.ndarray | None, incumbent: float) -> bool:
    """A feasible plan worth more than ``incumbent``."""
    return (
        candidate is not None
        and is_feasible(problem, candidate)
        and objective_value(problem, candidate) > incumbent
    )


@dataclass
class _Search:
    """Rounds of neighbourhood search, each on the problem fixed at the incumbent: random
    neighbourhoods (``lns``), then the items where relaxed plans differ from the incumbent.
    Rounds carry on from call to call (each round its own seed) within ``steps_left`` CP-SAT
    steps in all."""

    problem: AssignmentProblem
    fixing: _Fixing
    deadline: float
    deterministic: bool
    seed: int
    steps_left: int
    round_: int = 0
    guided_at: float | None = None

    def run(self, choice, *, end: float, stall: int | None, stop=None, until_gain=False):
        """Search until ``end``, ``stall`` rounds without a gain (timed runs), ``stop()``, the
        step budget or, with ``until_gain``, the first round that gains; returns the best choice
        and whether it beats the one given."""
        problem, fixing = self.problem, self.fixing
        gained, stalled = False, 0
        while self.steps_left > 0 and (
            self.deterministic
            or time.monotonic() < end
            and (stall is None or stalled < stall)
            and not (stop and stop())
        ):
            value = objective_value(problem, choice)
            smaller = without_slots(problem, fixing.keep(value), choice)
            chunk = min(LNS_CHUNK_STEPS, self.steps_left)
            chunk_end = (
                self.deadline if self.deterministic else min(end, time.monotonic() + LNS_CHUNK_S)
            )
            better = lns(
                smaller,
                choice,
                prices=fixing.lp.prices,
                deadline=chunk_end,
                max_steps=chunk,
                seed=self.seed + self.round_,
                adaptive=True,
                stop=stop,
            )
            limit = self.deadline if self.deterministic else end
            if objective_value(problem, better) != self.guided_at:  # same input, same answer
                self.guided_at = objective_value(problem, better)
                guides = fixing.knapsack.guides
                better = _guided(smaller, better, guides, limit, self.seed + self.round_, stop)
            self.steps_left, self.round_, stalled = (
                self.steps_left - chunk,
                self.round_ + 1,
                stalled + 1,
            )
            if objective_value(problem, better) > value:
                choice, gained, stalled = better, True, 0
                if until_gain or _proven(fixing, objective_value(problem, choice)):
                    break
            if time.monotonic() >= self.deadline:
                break
        return choice, gained


def _mip_beside_search(problem, fixing: _Fixing, choice, search: _Search, deadline, method):
    """Timed runs: HiGHS asked to beat the incumbent (``_start_highs``) runs in a child process
    while neighbourhood search (single-threaded CP-SAT steps) goes on here, so both cores work.

    Each time the search gains, HiGHS starts again from the better plan (the fixing and the
    cutoff tighten with it) while ``HIGHS_RESTART_MIN_S`` or more is left. When the search
    stalls for ``SEARCH_STALL`` rounds, a second HiGHS with another seed takes its core (HiGHS's
    time to a proof varies by 2x and more between seeds) and the first proof ends both. "No
    better plan" proves the plan HiGHS started from optimal (search can only have matched it);
    a search that reaches the bound stops HiGHS and returns at once. When every HiGHS fails, the
    search carries on to the deadline and its plan stands."""
    start_value = objective_value(problem, choice)
    searched, highs_from, seed = choice, choice, search.seed
    runs: list[MipRun] = []
    try:
        runs.append(_start_highs(problem, fixing, choice, deadline, seed))
        while True:
            searched, gained = search.run(
                searched, end=deadline, stall=SEARCH_STALL, stop=runs[0].done, until_gain=True
            )
            if _proven(fixing, objective_value(problem, searched)):
                method = _then(method, "lns") + "+fixing"
                return CapacityResult(searched, method, "OPTIMAL", fixing.bound)
            if runs[0].done() or deadline - time.monotonic() < HIGHS_RESTART_MIN_S:
                break
            seed += 1
            if not gained:  # stalled: a second HiGHS takes the search's core
                with contextlib.suppress(MipError):  # the first one goes on without it
                    runs.append(_start_highs(problem, fixing, highs_from, deadline, seed))
                break
            runs[0].stop()
            highs_from, runs = searched, []
            runs.append(_start_highs(problem, fixing, searched, deadline, seed))
        outcome = _first_proof(problem, fixing, highs_from, runs)
    except MipError:  # HiGHS could not start
        outcome = None
    finally:
        for run in runs:
            run.stop()
    if outcome is None:  # every HiGHS failed: the search takes the rest of the time
        searched, _ = search.run(searched, end=deadline, stall=None)
        outcome = (highs_from, "FEASIBLE", fixing.bound)
    mip_choice, status, bound = outcome
    mip_value, searched_value = (
        objective_value(problem, mip_choice),
        objective_value(problem, searched),
    )
    by_highs = mip_value > searched_value  # on a tie HiGHS may have handed back its start
    best, value = (mip_choice, mip_value) if by_highs else (searched, searched_value)
    if value > start_value:
        method = _then(method, "highs" if by_highs else "lns")
    bound = max(bound, value) if status == "OPTIMAL" else min(fixing.bound, max(bound, value))
    proven = status == "OPTIMAL" or _proven(fixing, value)
    return CapacityResult(best, method + "+fixing", "OPTIMAL" if proven else "FEASIBLE", bound)


def _first_proof(problem, fixing: _Fixing, start, runs: list[MipRun]):
    """Wait for HiGHS runs that all started from ``start``: the first proof (an ``OPTIMAL``
    outcome of ``_highs_outcome``) ends the wait and stops the rest; otherwise, once every run
    has ended, the best plan with the least of their (all valid) bounds, or None when every run
    failed."""
    outcomes, pending = [], list(runs)
    while pending:
        for run in [run for run in pending if run.done() or run.overdue()]:
            pending.remove(run)
            try:
                outcome = _highs_outcome(problem, fixing, start, run.result())
            except MipError:
                continue
            if outcome[1] == "OPTIMAL":
                for other in pending:
                    other.stop()
                return outcome
            outcomes.append(outcome)
        if pending:
            time.sleep(HIGHS_POLL_S)
    if not outcomes:
        return None
    choice, status, _ = max(outcomes, key=lambda o: objective_value(problem, o[0]))
    return choice, status, min(bound for _, _, bound in outcomes)


def _then(method: str, engine: str) -> str:
    """``method`` + ``"+engine"``, unless that engine is already its last step."""
    return method if method.endswith(f"+{engine}") else f"{method}+{engine}"


def _guided(problem, choice, guides, deadline: float, seed: int, stop=None) -> np.ndarray:
    """Re-solve, for each relaxed plan in turn, the items where it differs from the incumbent
    (a random ``GUIDED_MAX_ITEMS`` of them when more differ: CP-SAT must close it quickly)."""
    rng = np.random.default_rng(seed)
    value = objective_value(problem, choice)
    for g in range(len(guides) - 1, -1, -1):  # the last (best converged) relaxed plans first
        if time.monotonic() >= deadline or (stop is not None and stop()):
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
