"""Knapsack Lagrangian bound for capacity-only problems (the GAP shape), and the slots it rules out.

The dual in ``models/solver/lagrangian.py`` prices the side rows, which leaves the LP bound. When
the only side rows are integer capacities, relaxing "each item takes one slot" instead (a multiplier
``u[j]`` per item) leaves one 0-1 knapsack per agent, solved exactly by dynamic programming over
its capacity. That bound is never weaker than the LP bound (it starts from the LP prices) and on
OR-Library GAP it closes most of the LP's gap (chu1997/c10200: LP 2,795.4, knapsack 2,803.3,
optimum 2,806). Subgradient steps (Polyak, towards the incumbent) improve the multipliers.

Probing then bounds every plan that uses a given slot: forcing slot (j, k) into agent a's
knapsack changes only that knapsack, and prefix and suffix DP tables give every forced value in
one pass. A slot whose forced bound is below the incumbent is in no plan as good as it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.solver import AssignmentProblem

MAX_DP_CELLS = 20_000_000
"""Largest sum over agents of (capacity + 1) x items for which the DP is attempted (~1 s)."""
ITERATIONS = 150
STALL_ITERATIONS = 8
BOUND_RTOL = 1e-9
GUIDES = 30
"""Relaxed plans kept from the last subgradient iterations (they guide neighbourhood search)."""


@dataclass(frozen=True)
class KnapsackBound:
    """The best bound found, its item multipliers and each slot's forced bound (-inf on padding).

    ``guides`` are the relaxed plans of the last iterations: per item the slot its agent's
    knapsack took, -1 where no knapsack or several did. They are nearly assignments (on GAP
    e10400, 386 of 400 items take exactly one slot), so where one differs from the incumbent
    is where to search.
    """

    bound: float
    multipliers: np.ndarray
    slot_bound: np.ndarray
    guides: tuple[np.ndarray, ...] = ()

    def keep(self, incumbent_value: float) -> np.ndarray:
        """Mask of the slots a plan worth at least ``incumbent_value`` may use."""
        tol = BOUND_RTOL * max(1.0, abs(self.bound)) + 1e-9
        return self.slot_bound >= incumbent_value - tol


def applies(problem: AssignmentProblem) -> bool:
    """True for one capacity row per agent with whole-number weights and capacities and no other
    rows (GAP), small enough for the DP, with each agent at most once among an item's slots (the
    branch and bound works on agent x item arrays); the matcher's plans (bands, budget) never
    qualify."""
    if problem.global_rows or len(problem.agent_rows) != 1 or problem.n_pairs() == 0:
        return False
    rows = problem.agent_rows[0]
    weights = rows.coef[problem.valid]
    upper = rows.upper
    return bool(
        np.isneginf(rows.lower).all()
        and np.isfinite(upper).all()
        and (upper >= 0).all()
        and np.array_equal(upper, np.round(upper))
        and (weights >= 0).all()
        and np.array_equal(weights, np.round(weights))
        and float((upper + 1).sum()) * problem.n_items <= MAX_DP_CELLS
        and _one_slot_per_agent(problem)
    )


def _one_slot_per_agent(problem: AssignmentProblem) -> bool:
    items, slots = np.nonzero(problem.valid)
    pairs = items * problem.n_agents + problem.agent[items, slots]
    return bool(np.unique(pairs).size == pairs.size)


def knapsack_bound(
    problem: AssignmentProblem,
    start: np.ndarray,
    target: float,
    *,
    iterations: int = ITERATIONS,
) -> KnapsackBound:
    """Minimise the knapsack Lagrangian from multipliers ``start`` (per item), then probe.

    ``start`` of ``max_k priced score`` at LP prices makes the first bound at most the LP bound;
    ``target`` (the incumbent's value) sets the Polyak step length. Deterministic.
    """
    knapsacks = _Knapsacks(problem)
    u = np.asarray(start, dtype=float).copy()
    best_bound, best_u, theta, stall = np.inf, u.copy(), 1.0, 0
    guides: list[np.ndarray] = []
    for _ in range(iterations):
        bound, taken, relaxed = knapsacks.solve(u)
        guides = [*guides[-(GUIDES - 1) :], relaxed]
        if bound < best_bound - 1e-12 * max(1.0, abs(bound)):
            best_bound, best_u, stall = bound, u.copy(), 0
        else:
            stall += 1
            if stall >= STALL_ITERATIONS:
                theta, stall = theta / 2.0, 0
        step = 1.0 - taken  # d bound / d u[j]
        norm = float(step @ step)
        if norm == 0.0 or best_bound - target <= 1e-9 * max(1.0, abs(target)):
            break  # the relaxed plan is feasible (so optimal), or the incumbent is proven
        u = u - theta * max(bound - target, 1e-6) / norm * step
    slot_bound = knapsacks.probe(best_u)
    return KnapsackBound(float(best_bound), best_u, slot_bound, tuple(guides))


class _Knapsacks:
    """One 0-1 knapsack per agent over its candidate slots; values are ``value - u[item]``."""

    def __init__(self, problem: AssignmentProblem) -> None:
        self.problem = problem
        items, slots = np.nonzero(problem.valid)
        agents = problem.agent[items, slots]
        order = np.lexsort((items, agents))
        self.items, self.slots, agents = items[order], slots[order], agents[order]
        self.starts = np.searchsorted(agents, np.arange(problem.n_agents + 1))
        self.weight = problem.agent_rows[0].coef[self.items, self.slots].astype(np.int64)
        self.value = problem.value[self.items, self.slots]
        self.capacity = problem.agent_rows[0].upper.astype(np.int64)

    def solve(self, u: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """The Lagrangian at ``u``, how many slots each item takes in the knapsacks' optimum, and
        the slot it takes (-1 unless exactly one)."""
        profit = self.value - u[self.items]
        taken = np.zeros(self.problem.n_items)
        relaxed = np.full(self.problem.n_items, -1, dtype=np.int64)
        total = float(u.sum())
        for a in range(self.problem.n_agents):
            span = slice(self.starts[a], self.starts[a + 1])
            best, chosen = _knapsack(profit[span], self.weight[span], int(self.capacity[a]))
            total += best
            np.add.at(taken, self.items[span][chosen], 1.0)
            relaxed[self.items[span][chosen]] = self.slots[span][chosen]
        relaxed[taken != 1] = -1
        return total, taken, relaxed

    def probe(self, u: np.ndarray) -> np.ndarray:
        """Per slot: the Lagrangian at ``u`` with that slot forced into its agent's knapsack."""
        profit = self.value - u[self.items]
        forced = np.full(self.items.size, -np.inf)
        optimum = np.zeros(self.problem.n_agents)
        for a in range(self.problem.n_agents):
            span = slice(self.starts[a], self.starts[a + 1])
            optimum[a], forced[span] = _forced_values(
                profit[span], self.weight[span], int(self.capacity[a])
            )
        agents = np.repeat(np.arange(self.problem.n_agents), np.diff(self.starts))
        total = float(u.sum()) + float(optimum.sum())
        out = np.full(self.problem.agent.shape, -np.inf)
        out[self.items, self.slots] = total - optimum[agents] + forced
        return out


def _knapsack(profit: np.ndarray, weight: np.ndarray, capacity: int) -> tuple[float, np.ndarray]:
    """Best total profit within ``capacity`` and the mask of the items taking it."""
    useful = np.flatnonzero((profit > 0) & (weight <= capacity))
    best = np.zeros(capacity + 1)
    took = np.zeros((useful.size, capacity + 1), dtype=bool)
    for row, item in enumerate(useful):
        w = int(weight[item])
        with_item = best[: capacity + 1 - w] + profit[item]
        better = with_item > best[w:]
        took[row, w:] = better
        best[w:] = np.where(better, with_item, best[w:])
    chosen = np.zeros(profit.size, dtype=bool)
    room = capacity
    for row in range(useful.size - 1, -1, -1):
        if took[row, room]:
            chosen[useful[row]] = True
            room -= int(weight[useful[row]])
    return float(best[capacity]), chosen


def _prefix_tables(profit: np.ndarray, weight: np.ndarray, capacity: int) -> np.ndarray:
    """Row r: best profit within each capacity using the first r items (monotone in capacity)."""
    table = np.zeros((profit.size + 1, capacity + 1))
    for row in range(profit.size):
        table[row + 1] = table[row]
        w = int(weight[row])
        if w <= capacity:
            np.maximum(
                table[row + 1, w:],
                table[row, : capacity + 1 - w] + profit[row],
                out=table[row + 1, w:],
            )
    return table


def _forced_values(
    profit: np.ndarray, weight: np.ndarray, capacity: int
) -> tuple[float, np.ndarray]:
    """The knapsack optimum, and per item the optimum with that item forced in (-inf: too heavy).

    Items with no profit are never in the unforced optimum, so forcing one in adds its profit to
    the optimum within the room left; the profitable ones combine prefix and suffix tables.
    """
    useful = np.flatnonzero(profit > 0)
    prefix = _prefix_tables(profit[useful], weight[useful], capacity)
    suffix = _prefix_tables(profit[useful][::-1], weight[useful][::-1], capacity)
    full = prefix[-1]
    forced = np.full(profit.size, -np.inf)
    fits = weight <= capacity
    forced[fits] = profit[fits] + full[capacity - weight[fits]]
    count = useful.size
    for row, item in enumerate(useful):
        room = capacity - int(weight[item])
        if room < 0:
            continue
        before, after = prefix[row, : room + 1], suffix[count - 1 - row, : room + 1]
        forced[item] = profit[item] + float((before + after[::-1]).max())
    return float(full[capacity]), forced
