"""Turn a rounded (possibly infeasible) assignment into a feasible one, then improve it.

``repair`` removes row violations with the cheapest shifts, falling back to swaps when no single
shift helps; ``improve`` climbs with value-raising shifts and swaps that keep every row within its
bounds. Both stop at a deadline (``time.monotonic()`` seconds) and are deterministic.
"""

from __future__ import annotations

import time

import numpy as np

from models.solver.core import AssignmentProblem
from models.solver.local_search import EPS, Moves, State, apply_in_order, shift_moves
from models.solver.swap_moves import swap_moves

MAX_PER_ROUND = 200_000
PER_AGENT = 1
MOVES_PER_BROKEN_AGENT = 3


def repair(
    problem: AssignmentProblem, choice: np.ndarray, score: np.ndarray, deadline: float
) -> np.ndarray:
    """Lower the total violation until it is zero, nothing helps or the deadline passes.

    ``score`` (n, K) ranks moves; pass priced values so moves avoid agents that are already full.
    """
    state = State(problem, choice)
    while state.violation() > EPS and time.monotonic() < deadline:
        moves = _repair_shifts(state, score)
        if _apply_helpful(state, moves):
            continue
        if not _apply_helpful(state, _repair_swaps(state, moves, score)):
            break
    return state.choice


def _apply_helpful(state: State, moves: Moves) -> int:
    """Apply the cheapest violation-lowering moves (value lost per unit) per broken agent."""
    helpful = np.flatnonzero(moves.violation_change < -EPS)
    if helpful.size == 0:
        return 0
    ratio = moves.gain[helpful] / -moves.violation_change[helpful]
    over, _ = _broken_agents(state)
    served = np.where(
        over[moves.agent_from[helpful]], moves.agent_from[helpful], moves.agent_to[helpful]
    )
    by_served = np.lexsort((-ratio, served))
    rank = _rank_in_groups(served[by_served])
    keep = by_served[rank < MOVES_PER_BROKEN_AGENT]
    order = helpful[keep[np.argsort(-ratio[keep], kind="stable")]]
    return apply_in_order(state, moves, order, repairing=True, per_agent=MOVES_PER_BROKEN_AGENT)


def _rank_in_groups(sorted_groups: np.ndarray) -> np.ndarray:
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_groups)) + 1]
    counts = np.diff(np.r_[starts, sorted_groups.size])
    return np.arange(sorted_groups.size) - np.repeat(starts, counts)


def _broken_agents(state: State) -> tuple[np.ndarray, np.ndarray]:
    """Masks of agents above an upper bound and below a lower bound."""
    problem = state.problem
    over = np.zeros(problem.n_agents, dtype=bool)
    under = np.zeros(problem.n_agents, dtype=bool)
    for t, rows in enumerate(problem.agent_rows):
        tol = 1e-9 * np.maximum(np.abs(np.where(np.isfinite(rows.upper), rows.upper, 1.0)), 1.0)
        over |= state.loads[t] > rows.upper + tol
        under |= state.loads[t] < rows.lower - tol
    return over, under


def _violated_agents(state: State) -> np.ndarray:
    over, under = _broken_agents(state)
    return over | under


def _repair_shifts(state: State, score: np.ndarray) -> Moves:
    """The only shifts that can lower the violation: out of agents above an upper bound, into
    agents below a lower bound, and (while a budget breaks) of items that count against it."""
    problem = state.problem
    over, under = _broken_agents(state)
    agents = state.choice_agents()
    out_items = over[agents]
    rows = np.arange(problem.n_items)
    for g, row in enumerate(problem.global_rows):
        if state.global_loads[g] > row.upper:
            out_items |= row.coef[rows, state.choice] > 0
    reach = (under[np.where(problem.valid, problem.agent, 0)] & problem.valid).any(axis=1)
    first = shift_moves(state, np.flatnonzero(out_items), score)
    second = shift_moves(state, np.flatnonzero(reach & ~out_items), score, targets=under)
    return _concat(first, second)


def _concat(a: Moves, b: Moves) -> Moves:
    return Moves(
        *(
            np.concatenate([x, y])
            for x, y in zip(
                (
                    a.items,
                    a.slot_from,
                    a.slot_to,
                    a.agent_from,
                    a.agent_to,
                    a.gain,
                    a.violation_change,
                ),
                (
                    b.items,
                    b.slot_from,
                    b.slot_to,
                    b.agent_from,
                    b.agent_to,
                    b.gain,
                    b.violation_change,
                ),
                strict=True,
            )
        )
    )


