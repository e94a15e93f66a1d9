"""Balance a regional split: move border accounts until each region's totals fall in its goals.

A pure function on arrays, so it is tested on small synthetic inputs: each account starts in its
``home`` region; ``distance[a, g]`` is how far account a is from region g's nearest rep (inf where
it may not move: locked, no location, no reps there); each ``Goal`` gives, per region, the range
its total of one value (workload, potential) should end in. Moves go in order of the distance they
add, and a move is taken only when it lowers the regions' total shortfall (normalised per goal by
the mean region total), so the result never overshoots and the loop always ends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.solver import AssignmentProblem, RowGroup, flow_rounding

TOLERANCE = 1e-9
"""Normalised shortfall below which a region counts as balanced."""


@dataclass(frozen=True)
class Goal:
    """One value per account and, per region, the range its regional total should end in."""

    values: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    hard: bool = False
    """A goal a region must meet for any plan to exist there (workload within capacity): it is
    met by a min-cost flow before the loop (``flow_balance``)."""


def balance_regions(home: np.ndarray, distance: np.ndarray, goals: list[Goal]) -> np.ndarray:
    """The region of every account after balancing (``home`` where no move helps)."""
    n = distance.shape[1]
    region = np.asarray(home, dtype=np.int64).copy()
    if not goals or n < 2:
        return region
    region = flow_balance(region, distance, goals)
    balance = _Balance(region, distance, goals)
    for _ in range(8 * n):
        excess = balance.excess_by_region()
        order = [int(g) for g in np.argsort(-excess, kind="stable") if excess[g] > TOLERANCE]
        if not order or not any(balance.relieve(g) for g in order):
            break
    return balance.region


MAX_FAILED_CHECKS = 20_000
"""One call stops after this many checks in a row that no longer help: the candidates were
those that helped at the call's start; at 1M accounts a call re-checked ~1M of them one by one
once the totals had moved, seconds per call, for nothing. The next round lists them afresh."""

HARD_WEIGHT = 10.0
"""The loop counts a hard goal's shortfall this many times: after the flow it trades the hard
goal (capacity) for another (potential) only where the other gains ten times as much."""

FLOW_NEIGHBOURS = 4
"""Regions an account may move to in the flow: its own and the nearest others."""


def flow_balance(region: np.ndarray, distance: np.ndarray, goals: list[Goal]) -> np.ndarray:
    """Meet the hard goal with a min-cost flow (models.solver.flow_rounding):
    each movable account may stay, at no cost, or go to one of its ``FLOW_NEIGHBOURS`` nearest
    other regions at a cost of one move plus the distance it adds, so the flow moves few
    accounts, big ones first, and chains moves through full regions: the one-account-at-a-time
    loop below cannot, since a move from an over-full region into a full neighbour does not
    lower the total shortfall. At 1M accounts in 43 regions, 18 regions were left with more
    workload than capacity (West-1: 6,444 for 3,032). The other goals stay with the loop, which
    takes a move only when it lowers the total shortfall, the hard goal's included."""
    goal = next((g for g in goals if g.hard), None)
    if goal is None:
        return region
    total = np.bincount(region, weights=goal.values, minlength=distance.shape[1])
    if ((total > goal.upper + TOLERANCE) | (total < goal.lower - TOLERANCE)).sum() == 0:
        return region
    rows = np.arange(region.size)
    here = distance[rows, region]
    movable = np.flatnonzero(np.isfinite(here) & np.isfinite(goal.values) & (goal.values >= 0))
    if movable.size == 0:
        return region
    near = np.where(np.arange(distance.shape[1])[None, :] == region[movable, None], np.inf,
                    distance[movable])  # fmt: skip
    k = min(FLOW_NEIGHBOURS, distance.shape[1] - 1)
    others = np.argpartition(near, k - 1, axis=1)[:, :k]
    agent = np.concatenate([region[movable, None], others], axis=1)
    far = distance[movable[:, None], agent]
    agent = np.where(np.isfinite(far), agent, -1)
    added = np.maximum(far - here[movable, None], 0.0)
    typical = float(np.median(added[:, 1:][np.isfinite(added[:, 1:])])) if k else 0.0
    cost = np.where(np.arange(k + 1)[None, :] == 0, 0.0, max(typical, 1e-9) + added)
    fixed = np.ones(region.size, dtype=bool)
    fixed[movable] = False
    held = np.bincount(region[fixed], weights=goal.values[fixed], minlength=distance.shape[1])
    problem = AssignmentProblem(agent, np.where(agent >= 0, -cost, 0.0), distance.shape[1])
    group = RowGroup(("goal",), goal.values[movable], goal.lower - held, goal.upper - held)
    slot = flow_rounding(problem, problem.value, group)
    if slot is None:
        return region
    out = region.copy()
    out[movable] = agent[np.arange(movable.size), slot]
    return out


