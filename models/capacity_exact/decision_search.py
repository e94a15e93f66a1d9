"""Depth-first Lagrangian branch and bound for one decision: is there a plan worth ``target``?

Compiled search over the node state that ``models/capacity_exact/knapsack_kernels.py`` bounds. At
each node:

1. **Bound.** Subgradient steps on the item multipliers (Polyak steps aimed just below the
   target); the node is pruned as soon as the Lagrangian falls below the target, and answers
   "yes" when the knapsacks' plan gives every free item exactly one agent.
2. **Heuristic.** The relaxed plan, each doubly taken item kept by one knapsack and each untaken
   one placed where it fits best, then improving shifts; "yes" when it reaches the target.
3. **Fixing.** Probing bounds every plan that gives item j to agent a; slots whose bound falls
   below the target go, items left with one slot are fixed, and the node is bounded again until
   nothing changes.
4. **Branching** on the free item whose two children both fall furthest below the bound: first
   it goes to its best agent, then that slot is ruled out.

A target close to the root bound fixes most slots, which is why the prover in
``models/capacity_exact/lagrangian_bnb.py`` asks the highest targets first. The search is
resumable: all its state lives in the arrays passed to ``search`` (``registers`` makes the
counters), which returns
after ``node_budget`` nodes, so the caller can watch the clock between calls.
"""

from __future__ import annotations

import numba
import numpy as np

from models.capacity_exact.knapsack_kernels import NEG, lagrangian, probe

FOUND, EXHAUSTED, PAUSED = 1, 0, 2
_PRUNED, _BRANCH = 0, 2
_DISALLOW, _ASSIGN = 0, 1
# registers: depth, trail length, nodes, phase (0 process the current node, 1 backtrack),
# subgradient iterations at the root and below it, and whether the root was processed
_DEPTH, _TRAIL, NODES, _PHASE, _ROOT_IT, _NODE_IT, _ROOT_DONE = range(7)
STALL = 6
MAX_ROUNDS = 8
THETA = 1.0


def registers(root_iterations: int, node_iterations: int) -> np.ndarray:
    """Fresh registers for one decision; ``registers[NODES]`` counts the nodes searched."""
    regs = np.zeros(_ROOT_DONE + 1, dtype=np.int64)
    regs[_ROOT_IT], regs[_NODE_IT] = root_iterations, node_iterations
    return regs


@numba.njit(cache=True, nogil=True)
def _disallow(a, j, allowed, trail, regs):
    allowed[a, j] = False
    t = regs[_TRAIL]
    trail[t, 0], trail[t, 1], trail[t, 2] = _DISALLOW, a, j
    regs[_TRAIL] = t + 1


@numba.njit(cache=True, nogil=True)
def _assign(a, j, value, weight, assign, room, fixed, trail, regs):
    assign[j] = a
    room[a] -= weight[a, j]
    fixed[0] += value[a, j]
    t = regs[_TRAIL]
    trail[t, 0], trail[t, 1], trail[t, 2] = _ASSIGN, a, j
    regs[_TRAIL] = t + 1


@numba.njit(cache=True, nogil=True)
def _undo(to, value, weight, allowed, assign, room, fixed, trail, regs):
    t = regs[_TRAIL]
    while t > to:
        t -= 1
        kind, a, j = trail[t, 0], trail[t, 1], trail[t, 2]
        if kind == _DISALLOW:
            allowed[a, j] = True
        else:
            assign[j] = -1
            room[a] += weight[a, j]
            fixed[0] -= value[a, j]
    regs[_TRAIL] = t


@numba.njit(cache=True, nogil=True)
def _heuristic(value, weight, allowed, assign, room, fixed, taken, pick, plan):
    """A plan from the relaxed one (see the module docstring); its value, NEG when none fits."""
    m, n = value.shape
    left = room.copy()
    total = fixed[0]
    for j in range(n):
        plan[j] = assign[j]
        if assign[j] < 0 and taken[j] >= 1:  # the knapsack kept its load: still within room
            plan[j] = pick[j]
            left[pick[j]] -= weight[pick[j], j]
            total += value[pick[j], j]
    for j in range(n):
        if plan[j] >= 0:
            continue
        best, at = NEG, -1
        for a in range(m):
            if allowed[a, j] and weight[a, j] <= left[a] and value[a, j] > best:
                best, at = value[a, j], a
        if at < 0:
            return NEG
        plan[j] = at
        left[at] -= weight[at, j]
        total += best
    for _ in range(2):  # improving shifts of the items the node leaves free
        for j in range(n):
            if assign[j] >= 0:
                continue
            for b in range(m):
                if (
                    b != plan[j]
                    and allowed[b, j]
                    and weight[b, j] <= left[b]
                    and value[b, j] > value[plan[j], j]
                ):
                    left[plan[j]] += weight[plan[j], j]
                    total += value[b, j] - value[plan[j], j]
                    plan[j] = b
                    left[b] -= weight[b, j]
    return total


