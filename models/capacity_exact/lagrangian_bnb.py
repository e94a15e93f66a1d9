"""Lagrangian branch and bound for capacity-only problems (the GAP shape), on both cores at once.

Each question is a decision: "is there a plan worth ``target`` or more?", answered by the
depth-first search of ``models/capacity_exact/decision_search.py``, whose fixing grows stronger the
closer the target sits to the Lagrangian bound. Two threads ask such questions side by side (the
compiled
search releases the GIL):

* the **finder** asks for one unit more than the best plan known, again after every plan it
  finds; when its search is exhausted, the best plan is optimal;
* the **prover** (whole-number values only) asks from the top: the largest whole number under
  the root bound first, then one less each time a search is exhausted, so the proven bound comes
  down unit by unit (Posta, Ferland and Michelon 2012 solve GAP as this sequence of decisions).

The two meet when the best plan reaches the proven bound. Measured on OR-Library GAP (60 s, 2
shared cores): bench/results/matcher.md; docs/matcher.md says how the rules were chosen.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from models.capacity_exact.decision_search import EXHAUSTED, FOUND, NODES, PAUSED, registers, search
from models.solver import AgentRows, AssignmentProblem, is_feasible, objective_value

ROOT_ITERATIONS = 300
"""Subgradient steps at the root of each decision (from the previous decision's multipliers)."""
NODE_ITERATIONS = 20
NODES_PER_CALL = 10
"""Nodes between two looks at the clock (a node takes about 1 ms on OR-Library d10200)."""
MIN_GAIN = 1e-9
"""With fractional values, a plan must beat the best by this share of its value to count."""
EPS_SHARE = 1e-3
"""Share of that least gain (1 with whole-number values) left to float round-off."""


@dataclass(frozen=True)
class BnbResult:
    """The best plan (slot per item), its value, a valid bound, whether that bound is proven
    tight, and how many nodes the threads searched in all."""

    choice: np.ndarray
    value: float
    bound: float
    optimal: bool
    nodes: int


class DecisionSearch:
    """The problem as dense agent x item arrays, and the state of one decision at a time."""

    def __init__(self, problem: AssignmentProblem, multipliers: np.ndarray) -> None:
        m, n = problem.n_agents, problem.n_items
        items, slots = np.nonzero(problem.valid)
        agents = problem.agent[items, slots]
        self.value = np.zeros((m, n))
        self.weight = np.zeros((m, n), dtype=np.int64)
        self.allowed0 = np.zeros((m, n), dtype=bool)
        self.slot = np.full((m, n), -1, dtype=np.int64)
        self.value[agents, items] = problem.value[items, slots]
        self.weight[agents, items] = np.round(problem.agent_rows[0].coef[items, slots])
        self.allowed0[agents, items] = True
        self.slot[agents, items] = slots
        self.capacity = np.round(problem.agent_rows[0].upper).astype(np.int64)
        self.u = np.asarray(multipliers, dtype=float).copy()
        width = int(self.capacity.max(initial=0)) + 1
        whole = np.zeros(n, dtype=np.int64)
        self.work = (whole.copy(), whole.copy(), whole.copy(), whole.copy(),  # plan, taken, ...
                     np.zeros((n + 1, width)), np.zeros((n + 1, width)),  # prefix/suffix tables
                     np.zeros((m, n)), np.zeros((m, n)), np.zeros(n))  # fmt: skip
        self.trail = np.zeros((m * n + n + 1, 3), dtype=np.int64)  # each slot and item, once
        self.frames = np.zeros((m * n + n + 1, 4), dtype=np.int64)  # one per decision on a path
        self.nodes = 0

    def decide(
        self, target: float, step: float, until: Callable[[], bool]
    ) -> tuple[int, np.ndarray | None]:
        """(FOUND, a plan worth ``target`` or more as agent per item), (EXHAUSTED, None) when
        there is none, or (PAUSED, None) once ``until()`` turns true (checked between node
        batches). ``step`` is the least difference between plan values that counts (1 with
        whole-number values): subgradient steps aim one step below ``target``, and bounds
        within a thousandth of a step of it count as reaching it (float round-off)."""
        allowed = self.allowed0.copy()
        assign = np.full(self.value.shape[1], -1, dtype=np.int64)
        regs = registers(ROOT_ITERATIONS, NODE_ITERATIONS)
        state = (allowed, assign, self.capacity.copy(), np.zeros(1), self.u, self.trail,
                 self.frames, regs)  # fmt: skip
        data = (self.value, self.weight)
        eps = EPS_SHARE * step
        try:
            while not until():
                status = search(
                    float(target), float(target - step), eps, NODES_PER_CALL, data, state, self.work
                )
                if status != PAUSED:
                    return status, self.work[0].copy() if status == FOUND else None
            return PAUSED, None
        finally:
            self.nodes += int(regs[NODES])

    def choice(self, plan: np.ndarray) -> np.ndarray:
        """Agent per item -> slot per item."""
        return self.slot[plan, np.arange(plan.size)]


def least_gain(integral: bool, value: float) -> float:
    """The least gain over ``value`` that counts: one unit with whole-number values, else
    ``MIN_GAIN`` of it."""
    return 1.0 if integral else MIN_GAIN * max(1.0, abs(value))


def warm_up() -> None:
    """Compile the search now rather than inside someone's time limit: numba caches the machine
    code on disk (``models/__pycache__``), so this costs seconds once per install and source
    change, then a fraction of a second."""
    rows = (AgentRows("capacity", np.ones((2, 2)), np.full(2, -np.inf), np.ones(2)),)
    problem = AssignmentProblem(np.tile(np.arange(2), (2, 1)), np.eye(2), 2, rows)
    DecisionSearch(problem, np.zeros(2)).decide(2.0, 1.0, lambda: False)


def branch_and_bound(
    problem: AssignmentProblem,
    choice: np.ndarray,
    *,
    multipliers: np.ndarray,
    bound: float,
    integral: bool,
    deadline: float,
) -> BnbResult:
    """Improve the feasible ``choice`` and tighten ``bound`` (valid, from the knapsack
    Lagrangian at ``multipliers``) until they meet or ``deadline``; see the module docstring."""
    race = _Race(problem, choice, bound, integral, deadline)
    works = [race.find, race.prove] if integral else [race.find]
    threads = [
        threading.Thread(target=race.run, args=(work, multipliers), daemon=True) for work in works
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if race.error is not None:
        raise race.error
    optimal = race.met() or race.proven
    bound = race.value if optimal else race.bound
    return BnbResult(race.choice, race.value, bound, optimal, race.nodes)


class _Race:
    """What the finder and the prover share: the best plan, the proven bound, the clock."""

    def __init__(self, problem, choice, bound, integral, deadline) -> None:
        self.problem, self.integral, self.deadline = problem, integral, deadline
        self.choice = choice
        self.value = objective_value(problem, choice)
        self.bound = float(np.floor(bound + 1e-7)) if integral else float(bound)
        self.proven = False  # the finder exhausted its search: the best plan is optimal
        self.nodes = 0
        self.error: BaseException | None = None
        self.lock = threading.Lock()

    def met(self) -> bool:
        """The best plan reaches the proven bound."""
        return self.value >= self.bound - 1e-9 * max(1.0, abs(self.bound))

    def over(self) -> bool:
        return (
            self.proven or self.met() or time.monotonic() >= self.deadline or self.error is not None
        )

    def run(self, work, multipliers) -> None:
        """One thread: ``work`` (``find`` or ``prove``) with a searcher of its own; an error is
        kept for the caller's thread."""
        searcher = None
        try:
            searcher = DecisionSearch(self.problem, multipliers)
            work(searcher)
        except BaseException as exc:  # handed to the caller's thread
            self.error = exc
        finally:
            with self.lock:
                self.nodes += searcher.nodes if searcher is not None else 0

    def find(self, searcher: DecisionSearch) -> None:
        while not self.over():
            step = least_gain(self.integral, self.value)
            target = self.value + step
            status, plan = searcher.decide(target, step, self.over)
            if status == PAUSED:
                return
            if status == EXHAUSTED:  # nothing beats the best plan: it is optimal
                with self.lock:
                    self.proven = True
                return
            with self.lock:
                if not self._take(searcher.choice(plan)):
                    return  # round-off: the same plan again would repeat forever

    def prove(self, searcher: DecisionSearch) -> None:
        while not self.over():
            target = self.bound
            status, plan = searcher.decide(target, 1.0, self.over)
            if status == PAUSED:
                return
            with self.lock:
                if status == EXHAUSTED:
                    self.bound = min(self.bound, target - 1.0)
                    continue
                if not self._take(searcher.choice(plan)) or not self.over():
                    return  # a plan at the bound ends the race; anything else is round-off

    def _take(self, found: np.ndarray) -> bool:
        """Keep ``found`` when it beats the best plan (call with the lock held)."""
        if not is_feasible(self.problem, found):
            raise RuntimeError(
                "the branch and bound returned a plan that breaks a capacity (a bug: please "
                "report it with the problem); set solver.deterministic: true to plan without it"
            )
        value = objective_value(self.problem, found)
        if value <= self.value:
            return False
        self.choice, self.value = found, value
        return True
