"""The LP relaxation of an assignment problem, solved exactly with HiGHS (SciPy's build).

The fast path (Lagrangian prices, rounding, repair) can fail on tight bands: it then knows neither
whether a plan exists nor which limit is in the way. The LP answers both:

* **Is there room at all?** If even accounts split between reps cannot meet the rows, no plan
  exists (the LP contains every plan). ``widening`` then says how far one group of limits must
  give while the others hold (every band by the same share of its own limit, or the disruption
  budget), and which rows bind at that point: the limits in conflict, with numbers.
* **If there is, where is it?** The LP optimum is a vertex: apart from the few items its side
  rows split (at most one per binding row), every item already sits whole with one agent. Taking
  each item's largest share and repairing the split ones gives a plan next to the LP optimum,
  and the LP's prices make the repair move items the way the optimum would.

SciPy's HiGHS can sit beside OR-Tools in one process (highspy cannot). Rows and the objective are
divided by their natural scales first: potential bands are ~1e7 and workload rows ~1e2, and
unscaled the dual simplex takes minutes instead of seconds on 20k accounts x 20 candidates.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from models.solver.core import AssignmentProblem, Prices
from models.solver.findings import Stretch

LP_METHOD = "highs-ds"
"""Dual simplex: faster than interior point on 20k x 20 candidates (110-170 s against > 5 min)."""
STRETCH_TOLERANCE = 1e-6
"""Widening (and a row's slack) below which it counts as zero (HiGHS round-off)."""
COLUMNS_PER_ITEM = 3
REDUCED_TOL = 1e-7
"""Relative margin by which a slot must beat its item's price to enter (column generation)."""


@dataclass(frozen=True)
class LpResult:
    """What the LP found; ``x`` is (n, K) shares (0 on padding), ``prices`` its row duals."""

    status: str
    """"optimal"; "infeasible" (no plan, or for ``widening``: some widening needed); "no room" and
    "absent" (``widening`` only); "time limit" or "failed" when HiGHS did not finish."""
    x: np.ndarray | None = None
    value: float = float("nan")
    prices: Prices | None = None
    stretches: tuple[Stretch, ...] = ()
    seconds: float = 0.0
    item_prices: np.ndarray | None = None
    """Per item, what one more unit of "assign it" is worth (the dual of its assignment row)."""
    rounds: int = 0
    """LPs solved (column generation rounds)."""
    widen: float = float("nan")
    """``widening``: the share of its own limit by which every named row must widen."""


@dataclass(frozen=True)
class _Matrices:
    items: np.ndarray
    slots: np.ndarray
    a_eq: sparse.csr_matrix
    a_ub: sparse.csr_matrix
    b_ub: np.ndarray
    scale: np.ndarray
    """Each inequality row was divided by this (so duals multiply back by 1 / scale)."""
    labels: tuple[tuple[str, int, str, int], ...]
    """(row name, agent or -1, "upper"/"lower", index of the row in its AgentRows or -1)."""


def _matrices(problem: AssignmentProblem) -> _Matrices:
    items, slots = np.nonzero(problem.valid)
    columns = np.arange(items.size)
    a_eq = sparse.csr_matrix(
        (np.ones(items.size), (items, columns)), shape=(problem.n_items, items.size)
    )
    agents = problem.agent[items, slots]
    blocks, bounds, scales, labels = [], [], [], []
    for t, rows in enumerate(problem.agent_rows):
        coef = rows.coef[items, slots]
        per_agent = sparse.csr_matrix(
            (coef, (agents, columns)), shape=(problem.n_agents, items.size)
        )
        typical = float(np.abs(coef).mean()) if coef.size else 1.0
        for side, bound, sign in (("upper", rows.upper, 1.0), ("lower", rows.lower, -1.0)):
            keep = np.flatnonzero(np.isfinite(bound))
            if side == "lower":
                keep = keep[(bound[keep] > 0) | (coef < 0).any()]  # a zero floor never binds
            if keep.size == 0:
                continue
            scale = np.maximum(np.abs(bound[keep]), typical or 1.0)
            blocks.append(sparse.diags(sign / scale) @ per_agent[keep])
            bounds.append(sign * bound[keep] / scale)
            scales.append(scale)
            labels += [(rows.name, int(a), side, t) for a in keep]
    for row in problem.global_rows:
        if not np.isfinite(row.upper):
            continue
        coef = row.coef[items, slots]
        scale = max(abs(float(row.upper)), float(np.abs(coef).mean()) if coef.size else 1.0, 1e-12)
        blocks.append(sparse.csr_matrix(coef[None, :] / scale))
        bounds.append(np.array([row.upper / scale]))
        scales.append(np.array([scale]))
        labels.append((row.name, -1, "upper", -1))
    if blocks:
        a_ub = sparse.vstack(blocks).tocsr()
        b_ub, scale = np.concatenate(bounds), np.concatenate(scales)
    else:
        a_ub, b_ub, scale = sparse.csr_matrix((0, items.size)), np.zeros(0), np.zeros(0)
    return _Matrices(items, slots, a_eq, a_ub, b_ub, scale, tuple(labels))


def widening(problem: AssignmentProblem, names: frozenset[str], time_limit_s: float) -> LpResult:
    """How far the rows named ``names`` must all widen, each by the same share of its own limit,
    for a fractional plan to exist while every other row holds ("keep the budget: how wide must
    the bands be?"). ``widen`` is that share; ``stretches`` are the rows that bind at it (the
    reps in conflict). Status "infeasible" when some widening is needed, "optimal" when none is,
    "no room" when no widening of these rows alone is enough, "absent" when the problem has no
    such rows, else HiGHS' failure ("time limit", "failed")."""
    started = time.monotonic()
    m = _matrices(problem)
    elastic = np.array([label[0] in names for label in m.labels], dtype=bool)
    if not elastic.any():
        return LpResult("absent", seconds=time.monotonic() - started)
    n = m.items.size
    # one unit of the shared variable widens each row by its own limit (a zero limit: by one
    # unit of the row's scale, the mean coefficient)
    unit = np.where(np.abs(m.b_ub) > 0, np.abs(m.b_ub), 1.0)
    column = sparse.csr_matrix(-(elastic * unit)[:, None])
    res = linprog(
        np.r_[np.zeros(n), 1.0],
        A_ub=sparse.hstack([m.a_ub, column]).tocsr(),
        b_ub=m.b_ub,
        A_eq=sparse.hstack([m.a_eq, sparse.csr_matrix((problem.n_items, 1))]).tocsr(),
        b_eq=np.ones(problem.n_items),
        bounds=(0, None),
        method=LP_METHOD,
        options={"time_limit": max(1.0, time_limit_s)},
    )
    seconds = time.monotonic() - started
    if res.status == 2:
        return LpResult("no room", seconds=seconds)
    if res.status != 0:
        return LpResult(_failure(res.status), seconds=seconds)
    widen = float(res.x[-1])
    if widen <= STRETCH_TOLERANCE:
        return LpResult("optimal", widen=0.0, seconds=seconds)
    binding = elastic & (np.abs(np.asarray(res.ineqlin.residual)) <= STRETCH_TOLERANCE)
    out = []
    for j in np.flatnonzero(binding):
        name, agent, side, t = m.labels[j]
        if t >= 0:
            rows = problem.agent_rows[t]
            bound = float(rows.upper[agent] if side == "upper" else rows.lower[agent])
        else:
            bound = float(next(g.upper for g in problem.global_rows if g.name == name))
        out.append(Stretch(name, agent, side, bound, widen * float(unit[j] * m.scale[j])))
    return LpResult("infeasible", stretches=tuple(out), widen=widen, seconds=seconds)


def solve_lp(
    problem: AssignmentProblem, time_limit_s: float, hint: np.ndarray | None = None
) -> LpResult:
    """The LP optimum: shares per slot (n, K), its value and the row prices (see ``Prices``).

    With ``hint`` (n, K scores, e.g. values priced by the Lagrangian dual) it starts from each
    item's ``COLUMNS_PER_ITEM`` best slots plus the slots that cost no disruption budget, then adds
    every slot whose reduced cost says it pays at the LP's prices and solves again, until none
    does (column generation: the same optimum as the full LP, which takes minutes at 20k x 20).
    """
    started = time.monotonic()
    deadline = started + time_limit_s
    active = problem.valid if hint is None else _first_columns(problem, hint)
    rounds = 0
    while True:
        if time.monotonic() >= deadline:
            return LpResult("time limit", seconds=time.monotonic() - started, rounds=rounds)
        rounds += 1
        restricted = replace(problem, agent=np.where(active, problem.agent, -1))
        result = _solve_restricted(restricted, deadline - time.monotonic())
        if result.status == "infeasible" and not np.array_equal(active, problem.valid):
            active = problem.valid  # the first columns cannot meet the rows: every column
            continue
        if result.status != "optimal":
            return replace(result, seconds=time.monotonic() - started)
        priced = reduced_values(problem, result.prices)
        entering = (
            problem.valid
            & ~active
            & (priced > (tol := result.item_prices[:, None]) + REDUCED_TOL * (1 + np.abs(tol)))
        )
        if not entering.any():
            return replace(result, seconds=time.monotonic() - started, rounds=rounds)
        active = active | entering


def reduced_values(problem: AssignmentProblem, prices: Prices) -> np.ndarray:
    """Each slot's value minus its rows' use at ``prices``, exactly (no cap on any price, unlike
    the Lagrangian's priced scores): a slot pays at an LP optimum iff this exceeds its item's
    price. ``-inf`` on padding."""
    safe = np.where(problem.valid, problem.agent, 0)
    out = problem.value.astype(float).copy()
    for rows in problem.agent_rows:
        price = np.asarray(prices.agent.get(rows.name, np.zeros(problem.n_agents)), dtype=float)
        out -= price[safe] * rows.coef
    for row in problem.global_rows:
        out -= prices.global_.get(row.name, 0.0) * row.coef
    return np.where(problem.valid, out, -np.inf)


def _failure(status: int) -> str:
    """linprog's status for an unfinished solve: 1 is the time or iteration limit."""
    return "time limit" if status == 1 else "failed"


def _first_columns(problem: AssignmentProblem, hint: np.ndarray) -> np.ndarray:
    """Each item's best slots by ``hint`` and every slot that uses no global row."""
    scores = np.where(problem.valid, hint, -np.inf)
    k = min(COLUMNS_PER_ITEM, problem.agent.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    active = np.zeros(problem.agent.shape, dtype=bool)
    np.put_along_axis(active, top, True, axis=1)
    free = np.ones(problem.agent.shape, dtype=bool)
    for row in problem.global_rows:
        free &= row.coef == 0
    return (active | free) & problem.valid


def _solve_restricted(problem: AssignmentProblem, time_limit_s: float) -> LpResult:
    m = _matrices(problem)
    value = problem.value[m.items, m.slots]
    value_scale = float(np.abs(value).max()) if value.size else 1.0
    value_scale = value_scale or 1.0
    res = linprog(
        -value / value_scale,
        A_ub=m.a_ub if m.a_ub.shape[0] else None,
        b_ub=m.b_ub if m.a_ub.shape[0] else None,
        A_eq=m.a_eq,
        b_eq=np.ones(problem.n_items),
        bounds=(0, None),
        method=LP_METHOD,
        options={"time_limit": max(1.0, time_limit_s)},
    )
    if res.status == 2:
        return LpResult("infeasible")
    if res.status != 0:
        return LpResult(_failure(res.status))
    x = np.zeros(problem.agent.shape)
    x[m.items, m.slots] = res.x
    # duals of the scaled rows (<= 0 for a minimisation), back in objective units per coef unit
    duals = np.asarray(res.ineqlin.marginals) * value_scale / np.where(m.scale > 0, m.scale, 1.0)
    agent = {r.name: np.zeros(problem.n_agents) for r in problem.agent_rows}
    global_: dict[str, float] = {}
    for j, (name, a, side, t) in enumerate(m.labels):
        if t < 0:
            global_[name] = float(-duals[j])
        elif side == "upper":
            agent[name][a] -= duals[j]
        else:
            agent[name][a] += duals[j]
    return LpResult(
        "optimal",
        x=x,
        value=float(value @ res.x),
        prices=Prices(agent=agent, global_=global_),
        item_prices=-np.asarray(res.eqlin.marginals) * value_scale,
    )
