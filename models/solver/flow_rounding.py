"""Round priced scores with a min-cost flow that keeps one agent-row dimension within its bounds.

Each item taking its best priced candidate ignores the rows except through their prices. On a
large region the prices cannot tell 45,000 near-identical accounts which of them should go
elsewhere, and such a rounding starts about a third of the workload on the wrong reps; shift and
swap repair then closes it by one neighbour at a time and stalls, because an overloaded rep
surrounded by full reps needs chains of moves. A transportation problem finds those chains.

The flow: every item supplies its weight (in whole units) to its candidates at a cost per unit of
its priced score's shortfall from its best; every agent passes on its lower bound at a reward
(filling it comes first), up to its upper bound at no cost, and beyond at a penalty (so a flow
always exists). Each item then goes to the candidate that received most of its weight: an optimal
flow splits few items, so the rounding lands near the bounds of that dimension and repair has
little left to do. The other rows act through the prices, as before.

Applies to problems whose chosen rows weigh an item the same on every candidate (workload and
potential in territory plans); returns None for the rest (the GAP shape: per-pair weights).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.graph.python import min_cost_flow

from models.solver.core import AgentRows, AssignmentProblem, Prices
from models.solver.lagrangian import priced_scores

UNITS_PER_ITEM = 100
"""An average item's weight in flow units: loads are rounded to 1% of an average item."""
COST_RESOLUTION = 100_000
"""The largest per-unit cost of an arc; larger shortfalls are clipped there (never chosen)."""
FILL_REWARD = 10 * COST_RESOLUTION
"""Per unit of an agent's lower bound: outweighs any arc, so lower bounds fill first."""
OVERFLOW_PENALTY = 10 * COST_RESOLUTION
"""Per unit beyond an agent's upper bound: only where the items cannot go elsewhere."""


def item_weights(problem: AssignmentProblem, rows: AgentRows) -> np.ndarray | None:
    """Each item's coefficient in ``rows`` when it is the same on all its candidates, else None."""
    valid = problem.valid
    first = rows.coef[np.arange(problem.n_items), valid.argmax(axis=1)]
    same = np.where(valid, np.isclose(rows.coef, first[:, None], rtol=1e-9, atol=0.0), True)
    if not same.all() or not np.isfinite(first).all() or (first < 0).any():
        return None
    return first


@dataclass(frozen=True)
class RowGroup:
    """Agent rows on the same per-item weights, merged: the tightest bounds of each agent."""

    names: tuple[str, ...]
    weights: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


def row_groups(problem: AssignmentProblem) -> list[RowGroup]:
    """The problem's per-item agent rows grouped by weights (capacity with the workload band)."""
    groups: list[RowGroup] = []
    for rows in problem.agent_rows:
        weights = item_weights(problem, rows)
        if weights is None:
            continue
        at = next((i for i, g in enumerate(groups) if np.array_equal(g.weights, weights)), None)
        if at is None:
            groups.append(RowGroup((rows.name,), weights, rows.lower.copy(), rows.upper.copy()))
        else:
            g = groups[at]
            groups[at] = RowGroup(
                (*g.names, rows.name),
                weights,
                np.maximum(g.lower, rows.lower),
                np.minimum(g.upper, rows.upper),
            )
    return groups


def broken_share(problem: AssignmentProblem, group: RowGroup, choice: np.ndarray) -> float:
    """How far ``choice`` lies outside the group's bounds, summed, in average-bound units."""
    agents = problem.agent[np.arange(problem.n_items), choice]
    load = np.bincount(agents, weights=group.weights, minlength=problem.n_agents)
    outside = np.maximum(load - group.upper, 0) + np.maximum(group.lower - load, 0)
    scale = np.abs(np.where(np.isfinite(group.upper), group.upper, 0.0)).mean()
    return float(outside.sum() / max(float(scale), 1e-9))


