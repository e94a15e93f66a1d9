"""Large-neighbourhood search: free some items, re-solve them exactly with CP-SAT, keep gains.

Each step frees every item held by two related agents (a random agent and one that shares many
candidate items with it) plus a few items drawn with probability growing with their reduced cost
at the Lagrangian prices (items that look misplaced). CP-SAT re-assigns the freed items to any of
their candidate slots, with every row's bound reduced by what the fixed items already use; a step
is kept when it raises the value. Choices come from a seeded generator and each sub-solve stops
at a deterministic time, so a fixed number of steps gives the same plan on any machine.
"""

from __future__ import annotations

import time

import numpy as np

from models.solver.core import (
    AgentRows,
    AssignmentProblem,
    GlobalRow,
    Prices,
    agent_loads,
    chosen,
    objective_value,
)
from models.solver.cpsat_engine import solve_exact
from models.solver.lagrangian import priced_scores

SUB_DETERMINISTIC_TIME = 0.05
EXTRA_ITEMS = 20
MIN_ITEMS = 8
AGENT_SHARE = 0.7
NEIGHBOUR_SAMPLE = 20_000


def lns(
    problem: AssignmentProblem,
    choice: np.ndarray,
    *,
    prices: Prices,
    deadline: float,
    max_steps: int,
    seed: int = 0,
    adaptive: bool = False,
) -> np.ndarray:
    """Improve a feasible choice for up to ``max_steps`` steps or until ``deadline``.

    ``adaptive`` sizes the neighbourhoods by how CP-SAT fares: 10% more items after a step it
    solved to optimality, 10% fewer after one it did not finish (small hard problems such as GAP
    need sub-problems that CP-SAT closes within its short work limit).
    """
    rng = np.random.default_rng(seed)
    score = priced_scores(problem, prices)
    regret = np.where(problem.valid, score.max(axis=1, keepdims=True) - score, 0.0)
    best, best_value = choice.copy(), objective_value(problem, choice)
    neighbours = _agent_neighbours(problem)
    rows = np.arange(problem.n_items)
    size = None
    if adaptive:
        size = min(float(problem.n_items), 2.0 * problem.n_items / problem.n_agents + EXTRA_ITEMS)
    for _ in range(max_steps):
        if time.monotonic() >= deadline:
            break
        items = _pick_items(rng, problem, best, neighbours, regret[rows, best], size)
        candidate, proven = resolve_items(problem, best, items)
        if size is not None:
            size = float(np.clip(size * (1.1 if proven else 0.9), MIN_ITEMS, problem.n_items))
        if candidate is not None:
            value = objective_value(problem, candidate)
            if value > best_value + 1e-9 * max(1.0, abs(best_value)):
                best, best_value = candidate, value
    return best


