"""Moves on an assignment: shifts (one item to another agent) and swaps (two items trade agents).

Both phases work in rounds over every candidate move at once (numpy), then apply a conflict-free
subset: each agent takes part in at most one move per round, so the per-agent checks made before
the round stay true after it, and global rows are re-checked move by move.

* ``repair`` lowers the total row violation (measured in average items), preferring moves that
  cost the least value per unit of violation removed;
* ``improve`` raises the value with moves that keep every row within its bounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.solver.core import AssignmentProblem, agent_loads, chosen

EPS = 1e-9


@dataclass(frozen=True)
class Moves:
    """A batch of candidate moves: each is one or two (item, from slot, to slot) shifts."""

    items: np.ndarray
    slot_from: np.ndarray
    slot_to: np.ndarray
    agent_from: np.ndarray
    agent_to: np.ndarray
    gain: np.ndarray
    violation_change: np.ndarray


class State:
    """The current choice with its agent-row and global-row loads, updated in place."""

    def __init__(self, problem: AssignmentProblem, choice: np.ndarray) -> None:
        self.problem = problem
        self.choice = choice.copy()
        self.loads = [agent_loads(problem, rows, self.choice) for rows in problem.agent_rows]
        self.global_loads = np.array(
            [float(chosen(problem, g.coef, self.choice).sum()) for g in problem.global_rows]
        )
        valid = problem.valid
        self.scales = [_mean_coef(rows.coef, valid) for rows in problem.agent_rows]
        self.global_scales = [_mean_coef(g.coef, valid) for g in problem.global_rows]

    def choice_agents(self) -> np.ndarray:
        """The agent each item is on now (-1 where none)."""
        rows = np.arange(self.problem.n_items)
        safe = np.where(self.choice >= 0, self.choice, 0)
        return np.where(self.choice >= 0, self.problem.agent[rows, safe], -1)

    def violation(self) -> float:
        """Total violation in average-item units (0 means feasible)."""
        total = 0.0
        for t, rows in enumerate(self.problem.agent_rows):
            total += float(_excess(self.loads[t], rows.lower, rows.upper).sum()) / self.scales[t]
        for g, row in enumerate(self.problem.global_rows):
            total += max(0.0, self.global_loads[g] - row.upper) / self.global_scales[g]
        return total

    def shift(self, item: int, slot: int) -> None:
        """Move ``item`` to ``slot`` and update every load."""
        problem, old = self.problem, int(self.choice[item])
        for t, rows in enumerate(problem.agent_rows):
            if old >= 0:
                self.loads[t][problem.agent[item, old]] -= rows.coef[item, old]
            self.loads[t][problem.agent[item, slot]] += rows.coef[item, slot]
        for g, row in enumerate(problem.global_rows):
            self.global_loads[g] += row.coef[item, slot] - (row.coef[item, old] if old >= 0 else 0)
        self.choice[item] = slot


def _mean_coef(coef: np.ndarray, valid: np.ndarray) -> float:
    values = np.abs(coef[valid])
    return float(values.mean()) if values.size and values.mean() > 0 else 1.0


def _excess(load: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    return np.maximum(load - upper, 0.0) + np.maximum(lower - load, 0.0)


def shift_moves(
    state: State,
    items: np.ndarray,
    value: np.ndarray,
    *,
    min_gain: float = -np.inf,
    targets: np.ndarray | None = None,
) -> Moves:
    """Shifts of ``items`` to another candidate slot, with their gain and violation change.

    Only shifts gaining more than ``min_gain`` and, when ``targets`` (a mask over agents) is
    given, landing on a target agent are kept; the cheap filters run before the row arithmetic.
    """
    problem = state.problem
    current = state.choice[items]
    sub_value = value[items]
    gains = sub_value - sub_value[np.arange(items.size), current][:, None]
    sub_agent = problem.agent[items]
    keep = (sub_agent >= 0) & (gains > min_gain)
    keep[np.arange(items.size), current] = False
    if targets is not None:
        keep &= targets[np.where(sub_agent >= 0, sub_agent, 0)]
    local, slot_to = np.nonzero(keep)
    item, slot_from = items[local], current[local]
    agent_to, gain = sub_agent[local, slot_to], gains[local, slot_to]
    agent_from = sub_agent[local, slot_from]
    change = np.zeros(item.size)
    for t, rows in enumerate(problem.agent_rows):
        load, lo, up = state.loads[t], rows.lower, rows.upper
        out, into = rows.coef[item, slot_from], rows.coef[item, slot_to]
        before = _excess(load[agent_from], lo[agent_from], up[agent_from])
        before += _excess(load[agent_to], lo[agent_to], up[agent_to])
        after = _excess(load[agent_from] - out, lo[agent_from], up[agent_from])
        after += _excess(load[agent_to] + into, lo[agent_to], up[agent_to])
        change += (after - before) / state.scales[t]
    change += _global_change(state, item, slot_from, item, slot_to)
    return Moves(item, slot_from, slot_to, agent_from, agent_to, gain, change)


def _global_change(
    state: State, item_a: np.ndarray, slot_a: np.ndarray, item_b: np.ndarray, slot_b: np.ndarray
) -> np.ndarray:
    """Violation change of global rows when (item_a, slot_a) is swapped for (item_b, slot_b)."""
    change = np.zeros(item_a.size)
    for g, row in enumerate(state.problem.global_rows):
        load = state.global_loads[g]
        delta = row.coef[item_b, slot_b] - row.coef[item_a, slot_a]
        before = max(0.0, load - row.upper)
        change += (np.maximum(load + delta - row.upper, 0.0) - before) / state.global_scales[g]
    return change


def apply_in_order(
    state: State, moves: Moves, order: np.ndarray, repairing: bool, per_agent: int = 1
) -> int:
    """Apply moves in ``order`` after re-checking each against the loads as they are now.

    A move is applied when it lowers the violation (``repairing``) or when it raises the value
    without raising the violation. An item moves at most once and an agent takes part in at most
    ``per_agent`` moves per round. Returns the count.
    """
    moved = np.zeros(state.problem.n_items, dtype=bool)
    uses = np.zeros(state.problem.n_agents, dtype=np.int64)
    applied = 0
    pair = moves.items.ndim == 2
    for idx in order:
        a, b = moves.agent_from[idx], moves.agent_to[idx]
        if uses[a] >= per_agent or uses[b] >= per_agent:
            continue
        items = moves.items[idx] if pair else moves.items[idx : idx + 1]
        if moved[items].any() or (state.choice[items] != _as_array(moves.slot_from[idx])).any():
            continue
        slots = _as_array(moves.slot_to[idx])
        change = _exact_change(state, items, slots)
        ok = change < -EPS if repairing else (change <= EPS and moves.gain[idx] > EPS)
        if not ok:
            continue
        for item, slot in zip(items, slots, strict=True):
            state.shift(int(item), int(slot))
        moved[items] = True
        uses[a] += 1
        uses[b] += 1
        applied += 1
    return applied


def _as_array(value: np.ndarray | np.integer) -> np.ndarray:
    return np.atleast_1d(np.asarray(value))


def _exact_change(state: State, items: np.ndarray, slots: np.ndarray) -> float:
    """Violation change (average-item units) of moving ``items`` to ``slots`` together."""
    problem = state.problem
    change = 0.0
    for t, rows in enumerate(problem.agent_rows):
        delta: dict[int, float] = {}
        for item, slot in zip(items, slots, strict=True):
            old = state.choice[item]
            a, b = int(problem.agent[item, old]), int(problem.agent[item, slot])
            delta[a] = delta.get(a, 0.0) - float(rows.coef[item, old])
            delta[b] = delta.get(b, 0.0) + float(rows.coef[item, slot])
        load, lo, up = state.loads[t], rows.lower, rows.upper
        for agent, d in delta.items():
            before = _excess_scalar(load[agent], lo[agent], up[agent])
            change += (
                _excess_scalar(load[agent] + d, lo[agent], up[agent]) - before
            ) / state.scales[t]
    for g, row in enumerate(problem.global_rows):
        d = sum(
            float(row.coef[i, s] - row.coef[i, state.choice[i]])
            for i, s in zip(items, slots, strict=True)
        )
        load = state.global_loads[g]
        after = max(0.0, load + d - row.upper) - max(0.0, load - row.upper)
        change += after / state.global_scales[g]
    return change


def _excess_scalar(load: float, lower: float, upper: float) -> float:
    return max(load - upper, 0.0) + max(lower - load, 0.0)


def best_per_agent(moves: Moves, score: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Indices of ``candidates`` sorted by score, keeping the best few per source agent."""
    if candidates.size == 0:
        return candidates
    order = candidates[np.argsort(-score[candidates], kind="stable")]
    source = moves.agent_from[order]
    rank = np.zeros(order.size, dtype=np.int64)
    by_source = np.argsort(source, kind="stable")
    sorted_source = source[by_source]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_source)) + 1]
    counts = np.diff(np.r_[starts, sorted_source.size])
    rank[by_source] = np.arange(sorted_source.size) - np.repeat(starts, counts)
    return order[rank < 4]
