"""Balance a regional split: move border accounts until each region's totals fall in its goals.

A pure function on arrays, so it is tested on small synthetic inputs: each account starts in its
``home`` region; ``distance[a, g]`` is how far account a is from region g's nearest rep (inf where
it may not move: locked, no location, no reps there); each ``Goal`` gives, per region, the range
its total of one value (workload, potential) should end in. Moves go in order of the distance they
add, and a move is taken only when it lowers the regions' total shortfall (normalised per goal by
the mean region total), so the result never overshoots and the loop always ends.

Three steps (docs/matcher.md, "Regions"): prices from a linear programme on a sample of accounts
(``goal_prices``), a min-cost flow that meets the hard goal (capacity) exactly with the other goals
priced in (``flow_balance``), then the one-account loop on what is left, never at the hard goal's
expense.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sparse
from scipy.optimize import linprog

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
    prices = goal_prices(region, distance, goals)
    if any(g.hard for g in goals):
        region = priced_flow(region, distance, goals, prices)
    elif prices is not None:
        region = priced_choice(region, distance, goals, prices)
    balance = _Balance(region, distance, goals)
    for _ in range(MAX_ROUNDS):
        excess = balance.excess_by_region()
        order = [int(g) for g in np.argsort(-excess, kind="stable") if excess[g] > TOLERANCE]
        moved = sum(balance.relieve(g) for g in order)
        after = float(balance.excess_by_region().sum())
        if not moved or after > (1 - MIN_ROUND_GAIN) * float(excess.sum()):
            break
    return balance.region


MAX_ROUNDS = 50
"""Rounds of the loop (each relieves every region out of range once, worst first)."""

MIN_ROUND_GAIN = 0.01
"""The loop stops after a round that lowers the total shortfall by less than this share: after
the flow, each round on the 1M-account world's split checks ~1M accounts per region for a few
moves that each gain almost nothing (it ran past 10 minutes)."""


MAX_FAILED_CHECKS = 20_000
"""One call stops after this many checks in a row that no longer help: the candidates were
those that helped at the call's start; at 1M accounts a call re-checked ~1M of them one by one
once the totals had moved, seconds per call, for nothing. The next round lists them afresh."""

HARD_WEIGHT = 10.0
"""The loop counts a hard goal's shortfall this many times: after the flow it trades the hard
goal (capacity) for another (potential) only where the other gains ten times as much."""

FLOW_NEIGHBOURS = 4
"""Regions an account may move to in the flow: its own and the nearest others."""


PRICE_SAMPLE = 100_000
"""Accounts in the linear programme behind ``goal_prices`` (a random sample above this). On the
1M-account world's 43-region split the whole programme (4M moves) met both goals exactly with
155,488 moves but took 820 s; on a 10% sample it takes ~15 s and its prices take the flow to
within the goals' ranges (measured in docs/matcher.md)."""

PRICE_SLACK_WEIGHT = 10.0
"""In the programme, a unit of normalised shortfall costs this many times the dearest move."""


def _alternatives(region: np.ndarray, distance: np.ndarray, k: int):
    """For every account that may move: (rows, regions (its own first, then its ``k`` nearest
    others, -1 where it may not go), cost (0 to stay; a move's typical added distance plus the
    distance it adds, so a region change is never free))."""
    n = distance.shape[1]
    rows = np.arange(region.size)
    here = distance[rows, region]
    movable = np.flatnonzero(np.isfinite(here))
    near = np.where(np.arange(n)[None, :] == region[movable, None], np.inf, distance[movable])
    k = min(k, n - 1)
    others = np.argpartition(near, k - 1, axis=1)[:, :k]
    agent = np.concatenate([region[movable, None], others], axis=1)
    far = distance[movable[:, None], agent]
    agent = np.where(np.isfinite(far), agent, -1)
    added = np.where(np.isfinite(far), np.maximum(far - here[movable, None], 0.0), np.nan)
    finite = added[:, 1:][np.isfinite(added[:, 1:])]
    typical = float(np.median(finite)) if finite.size else 0.0
    cost = np.where(np.arange(k + 1)[None, :] == 0, 0.0, max(typical, 1e-9) + added)
    return movable, agent, np.where(agent >= 0, cost, np.inf)


