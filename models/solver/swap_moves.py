"""Swap moves: item i leaves agent r for r' while item j leaves r' for r.

A swap is found by joining a list of wished shifts (r -> r') with the reverse shifts (r' -> r) on
the agent pair. Only the few best of each side per agent pair enter the join, so its size stays
linear in the number of agent pairs.
"""

from __future__ import annotations

import numpy as np

from models.solver.local_search import Moves, State, _excess

PER_PAIR = 6


def _top_per_pair(moves: Moves, score: np.ndarray, n_agents: int, per_pair: int) -> np.ndarray:
    """Indices of the best ``per_pair`` moves per (agent_from, agent_to), grouped by that pair."""
    key = moves.agent_from.astype(np.int64) * n_agents + moves.agent_to
    order = np.lexsort((-score, key))
    sorted_key = key[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_key)) + 1]
    counts = np.diff(np.r_[starts, sorted_key.size])
    rank = np.arange(sorted_key.size) - np.repeat(starts, counts)
    return order[rank < per_pair]


def swap_moves(state: State, wished: Moves, reverse: Moves, reverse_score: np.ndarray) -> Moves:
    """Every pairing of a wished shift with a reverse shift on the same two agents."""
    m = state.problem.n_agents
    wished_idx = _top_per_pair(wished, wished.gain, m, PER_PAIR)
    pairs = np.unique(
        wished.agent_to[wished_idx].astype(np.int64) * m + wished.agent_from[wished_idx]
    )
    back_key = reverse.agent_from.astype(np.int64) * m + reverse.agent_to
    relevant = np.flatnonzero(np.isin(back_key, pairs))
    reverse_idx = relevant[
        _top_per_pair(_take(reverse, relevant), reverse_score[relevant], m, PER_PAIR)
    ]
    w_key = wished.agent_from[wished_idx].astype(np.int64) * m + wished.agent_to[wished_idx]
    r_key = reverse.agent_to[reverse_idx].astype(np.int64) * m + reverse.agent_from[reverse_idx]
    left, right = _join(w_key, r_key)
    if left.size == 0:
        return _empty()
    wi, ri = wished_idx[left], reverse_idx[right]
    distinct = wished.items[wi] != reverse.items[ri]
    wi, ri = wi[distinct], ri[distinct]
    items = np.stack([wished.items[wi], reverse.items[ri]], axis=1)
    slot_to = np.stack([wished.slot_to[wi], reverse.slot_to[ri]], axis=1)
    slot_from = np.stack([wished.slot_from[wi], reverse.slot_from[ri]], axis=1)
    agent_from, agent_to = wished.agent_from[wi], wished.agent_to[wi]
    change = _swap_violation_change(state, items, slot_from, slot_to, agent_from, agent_to)
    gain = wished.gain[wi] + reverse.gain[ri]
    return Moves(items, slot_from, slot_to, agent_from, agent_to, gain, change)


def _take(moves: Moves, idx: np.ndarray) -> Moves:
    return Moves(
        moves.items[idx],
        moves.slot_from[idx],
        moves.slot_to[idx],
        moves.agent_from[idx],
        moves.agent_to[idx],
        moves.gain[idx],
        moves.violation_change[idx],
    )


def _join(left_key: np.ndarray, right_key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All index pairs (i, j) with ``left_key[i] == right_key[j]``."""
    order = np.argsort(right_key, kind="stable")
    sorted_right = right_key[order]
    lo = np.searchsorted(sorted_right, left_key, side="left")
    hi = np.searchsorted(sorted_right, left_key, side="right")
    counts = hi - lo
    left = np.repeat(np.arange(left_key.size), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    right = order[np.repeat(lo, counts) + offsets]
    return left, right


def _swap_violation_change(
    state: State,
    items: np.ndarray,
    slot_from: np.ndarray,
    slot_to: np.ndarray,
    agent_from: np.ndarray,
    agent_to: np.ndarray,
) -> np.ndarray:
    problem = state.problem
    i, j = items[:, 0], items[:, 1]
    change = np.zeros(items.shape[0])
    for t, rows in enumerate(problem.agent_rows):
        load, lo, up = state.loads[t], rows.lower, rows.upper
        into_from = rows.coef[j, slot_to[:, 1]] - rows.coef[i, slot_from[:, 0]]
        into_to = rows.coef[i, slot_to[:, 0]] - rows.coef[j, slot_from[:, 1]]
        before = _excess(load[agent_from], lo[agent_from], up[agent_from])
        before += _excess(load[agent_to], lo[agent_to], up[agent_to])
        after = _excess(load[agent_from] + into_from, lo[agent_from], up[agent_from])
        after += _excess(load[agent_to] + into_to, lo[agent_to], up[agent_to])
        change += (after - before) / state.scales[t]
    if problem.global_rows:
        change += _pair_global_change(state, items, slot_from, slot_to)
    return change


def _pair_global_change(
    state: State, items: np.ndarray, slot_from: np.ndarray, slot_to: np.ndarray
) -> np.ndarray:
    change = np.zeros(items.shape[0])
    for g, row in enumerate(state.problem.global_rows):
        load = state.global_loads[g]
        delta = (
            row.coef[items[:, 0], slot_to[:, 0]]
            - row.coef[items[:, 0], slot_from[:, 0]]
            + row.coef[items[:, 1], slot_to[:, 1]]
            - row.coef[items[:, 1], slot_from[:, 1]]
        )
        before = max(0.0, load - row.upper)
        change += (np.maximum(load + delta - row.upper, 0.0) - before) / state.global_scales[g]
    return change


def _empty() -> Moves:
    z = np.zeros(0, dtype=np.int64)
    pair = np.zeros((0, 2), dtype=np.int64)
    return Moves(pair, pair, pair, z, z, np.zeros(0), np.zeros(0))