class _Balance:
    """The running totals of a balancing (state kept in one place)."""

    def __init__(self, region: np.ndarray, distance: np.ndarray, goals: list[Goal]) -> None:
        self.region, self.distance, self.goals = region, distance, goals
        n = distance.shape[1]
        # each region's totals, as Python floats: the one-move checks read them one at a time
        self.sums = [np.bincount(region, weights=g.values, minlength=n).tolist() for g in goals]
        self.scale = [
            max(float(np.abs(g.values).sum()) / n, 1e-12) / (HARD_WEIGHT if g.hard else 1.0)
            for g in goals
        ]
        self.values = [g.values.tolist() for g in goals]
        # Python floats for the one-move checks: numpy scalar indexing made them ~5x slower
        self.upper = [g.upper.tolist() for g in goals]
        self.lower = [g.lower.tolist() for g in goals]
        # the nearest and second-nearest region of every account (distances never change)
        ranked = np.argsort(distance, axis=1, kind="stable")[:, :2] if n > 1 else None
        self.nearest = ranked[:, 0] if ranked is not None else np.zeros(region.size, np.int64)
        self.second = ranked[:, 1] if ranked is not None else self.nearest

    def shortfall(self, d: int, g: int, total: float) -> float:
        up, lo = self.upper[d][g], self.lower[d][g]
        return (max(0.0, total - up) + max(0.0, lo - total)) / self.scale[d]

    def excess_by_region(self) -> np.ndarray:
        return np.array([self._excess(g) for g in range(self.distance.shape[1])])

    def relieve(self, w: int) -> int:
        """Move accounts into or out of region ``w``, cheapest added distance first, while each
        move lowers the total shortfall; the number moved."""
        account, source, target, cost = self._candidates(w)
        # only moves that help at the totals as they are now are tried (each again, exactly, in
        # order); one that would help only after this call's moves waits for the next call. At
        # 1M accounts in 43 regions, trying all ~1M accounts one by one took minutes per call.
        helps = self._gains(account, source, target) < -TOLERANCE
        account, source, target, cost = account[helps], source[helps], target[helps], cost[helps]
        order = np.argsort(cost, kind="stable")
        moved = failed = 0
        for a, f, t in zip(
            account[order].tolist(), source[order].tolist(), target[order].tolist(), strict=True
        ):
            if self._gain(a, f, t) < -TOLERANCE:
                self._move(a, f, t)
                moved, failed = moved + 1, 0
                if self._excess(w) <= TOLERANCE:
                    break
            else:
                failed += 1
                if failed >= MAX_FAILED_CHECKS:
                    break  # the moves that helped at the call's start no longer do
        return moved

    def _excess(self, g: int) -> float:
        return sum(self.shortfall(d, g, t[g]) for d, t in enumerate(self.sums))

    def _candidates(self, w: int):
        """(account, from, to, added distance) for every account that may enter or leave ``w``."""
        d, region = self.distance, self.region
        rows = np.arange(region.size)
        here = d[rows, region]
        pull = np.flatnonzero((region != w) & np.isfinite(d[:, w]) & np.isfinite(here))
        nearest = np.where(self.nearest == w, self.second, self.nearest)  # nearest but w
        push = np.flatnonzero(
            (region == w) & np.isfinite(d[rows, nearest]) & (nearest != w) & np.isfinite(here)
        )
        account = np.concatenate([pull, push])
        source = region[account]
        target = np.concatenate([np.full(pull.size, w), nearest[push]])
        cost = d[account, target] - here[account]
        return account, source, target, cost

    def shortfalls(self, d: int, g: np.ndarray, total: np.ndarray) -> np.ndarray:
        """``shortfall`` for arrays of regions and totals."""
        goal = self.goals[d]
        over = np.maximum(0.0, total - goal.upper[g])
        return (over + np.maximum(0.0, goal.lower[g] - total)) / self.scale[d]

    def _gains(self, account: np.ndarray, f: np.ndarray, t: np.ndarray) -> np.ndarray:
        """``_gain`` of every candidate at the current totals, at once."""
        change = np.zeros(account.size)
        for d, sums in enumerate(self.sums):
            totals, x = np.asarray(sums), self.goals[d].values[account]
            change += (
                self.shortfalls(d, f, totals[f] - x)
                + self.shortfalls(d, t, totals[t] + x)
                - self.shortfalls(d, f, totals[f])
                - self.shortfalls(d, t, totals[t])
            )
        return change

    def _gain(self, a: int, f: int, t: int) -> float:
        change = 0.0
        for d, totals in enumerate(self.sums):
            x = self.values[d][a]
            change += (
                self.shortfall(d, f, totals[f] - x)
                + self.shortfall(d, t, totals[t] + x)
                - self.shortfall(d, f, totals[f])
                - self.shortfall(d, t, totals[t])
            )
        return change

    def _move(self, a: int, f: int, t: int) -> None:
        for d, totals in enumerate(self.sums):
            x = self.values[d][a]
            totals[f] -= x
            totals[t] += x
        self.region[a] = t