def goal_prices(
    region: np.ndarray, distance: np.ndarray, goals: list[Goal], seed: int = 0
) -> np.ndarray | None:
    """(goals, regions): what one unit of each goal's value is worth in each region, from the
    linear programme that moves accounts (each to one of its ``FLOW_NEIGHBOURS`` nearest other
    regions, fractions allowed) to bring every region's totals within its goals at the least
    added distance, shortfalls allowed at a high price. On more than ``PRICE_SAMPLE`` accounts
    the programme runs on a random sample with the ranges scaled to it. Moving an account pays
    off where its distance is below its values times the price difference; ``flow_balance``
    adds these terms to its costs, so the flow that meets capacity moves potential too. None
    where the programme fails (the flow then runs unpriced)."""
    n = distance.shape[1]
    usable = np.ones(region.size, dtype=bool)
    for goal in goals:
        usable &= np.isfinite(goal.values)
    pool = np.flatnonzero(usable)
    share = 1.0
    if pool.size > PRICE_SAMPLE:
        share = PRICE_SAMPLE / pool.size
        pool = np.sort(np.random.default_rng(seed).choice(pool, PRICE_SAMPLE, replace=False))
    if pool.size == 0:
        return None
    rows, agent, cost = _alternatives(region[pool], distance[pool], FLOW_NEIGHBOURS)
    item, slot = np.nonzero(np.isfinite(cost[:, 1:]))
    slot = slot + 1
    if item.size == 0:
        return None
    account, to = pool[rows[item]], agent[item, slot]
    move_cost = cost[item, slot]
    k, c = item.size, len(goals) * n
    frm = region[account]
    coef, lower, upper, penalty = [], [], [], []
    for d, goal in enumerate(goals):
        v = goal.values[account]
        coef.append(((d * n + to, v), (d * n + frm, -v)))
        held = np.bincount(region[pool], weights=goal.values[pool], minlength=n)
        lower.append(goal.lower * share - held)
        upper.append(goal.upper * share - held)
        scale = max(float(np.abs(goal.values[pool]).sum()) / n, 1e-12)
        penalty.append(np.full(n, (HARD_WEIGHT if goal.hard else 1.0) / scale))
    r = np.concatenate([x[0] for pair in coef for x in pair])
    vals = np.concatenate([x[1] for pair in coef for x in pair])
    cols = np.tile(np.arange(k), 2 * len(goals))
    moves = sparse.csr_matrix((vals, (r, cols)), shape=(c, k))
    one = sparse.identity(c, format="csr")
    none = sparse.csr_matrix((c, c))
    owners, owner = np.unique(item, return_inverse=True)
    once = sparse.csr_matrix((np.ones(k), (owner, np.arange(k))), shape=(owners.size, k + 2 * c))
    a_ub = sparse.vstack(
        [sparse.hstack([moves, -one, none]), sparse.hstack([-moves, none, -one]), once]
    ).tocsr()
    lo, up = np.concatenate(lower), np.concatenate(upper)
    # a range that is infinite is no constraint: its row gets a bound it always meets
    big = float(np.abs(vals).sum()) + 1.0
    b_ub = np.concatenate([np.where(np.isfinite(up), up, big), np.where(np.isfinite(lo), -lo, big),
                           np.ones(owners.size)])  # fmt: skip
    dear = PRICE_SLACK_WEIGHT * float(move_cost.max()) * max(pool.size, 1)
    short = dear * np.concatenate(penalty)
    objective = np.concatenate([move_cost, short, short])
    bounds = np.column_stack(
        [np.zeros(k + 2 * c), np.concatenate([np.ones(k), np.full(2 * c, np.inf)])]
    )
    result = linprog(objective, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs-ds")
    if result.status != 0:
        return None
    dual = result.ineqlin.marginals
    # marginals are <= 0: the upper rows' make a region dearer, the lower rows' cheaper
    return (dual[c : 2 * c] - dual[:c]).reshape(len(goals), n)


PRICE_ROUNDS = 8
"""Flows run while correcting the sample's prices by what each region still misses."""

PRICE_STEP = 0.3
"""A round moves a region's price by this times the mean price size per unit of the share of
its goal it misses (halved for a region each time its miss changes side). On the 1M-account
split, 5 over-full steps swung the misses to 3.5x the goal; 0.3 took the largest miss from 12%
to 5% in five rounds."""


def priced_flow(
    region: np.ndarray, distance: np.ndarray, goals: list[Goal], prices: np.ndarray | None
) -> np.ndarray:
    """``flow_balance`` at the sample's prices, then again with each soft goal's price raised
    where a region ends above its range and lowered where below, for ``PRICE_ROUNDS`` rounds;
    the result whose largest miss (share of the region's target) is least."""
    out = flow_balance(region, distance, goals, prices)
    soft = [d for d, g in enumerate(goals) if not g.hard]
    if prices is None or not soft:
        return out
    prices = prices.copy()
    n = distance.shape[1]
    size = np.array([max(float(np.mean(np.abs(prices[d]))), 1e-12) for d in soft])[:, None]
    step = np.full((len(soft), n), PRICE_STEP)
    last = np.zeros((len(soft), n))
    best, best_miss = out, np.inf
    for _ in range(PRICE_ROUNDS):
        miss = np.array([_misses(out, goals[d], n) for d in soft])
        worst = float(np.abs(miss).max())
        if worst < best_miss:
            best, best_miss = out, worst
        if worst <= TOLERANCE:
            break
        step[np.sign(miss) * np.sign(last) < 0] /= 2
        last = np.where(miss != 0, miss, last)
        prices[soft] += step * size * miss
        out = flow_balance(region, distance, goals, prices)
    return best


def _misses(region: np.ndarray, goal: Goal, n: int) -> np.ndarray:
    """Per region: how far its total is above (+) or below (-) its range, as a share of the
    range's middle."""
    total = np.bincount(region, weights=goal.values, minlength=n)
    middle = np.where(np.isfinite(goal.lower), (goal.lower + goal.upper) / 2, goal.upper)
    middle = np.where(np.isfinite(middle) & (np.abs(middle) > 1e-12), np.abs(middle), 1.0)
    return (np.maximum(total - goal.upper, 0) - np.maximum(goal.lower - total, 0)) / middle


def _priced(cost: np.ndarray, agent: np.ndarray, home: np.ndarray, values, prices) -> np.ndarray:
    """``cost`` less what each move is worth at ``prices`` (per goal: value x (price there -
    price at home); a price is negative where a region needs more of that goal)."""
    out = cost.copy()
    safe = np.maximum(agent, 0)
    for v, price in zip(values, prices, strict=True):
        out = out + v[:, None] * (price[safe] - price[home][:, None])
    return np.where(agent >= 0, out, np.inf)


def priced_choice(
    region: np.ndarray, distance: np.ndarray, goals: list[Goal], prices: np.ndarray
) -> np.ndarray:
    """Every account in the region (its own or a near one) where its priced cost is least (no
    hard goal: nothing for a flow to keep within bounds)."""
    movable, agent, cost = _alternatives(region, distance, FLOW_NEIGHBOURS)
    values = [np.nan_to_num(g.values[movable]) for g in goals]
    priced = _priced(cost, agent, region[movable], values, prices)
    out = region.copy()
    out[movable] = agent[np.arange(movable.size), np.argmin(priced, axis=1)]
    return out


def flow_balance(
    region: np.ndarray, distance: np.ndarray, goals: list[Goal], prices: np.ndarray | None = None
) -> np.ndarray:
    """Meet the hard goal with a min-cost flow (models.solver.flow_rounding):
    each movable account may stay, at no cost, or go to one of its ``FLOW_NEIGHBOURS`` nearest
    other regions at a cost of one move plus the distance it adds, so the flow moves few
    accounts, big ones first, and chains moves through full regions: the one-account-at-a-time
    loop below cannot, since a move from an over-full region into a full neighbour does not
    lower the total shortfall. At 1M accounts in 43 regions, 18 regions were left with more
    workload than capacity (West-1: 6,444 for 3,032). With ``prices`` (``goal_prices``) a move
    also costs the other goals' values at the two regions' prices, so the flow moves potential
    where it is short; without, the other goals are left to the loop."""
    hard = [d for d, g in enumerate(goals) if g.hard]
    if not hard:
        return region
    goal = goals[hard[0]]
    total = np.bincount(region, weights=goal.values, minlength=distance.shape[1])
    if (
        prices is None
        and not ((total > goal.upper + TOLERANCE) | (total < goal.lower - TOLERANCE)).any()
    ):
        return region
    movable, agent, cost = _alternatives(region, distance, FLOW_NEIGHBOURS)
    ok = np.isfinite(goal.values[movable]) & (goal.values[movable] >= 0)
    movable, agent, cost = movable[ok], agent[ok], cost[ok]
    if movable.size == 0:
        return region
    if prices is not None:  # the other goals' worth; the hard goal is the flow's own
        soft = [d for d in range(len(goals)) if d != hard[0]]
        values = [np.nan_to_num(goals[d].values[movable]) for d in soft]
        cost = _priced(cost, agent, region[movable], values, prices[soft])
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
            part = (
                self.shortfalls(d, f, totals[f] - x)
                + self.shortfalls(d, t, totals[t] + x)
                - self.shortfalls(d, f, totals[f])
                - self.shortfalls(d, t, totals[t])
            )
            if self.goals[d].hard:
                part = np.where(part > TOLERANCE, np.inf, part)
            change += part
        return change

    def _gain(self, a: int, f: int, t: int) -> float:
        change = 0.0
        for d, totals in enumerate(self.sums):
            x = self.values[d][a]
            part = (
                self.shortfall(d, f, totals[f] - x)
                + self.shortfall(d, t, totals[t] + x)
                - self.shortfall(d, f, totals[f])
                - self.shortfall(d, t, totals[t])
            )
            if part > TOLERANCE and self.goals[d].hard:
                return np.inf  # the hard goal never gets worse (the flow met it)
            change += part
        return change

    def _move(self, a: int, f: int, t: int) -> None:
        for d, totals in enumerate(self.sums):
            x = self.values[d][a]
            totals[f] -= x
            totals[t] += x
        self.region[a] = t
