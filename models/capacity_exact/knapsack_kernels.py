"""Compiled knapsack kernels of the Lagrangian branch and bound
(``models/capacity_exact/decision_search.py``).

Relaxing "each item takes exactly one agent" with a multiplier ``u[j]`` per item leaves one 0-1
knapsack per agent over the free items it may still take, with profit ``value - u``. Each kernel
works on the node's state: ``assign[j]`` (the agent an item is fixed to, -1 when free),
``allowed[a, j]`` (slots not ruled out) and ``room[a]`` (capacity left by the fixed items).

* ``lagrangian`` solves every knapsack (dynamic programming over capacity, profitable items only)
  and returns the bound with how many knapsacks took each item and which one did.
* ``probe`` bounds every plan that gives item j to agent a: a's knapsack with j forced in, every
  other knapsack without j, from prefix and suffix tables in one pass per agent (the dynamic
  programme Posta, Ferland and Michelon 2012 use for their Lagrangian reduced costs).

Everything is ``numba.njit(cache=True)``: compiled once per machine, then loaded from the cache.
"""

from __future__ import annotations

import numba
import numpy as np

NEG = -1e300


@numba.njit(cache=True, nogil=True)
def _profitable(a, value, weight, allowed, assign, room, u, rows):
    """Fill ``rows`` with the free items agent ``a`` may take at a profit; their count."""
    k = 0
    cap = room[a]
    for j in range(value.shape[1]):
        if assign[j] < 0 and allowed[a, j] and weight[a, j] <= cap and value[a, j] - u[j] > 0.0:
            rows[k] = j
            k += 1
    return k


@numba.njit(cache=True, nogil=True)
def _prefix(a, k, rows, value, weight, u, cap, table, reverse):
    """``table[r, c]``: best profit within capacity ``c`` from the first ``r`` of ``rows`` (the
    last ``r`` when ``reverse``)."""
    for c in range(cap + 1):
        table[0, c] = 0.0
    for r in range(k):
        j = rows[k - 1 - r] if reverse else rows[r]
        w = weight[a, j]
        p = value[a, j] - u[j]
        for c in range(min(w, cap + 1)):
            table[r + 1, c] = table[r, c]
        for c in range(w, cap + 1):
            with_item = table[r, c - w] + p
            table[r + 1, c] = with_item if with_item > table[r, c] else table[r, c]


@numba.njit(cache=True, nogil=True)
def _free_multipliers(fixed_value, assign, u):
    """The fixed items' value plus the multipliers of the free ones: the Lagrangian's constant."""
    total = fixed_value
    for j in range(u.size):
        if assign[j] < 0:
            total += u[j]
    return total


@numba.njit(cache=True, nogil=True)
def _take(a, k, rows, weight, cap, table, taken, pick):
    """Record the items of agent ``a``'s optimal knapsack, read back from its prefix table."""
    c = cap
    for r in range(k - 1, -1, -1):
        if table[r + 1, c] != table[r, c]:
            j = rows[r]
            taken[j] += 1
            pick[j] = a
            c -= weight[a, j]


@numba.njit(cache=True, nogil=True)
def lagrangian(value, weight, allowed, assign, room, fixed_value, u, taken, pick, rows, table):
    """The Lagrangian bound at ``u``; ``taken[j]`` knapsacks took free item ``j`` (the last of
    them is ``pick[j]``). Fixed items count in ``fixed_value``."""
    bound = _free_multipliers(fixed_value, assign, u)
    taken[:] = 0
    pick[:] = -1
    for a in range(value.shape[0]):
        k = _profitable(a, value, weight, allowed, assign, room, u, rows)
        cap = room[a]
        _prefix(a, k, rows, value, weight, u, cap, table, False)
        bound += table[k, cap]
        _take(a, k, rows, weight, cap, table, taken, pick)
    return bound


@numba.njit(cache=True, nogil=True)
def probe(
    value, weight, allowed, assign, room, fixed_value, u, taken, pick, rows, table, suffix, forced,
    loss,
):  # fmt: skip
    """What ``lagrangian`` gives at ``u`` (the bound, ``taken`` and ``pick``) and, per free
    allowed slot, ``forced[a, j]`` (agent a's knapsack with j forced in; NEG when j no longer
    fits) and ``loss[a, j]`` (what a's knapsack loses without j). A plan giving j to a is worth
    at most ``bound - optimum[a] + forced[a, j] - (sum_b loss[b, j] - loss[a, j])``; returns
    (bound, optimum per agent)."""
    m, n = value.shape
    bound = _free_multipliers(fixed_value, assign, u)
    optimum = np.zeros(m)
    taken[:] = 0
    pick[:] = -1
    for a in range(m):
        k = _profitable(a, value, weight, allowed, assign, room, u, rows)
        cap = room[a]
        _prefix(a, k, rows, value, weight, u, cap, table, False)
        _take(a, k, rows, weight, cap, table, taken, pick)
        _prefix(a, k, rows, value, weight, u, cap, suffix, True)
        best = table[k, cap]
        optimum[a] = best
        bound += best
        for j in range(n):
            if assign[j] < 0 and allowed[a, j]:
                w = weight[a, j]
                forced[a, j] = value[a, j] - u[j] + table[k, cap - w] if w <= cap else NEG
                loss[a, j] = 0.0
        for r in range(k):
            j = rows[r]
            w = weight[a, j]
            after = k - 1 - r  # items after row r, as the suffix table counts them
            inside = NEG
            for c in range(cap - w + 1):
                s = table[r, c] + suffix[after, cap - w - c]
                inside = s if s > inside else inside
            without = NEG
            for c in range(cap + 1):
                s = table[r, c] + suffix[after, cap - c]
                without = s if s > without else without
            forced[a, j] = value[a, j] - u[j] + inside
            loss[a, j] = best - without
    return bound, optimum