def _repair_swaps(state: State, moves: Moves, score: np.ndarray) -> Moves:
    """Swaps pairing shifts out of (or into) broken agents with shifts coming back."""
    bad = _violated_agents(state)
    wished_mask = bad[moves.agent_from] | bad[moves.agent_to]
    wished = _subset(moves, np.flatnonzero(wished_mask))
    sources = np.zeros(state.problem.n_agents, dtype=bool)
    sources[wished.agent_from] = True
    back_items = np.flatnonzero(np.isin(state.choice_agents(), np.unique(wished.agent_to)))
    reverse = shift_moves(state, back_items, score, targets=sources)
    return swap_moves(state, wished, reverse, reverse.gain)


def improve(problem: AssignmentProblem, choice: np.ndarray, deadline: float) -> np.ndarray:
    """Raise the value of a choice with shifts, then swaps, that never raise its violation.

    A shift found blocked stays blocked until one of its two agents changes, so after the first
    round only items touching a changed ("dirty") agent are looked at again.
    """
    state = State(problem, choice)
    value = problem.value
    dirty = np.ones(problem.n_agents, dtype=bool)
    swap_dirty = dirty.copy()
    while time.monotonic() < deadline:
        items = _items_with_better_slot(state, dirty)
        moves = shift_moves(state, items, value, min_gain=EPS)
        good = np.flatnonzero(moves.violation_change <= EPS)
        before = state.choice.copy()
        if not (
            good.size and apply_in_order(state, moves, _by_gain(moves, good), False, PER_AGENT)
        ):
            blocked = shift_moves(
                state, _items_with_better_slot(state, swap_dirty), value, min_gain=EPS
            )
            swaps = _improving_swaps(state, blocked, value)
            good = np.flatnonzero((swaps.gain > EPS) & (swaps.violation_change <= EPS))
            if good.size == 0 or not apply_in_order(state, swaps, _by_gain(swaps, good), False, 1):
                break
            swap_dirty[:] = False
        dirty = _touched_agents(problem, before, state.choice)
        swap_dirty |= dirty
    return state.choice


def _touched_agents(
    problem: AssignmentProblem, before: np.ndarray, after: np.ndarray
) -> np.ndarray:
    changed = np.flatnonzero(before != after)
    touched = np.zeros(problem.n_agents, dtype=bool)
    touched[problem.agent[changed, before[changed]]] = True
    touched[problem.agent[changed, after[changed]]] = True
    return touched


def _improving_swaps(state: State, blocked: Moves, value: np.ndarray) -> Moves:
    """Swaps that pair each blocked improving shift with a shift coming back the other way."""
    m = state.problem.n_agents
    sources = np.zeros(m, dtype=bool)
    sources[blocked.agent_from] = True
    back_items = np.flatnonzero(np.isin(state.choice_agents(), np.unique(blocked.agent_to)))
    floor = -float(blocked.gain.max()) if blocked.gain.size else 0.0
    reverse = shift_moves(state, back_items, value, min_gain=floor, targets=sources)
    return swap_moves(state, blocked, reverse, reverse.gain)


def _by_gain(moves: Moves, idx: np.ndarray) -> np.ndarray:
    return idx[np.argsort(-moves.gain[idx], kind="stable")][:MAX_PER_ROUND]


def _items_with_better_slot(state: State, dirty: np.ndarray) -> np.ndarray:
    """Items with a more valuable slot where that slot's or the current agent is dirty."""
    problem = state.problem
    rows = np.arange(problem.n_items)
    current = problem.value[rows, state.choice]
    better = np.where(problem.valid, problem.value, -np.inf) > current[:, None] + EPS
    safe = np.where(problem.valid, problem.agent, 0)
    touches = dirty[safe] | dirty[problem.agent[rows, state.choice]][:, None]
    return np.flatnonzero((better & touches).any(axis=1))


def _subset(moves: Moves, idx: np.ndarray) -> Moves:
    return Moves(
        moves.items[idx],
        moves.slot_from[idx],
        moves.slot_to[idx],
        moves.agent_from[idx],
        moves.agent_to[idx],
        moves.gain[idx],
        moves.violation_change[idx],
    )