def _agent_neighbours(problem: AssignmentProblem) -> list[np.ndarray]:
    """Per agent: the other agents its candidate items list (on a sample of items)."""
    m = problem.n_agents
    step = max(1, problem.n_items // NEIGHBOUR_SAMPLE)
    agents = np.where(problem.valid, problem.agent, -1)[::step]
    first, second = np.broadcast_arrays(agents[:, :, None], agents[:, None, :])
    keep = (first >= 0) & (second >= 0) & (first != second)
    key = np.unique(first[keep].astype(np.int64) * m + second[keep])
    out: list[list[int]] = [[] for _ in range(m)]
    for k in key:
        out[int(k // m)].append(int(k % m))
    return [np.array(v, dtype=np.int64) for v in out]


def _pick_items(rng, problem, choice, neighbours, current_regret, size=None) -> np.ndarray:
    """Items of a random agent and one neighbour, plus EXTRA_ITEMS drawn by regret.

    With a ``size``, at most 70% of it comes from the two agents (a random subset) and the
    rest is drawn by regret.
    """
    first = int(rng.integers(problem.n_agents))
    near = neighbours[first]
    agents = [first, int(rng.choice(near))] if near.size else [first]
    held = chosen(problem, problem.agent, choice)
    on_agents = np.flatnonzero(np.isin(held, agents))
    extra_count = EXTRA_ITEMS
    if size is not None:
        keep = min(on_agents.size, int(np.ceil(AGENT_SHARE * size)))
        on_agents = np.sort(rng.choice(on_agents, size=keep, replace=False))
        extra_count = max(0, int(round(size)) - keep)
    others = np.setdiff1d(np.arange(problem.n_items), on_agents)
    extra = np.zeros(0, dtype=np.int64)
    if others.size:
        weight = current_regret[others] + 1e-9 * (1.0 + np.abs(current_regret[others]).max())
        weight = weight / weight.sum() if weight.sum() > 0 else None
        count = min(extra_count, others.size)
        extra = rng.choice(others, size=count, replace=False, p=weight)
    return np.union1d(on_agents, extra)


def resolve_items(
    problem: AssignmentProblem,
    choice: np.ndarray,
    items: np.ndarray,
    *,
    work_s: float = SUB_DETERMINISTIC_TIME,
) -> tuple[np.ndarray | None, bool]:
    """Best re-assignment of ``items`` with everything else fixed (None when none was found),
    and whether CP-SAT proved it best; ``work_s`` is CP-SAT's deterministic time limit."""
    if items.size == 0:
        return None, True
    result = solve_exact(
        _subproblem(problem, choice, items),
        time_limit_s=work_s * 20,
        deterministic_time_s=work_s,
        hint=choice[items],
    )
    proven = result.status == "OPTIMAL"
    if result.choice is None or (result.choice < 0).any():
        return None, proven
    out = choice.copy()
    out[items] = result.choice
    return out, proven


def _subproblem(problem: AssignmentProblem, choice: np.ndarray, items: np.ndarray):
    """The freed items with their own candidates; rows shifted by the fixed items' use."""
    fixed = choice.copy()
    fixed[items] = -1
    rows = []
    for r in problem.agent_rows:
        base = agent_loads(problem, r, fixed)
        rows.append(AgentRows(r.name, r.coef[items], r.lower - base, r.upper - base))
    globals_ = []
    for g in problem.global_rows:
        used = float(chosen(problem, g.coef, fixed).sum())
        globals_.append(GlobalRow(g.name, g.coef[items], g.upper - used))
    return AssignmentProblem(
        problem.agent[items], problem.value[items], problem.n_agents, tuple(rows), tuple(globals_)
    )


def repair_neighbourhood(
    problem: AssignmentProblem,
    choice: np.ndarray,
    broken: np.ndarray,
    *,
    agents: int,
    work_s: float,
    max_pairs: int | None = None,
) -> np.ndarray | None:
    """Re-assign, exactly, every item held by the broken agents and their closest neighbours.

    The items may only move among those agents, whose rows are then entirely inside the
    sub-problem; returns the repaired choice, or None when CP-SAT found no feasible one or the
    sub-problem has more than ``max_pairs`` candidate pairs (not tried).
    """
    group = _neighbourhood(problem, broken, agents)
    held = chosen(problem, problem.agent, choice)
    items = np.flatnonzero(np.isin(held, group))
    inside = np.isin(problem.agent[items], group) & problem.valid[items]
    sub = _subproblem(problem, choice, items)
    sub = AssignmentProblem(
        np.where(inside, sub.agent, -1), sub.value, sub.n_agents, sub.agent_rows, sub.global_rows
    )
    if max_pairs is not None and sub.n_pairs() > max_pairs:
        return None
    result = solve_exact(
        sub, time_limit_s=10 * work_s + 10, deterministic_time_s=work_s, hint=choice[items]
    )
    if result.choice is None or (result.choice < 0).any():
        return None
    out = choice.copy()
    out[items] = result.choice
    return out


def _neighbourhood(problem: AssignmentProblem, broken: np.ndarray, size: int) -> np.ndarray:
    """The broken agents plus the agents most often listed beside them, up to ``size``."""
    seeds = np.flatnonzero(broken)
    touching = np.isin(np.where(problem.valid, problem.agent, -1), seeds).any(axis=1)
    listed = problem.agent[touching][problem.valid[touching]]
    counts = np.bincount(listed, minlength=problem.n_agents)
    counts[seeds] = np.iinfo(np.int64).max
    order = np.lexsort((np.arange(problem.n_agents), -counts))
    return np.sort(order[: max(size, seeds.size)])