def flow_start(problem: AssignmentProblem, prices: Prices, start: np.ndarray) -> np.ndarray | None:
    """The flow rounding of the per-item rows that ``start`` breaks most, the other rows
    priced; None when no per-item row is broken or the problem has none."""
    groups = row_groups(problem)
    if not groups:
        return None
    shares = [broken_share(problem, g, start) for g in groups]
    group = groups[int(np.argmax(shares))]
    if max(shares) <= 0:
        return None
    # the flow keeps the group's rows itself: their prices (huge and of both signs on a large
    # region's degenerate dual) would only blur the values it trades off
    others = Prices(
        agent={
            name: (np.zeros_like(p) if name in group.names else p)
            for name, p in prices.agent.items()
        },
        global_=prices.global_,
    )
    return flow_rounding(problem, priced_scores(problem, others), group)


def least_moves(problem: AssignmentProblem, costs: list[np.ndarray]) -> list[float]:
    """Close estimates of the least that a plan within every per-item row must spend of each of
    ``costs`` (n, K each; 0 where an item keeps its owner): per cost and row group, the cost of
    the flow rounding at that cost (values break ties), the largest over groups. Not a bound:
    whole items and the other rows may need more, never much less."""
    top = float(np.abs(problem.value[problem.valid]).max(initial=1.0))
    tie = 1e-6 * problem.value / max(top, 1e-12)
    items = np.arange(problem.n_items)
    out = []
    for cost in costs:
        scale = float(np.abs(cost[problem.valid]).max(initial=0.0)) or 1.0
        score = -cost / scale + tie
        need = 0.0
        for group in row_groups(problem):
            choice = flow_rounding(problem, score, group)
            if choice is not None:
                need = max(need, float(cost[items, choice].sum()))
        out.append(need)
    return out


def flow_rounding(
    problem: AssignmentProblem, score: np.ndarray, group: RowGroup
) -> np.ndarray | None:
    """One slot per item from the min-cost flow described in the module docstring (None when
    the flow solver fails, which a well-formed problem never makes it do)."""
    n, k = problem.agent.shape
    weights, lower, upper = group.weights, group.lower, group.upper
    valid = problem.valid & np.isfinite(score)
    if not valid.any(axis=1).all():
        return None
    unit = UNITS_PER_ITEM / max(float(weights.mean()), 1e-12)
    supply = np.maximum(np.rint(weights * unit), 1).astype(np.int64)
    items, slots = np.nonzero(valid)
    best = np.where(valid, score, -np.inf).max(axis=1)
    shortfall = (best[items] - score[items, slots]) / supply[items]
    top = float(np.quantile(shortfall, 0.999)) if shortfall.size else 0.0
    cost = np.rint(np.minimum(shortfall / max(top, 1e-12), 1.0) * COST_RESOLUTION)
    lo = np.where(np.isfinite(lower), np.ceil(np.maximum(lower, 0) * unit), 0).astype(np.int64)
    total = int(supply.sum())
    up = np.where(np.isfinite(upper), np.floor(np.maximum(upper, 0) * unit), total)
    up = np.maximum(up.astype(np.int64), lo)
    m = problem.n_agents
    sink = n + m  # nodes: items 0..n-1, agents n..n+m-1, the sink
    agents = np.arange(m)
    tails = np.concatenate([items, n + agents, n + agents, n + agents])
    heads = np.concatenate([n + problem.agent[items, slots], np.full(3 * m, sink, dtype=np.int64)])
    caps = np.concatenate([supply[items], lo, up - lo, np.full(m, total, dtype=np.int64)])
    costs = np.concatenate(
        [
            cost.astype(np.int64),
            np.full(m, -FILL_REWARD, dtype=np.int64),
            np.zeros(m, dtype=np.int64),
            np.full(m, OVERFLOW_PENALTY, dtype=np.int64),
        ]
    )
    flow = min_cost_flow.SimpleMinCostFlow()
    arcs = flow.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    nodes = np.arange(sink + 1)
    supplies = np.concatenate([supply, np.zeros(m, dtype=np.int64), [-total]])
    flow.set_nodes_supplies(nodes, supplies)
    if flow.solve() != flow.OPTIMAL:
        return None
    sent = np.zeros((n, k))
    sent[items, slots] = flow.flows(arcs[: items.size])
    sent[~valid] = -1.0
    return sent.argmax(axis=1).astype(np.int64)