@numba.njit(cache=True, nogil=True)
def _item_bounds(j, bound, optimum, forced, loss, allowed, out):
    """``out[a]``: the probed bound on every plan that gives item ``j`` to agent ``a`` (its
    knapsack with j forced in, every other knapsack without j); NEG where ruled out."""
    total_loss = 0.0
    for a in range(allowed.shape[0]):
        if allowed[a, j]:
            total_loss += loss[a, j]
    for a in range(allowed.shape[0]):
        out[a] = (
            bound - optimum[a] + forced[a, j] - (total_loss - loss[a, j]) if allowed[a, j] else NEG
        )


@numba.njit(cache=True, nogil=True)
def _fix(target, eps, bound, optimum, data, state, work):
    """Rule out slots whose probed bound is below ``target`` and fix items left with one slot;
    the number of changes, or -1 when the node has no plan worth ``target``."""
    value, weight = data
    allowed, assign, room, fixed, _, trail, _, regs = state
    forced, loss = work[6], work[7]
    m, n = value.shape
    changes = 0
    slot_bound = np.empty(m)
    for j in range(n):
        if assign[j] >= 0:
            continue
        _item_bounds(j, bound, optimum, forced, loss, allowed, slot_bound)
        must, n_must = -1, 0
        for a in range(m):
            if not allowed[a, j]:
                continue
            if forced[a, j] <= NEG / 2 or slot_bound[a] < target - eps:
                _disallow(a, j, allowed, trail, regs)
                changes += 1
            elif bound - loss[a, j] < target - eps:  # without this slot nothing reaches target
                must, n_must = a, n_must + 1
        if n_must > 1:
            return -1
        if n_must == 1:
            for a in range(m):
                if a != must and allowed[a, j]:
                    _disallow(a, j, allowed, trail, regs)
                    changes += 1
    for j in range(n):
        if assign[j] >= 0:
            continue
        count, last = 0, -1
        for a in range(m):
            if allowed[a, j]:
                count, last = count + 1, a
        if count == 0:
            return -1
        if count == 1:
            _assign(last, j, value, weight, assign, room, fixed, trail, regs)
            changes += 1
            if room[last] < 0:
                return -1
    return changes


@numba.njit(cache=True, nogil=True)
def _branch_item(bound, optimum, forced, loss, allowed, assign):
    """(item, agent): the free item whose two children both fall furthest below the node's
    bound (product of the drops: with j at its best agent, and with that slot ruled out), and
    its best agent. Measured on d10200 at cost <= 12,428: 4,593 nodes, against 17,887 when
    branching on the largest regret between the two best slots. (-1, -1) when no item is free;
    (j, -1) when free item j fits none of its agents any more (the node has no plan)."""
    m, n = allowed.shape
    best_item, best_agent, best_score = -1, -1, -1.0
    slot_bound = np.empty(m)
    for j in range(n):
        if assign[j] >= 0:
            continue
        _item_bounds(j, bound, optimum, forced, loss, allowed, slot_bound)
        first, second, at = NEG, NEG, -1
        for a in range(m):
            if allowed[a, j] and forced[a, j] > NEG / 2:  # NEG: j no longer fits agent a
                b = slot_bound[a]
                if b > first:
                    first, second, at = b, first, a
                elif b > second:
                    second = b
        if at < 0:
            return j, -1
        drop_in = bound - first
        drop_out = bound - min(second, bound - loss[at, j])
        score = (drop_in + 1e-3) * (drop_out + 1e-3)
        if score > best_score:
            best_item, best_agent, best_score = j, at, score
    return best_item, best_agent


