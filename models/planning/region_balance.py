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

TOLERANCE = 1e-9
"""Normalised shortfall below which a region counts as balanced."""


@dataclass(frozen=True)
class Goal:
    """One value per account and, per region, the range its regional total should end in."""

    values: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


def balance_regions(home: np.ndarray, distance: np.ndarray, goals: list[Goal]) -> np.ndarray:
    """The region of every account after balancing (``home`` where no move helps)."""
    n = distance.shape[1]
    region = np.asarray(home, dtype=np.int64).copy()
    if not goals or n < 2:
        return region
    balance = _Balance(region, distance, goals)
    for _ in range(8 * n):
        excess = balance.excess_by_region()
        order = [int(g) for g in np.argsort(-excess, kind="stable") if excess[g] > TOLERANCE]
        if not order or not any(balance.relieve(g) for g in order):
            break
    return balance.region


class _Balance:
    """The running totals of a balancing (state kept in one place)."""

    def __init__(self, region: np.ndarray, distance: np.ndarray, goals: list[Goal]) -> None:
        self.region, self.distance, self.goals = region, distance, goals
        n = distance.shape[1]
        self.totals = [np.bincount(region, weights=g.values, minlength=n) for g in goals]
        self.scale = [max(float(np.abs(g.values).sum()) / n, 1e-12) for g in goals]
        self.values = [g.values.tolist() for g in goals]
        # the nearest and second-nearest region of every account (distances never change)
        ranked = np.argsort(distance, axis=1, kind="stable")[:, :2] if n > 1 else None
        self.nearest = ranked[:, 0] if ranked is not None else np.zeros(region.size, np.int64)
        self.second = ranked[:, 1] if ranked is not None else self.nearest

    def shortfall(self, d: int, g: int, total: float) -> float:
        goal = self.goals[d]
        return (max(0.0, total - goal.upper[g]) + max(0.0, goal.lower[g] - total)) / self.scale[d]

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
        moved = 0
        for a, f, t in zip(
            account[order].tolist(), source[order].tolist(), target[order].tolist(), strict=True
        ):
            if self._gain(a, f, t) < -TOLERANCE:
                self._move(a, f, t)
                moved += 1
                if self._excess(w) <= TOLERANCE:
                    break
        return moved

    def _excess(self, g: int) -> float:
        return sum(self.shortfall(d, g, float(t[g])) for d, t in enumerate(self.totals))

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
        for d, totals in enumerate(self.totals):
            x = self.goals[d].values[account]
            change += (
                self.shortfalls(d, f, totals[f] - x)
                + self.shortfalls(d, t, totals[t] + x)
                - self.shortfalls(d, f, totals[f])
                - self.shortfalls(d, t, totals[t])
            )
        return change

    def _gain(self, a: int, f: int, t: int) -> float:
        change = 0.0
        for d, totals in enumerate(self.totals):
            x = self.values[d][a]
            change += (
                self.shortfall(d, f, totals[f] - x)
                + self.shortfall(d, t, totals[t] + x)
                - self.shortfall(d, f, totals[f])
                - self.shortfall(d, t, totals[t])
            )
        return change

    def _move(self, a: int, f: int, t: int) -> None:
        for d, totals in enumerate(self.totals):
            totals[f] -= self.values[d][a]
            totals[t] += self.values[d][a]
        self.region[a] = t