@numba.njit(cache=True, nogil=True)
def _node(target, aim, eps, iterations, data, state, work):
    """Bound, heuristic and fixing at the current node: (_PRUNED | FOUND | _BRANCH, item, agent)."""
    value, weight = data
    allowed, assign, room, fixed, u, _, _, _ = state
    plan, taken, pick, rows, table, suffix, forced, loss, u_best = work
    m, n = value.shape
    for a in range(m):
        if room[a] < 0:  # the branch overfilled a rep (and the DP must never see it)
            return _PRUNED, -1, -1
    changes, bound, optimum = 0, 0.0, np.zeros(m)
    for _ in range(MAX_ROUNDS):
        best, theta, stall = np.inf, THETA, 0
        u_best[:] = u
        for _ in range(iterations):
            bound = lagrangian(*data, allowed, assign, room, fixed[0], u, taken, pick, rows, table)
            if bound < target - eps:
                return _PRUNED, -1, -1
            norm = 0.0
            for j in range(n):
                if assign[j] < 0:
                    norm += (1.0 - taken[j]) ** 2
            if norm == 0.0:  # every free item in exactly one knapsack: a plan worth `bound`
                for j in range(n):
                    plan[j] = assign[j] if assign[j] >= 0 else pick[j]
                return FOUND, -1, -1
            if bound < best - 1e-9:
                best, stall = bound, 0
                u_best[:] = u
            else:
                stall += 1
                if stall >= STALL:
                    theta, stall = theta / 2.0, 0
            step = theta * (bound - aim) / norm
            for j in range(n):
                if assign[j] < 0:
                    u[j] -= step * (1.0 - taken[j])
        u[:] = u_best
        bound, optimum = probe(*data, allowed, assign, room, fixed[0], u, taken, pick, rows, table,
                               suffix, forced, loss)  # fmt: skip
        if _heuristic(*data, allowed, assign, room, fixed, taken, pick, plan) >= target - eps:
            return FOUND, -1, -1
        if bound < target - eps:
            return _PRUNED, -1, -1
        changes = _fix(target, eps, bound, optimum, data, state, work)
        if changes < 0:
            return _PRUNED, -1, -1
        if changes == 0:
            break
        iterations = max(iterations // 2, 10)
    if changes != 0:  # MAX_ROUNDS ran out while fixing still went on: bound what is left
        bound, optimum = probe(*data, allowed, assign, room, fixed[0], u, taken, pick, rows, table,
                               suffix, forced, loss)  # fmt: skip
        if bound < target - eps:
            return _PRUNED, -1, -1
    j, a = _branch_item(bound, optimum, forced, loss, allowed, assign)
    if j < 0:  # fixing assigned every item: the node is one plan
        plan[:] = assign
        return (FOUND if fixed[0] >= target - eps else _PRUNED), -1, -1
    if a < 0:  # an item fits none of its agents: no plan here
        return _PRUNED, -1, -1
    return _BRANCH, j, a


@numba.njit(cache=True, nogil=True)
def search(target, aim, eps, node_budget, data, state, work):
    """Carry the depth-first search on for up to ``node_budget`` nodes: FOUND (``work[0]``, the
    plan, is worth ``target`` or more), EXHAUSTED (there is none) or PAUSED (call again).

    ``data`` is (value, weight), agent x item; ``state`` is (allowed, assign, room, fixed value,
    multipliers, trail, frames, registers), what a node is and how to undo it; ``work`` is
    scratch space (plan, taken, pick, rows, table, suffix, forced, loss, best multipliers)."""
    value, weight = data
    allowed, assign, room, fixed, _, trail, frames, regs = state
    done = 0
    while done < node_budget:
        if regs[_PHASE] == 0:
            iterations = regs[_NODE_IT] if regs[_ROOT_DONE] else regs[_ROOT_IT]
            status, j, a = _node(target, aim, eps, iterations, data, state, work)
            regs[_ROOT_DONE] = 1
            regs[NODES] += 1
            done += 1
            if status == FOUND:
                return FOUND
            if status == _BRANCH:
                d = regs[_DEPTH]
                frames[d, 0], frames[d, 1], frames[d, 2], frames[d, 3] = j, a, 0, regs[_TRAIL]
                regs[_DEPTH] = d + 1
                _assign(a, j, value, weight, assign, room, fixed, trail, regs)
                continue
            regs[_PHASE] = 1
        while regs[_DEPTH] > 0:  # backtrack to the next untried child
            d = regs[_DEPTH] - 1
            _undo(frames[d, 3], value, weight, allowed, assign, room, fixed, trail, regs)
            if frames[d, 2] == 0:
                frames[d, 2] = 1
                _disallow(frames[d, 1], frames[d, 0], allowed, trail, regs)
                regs[_PHASE] = 0
                break
            regs[_DEPTH] = d
        if regs[_PHASE] == 1:
            return EXHAUSTED
    return PAUSED
