"""Lagrangian dual of the assignment problem: shadow prices for every side row and an upper bound.

Pricing every side row leaves one independent choice per item (its best priced candidate), so the
dual function is a sum over items plus a linear term. Any non-negative multipliers give a valid
upper bound; the best ones equal the LP relaxation's bound. We minimise an entropy-smoothed
version (log-sum-exp instead of max) with L-BFGS-B, lowering the temperature in stages, and
evaluate the exact (max) dual at every stage's end: the smallest value is the reported bound.
All work is vectorised over chunks of items, so memory stays flat at any size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from models.solver.core import AgentRows, AssignmentProblem, GlobalRow, Prices, with_items

CHUNK_PAIRS = 2_000_000
MULTIPLIER_CAP = 1e3
DEFAULT_TEMPERATURES = (0.01, 0.002)
SAMPLE_ABOVE = 60_000
SAMPLE_SIZE = 25_000


@dataclass(frozen=True)
class DualResult:
    """Multipliers found, the best valid upper bound and how many evaluations it took."""

    prices: Prices
    bound: float
    evaluations: int
    saturated: bool = False
    """True when multipliers ran into their cap: the side rows look jointly infeasible."""


@dataclass(frozen=True)
class _Scaled:
    """The problem divided by its natural scales so multipliers are O(1).

    Agent rows that share one coefficient array (capacity and the workload band do) are priced
    together: ``groups`` lists, per distinct normalised coefficient array, the rows that use it.
    """

    problem: AssignmentProblem
    value: np.ndarray
    safe_agent: np.ndarray
    groups: tuple[tuple[np.ndarray, tuple[int, ...]], ...]
    global_coefs: tuple[np.ndarray, ...]
    value_scale: float
    row_scales: tuple[float, ...]
    global_scales: tuple[float, ...]
    fixed_zero: np.ndarray

    @property
    def n_rows(self) -> int:
        return len(self.row_scales)


def _scale(problem: AssignmentProblem) -> _Scaled:
    valid = problem.valid
    best = np.where(valid, np.abs(problem.value), 0.0).max(axis=1)
    value_scale = float(best.mean()) or 1.0
    row_scales = tuple(_mean_abs(r.coef, valid) for r in problem.agent_rows)
    global_scales = tuple(_mean_abs(g.coef, valid) for g in problem.global_rows)
    groups: dict[int, tuple[np.ndarray, list[int]]] = {}
    for t, rows in enumerate(problem.agent_rows):
        key = next(
            (k for k, (_, ts) in groups.items() if problem.agent_rows[ts[0]].coef is rows.coef), t
        )
        groups.setdefault(key, (rows.coef / row_scales[t], []))[1].append(t)
    return _Scaled(
        problem=problem,
        value=np.where(valid, problem.value / value_scale, -np.inf),
        safe_agent=np.where(valid, problem.agent, 0).astype(np.intp),
        groups=tuple((coef, tuple(ts)) for coef, ts in groups.values()),
        global_coefs=tuple(
            g.coef / s for g, s in zip(problem.global_rows, global_scales, strict=True)
        ),
        value_scale=value_scale,
        row_scales=row_scales,
        global_scales=global_scales,
        fixed_zero=_fixed_zero(problem),
    )


def _fixed_zero(problem: AssignmentProblem) -> np.ndarray:
    """Multipliers pinned at 0: infinite bounds, and lower bounds no choice can break."""
    fixed = []
    for rows in problem.agent_rows:
        fixed.append(~np.isfinite(rows.upper))
        fixed.append(~np.isfinite(rows.lower) | (rows.lower <= 0) & bool((rows.coef >= 0).all()))
    fixed.extend(np.array([not np.isfinite(g.upper)]) for g in problem.global_rows)
    return np.concatenate(fixed) if fixed else np.zeros(0, dtype=bool)


def _mean_abs(coef: np.ndarray, valid: np.ndarray) -> float:
    values = np.abs(coef[valid])
    return float(values.mean()) if values.size and values.mean() > 0 else 1.0


def _chunks(n_items: int, k: int) -> Iterator[slice]:
    step = max(1, CHUNK_PAIRS // max(k, 1))
    for start in range(0, n_items, step):
        yield slice(start, min(n_items, start + step))


def _unpack(scaled: _Scaled, x: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Per-agent-row net prices (upper minus lower multiplier) and global multipliers."""
    m = scaled.problem.n_agents
    nets = [
        x[2 * t * m : (2 * t + 1) * m] - x[(2 * t + 1) * m : (2 * t + 2) * m]
        for t in range(scaled.n_rows)
    ]
    return nets, x[2 * scaled.n_rows * m :]


def priced_values(scaled: _Scaled, x: np.ndarray, rows: slice) -> np.ndarray:
    """Normalised values minus priced row usage, ``-inf`` on padding, for the items in ``rows``."""
    nets, nus = _unpack(scaled, x)
    agent = scaled.safe_agent[rows]
    s = scaled.value[rows].copy()
    for coef, members in scaled.groups:
        net = nets[members[0]] if len(members) == 1 else sum(nets[t] for t in members)
        s -= net[agent] * coef[rows]
    for g, coef in enumerate(scaled.global_coefs):
        if nus[g] != 0.0:
            s -= nus[g] * coef[rows]
    return s


def _linear_term(scaled: _Scaled, x: np.ndarray) -> tuple[float, np.ndarray]:
    """The constant part of the dual and its gradient (bounds, with infinite ones zeroed)."""
    parts = []
    for t, rows in enumerate(scaled.problem.agent_rows):
        parts.append(np.where(np.isfinite(rows.upper), rows.upper, 0.0) / scaled.row_scales[t])
        parts.append(-np.where(np.isfinite(rows.lower), rows.lower, 0.0) / scaled.row_scales[t])
    for g, row in enumerate(scaled.problem.global_rows):
        upper = row.upper if np.isfinite(row.upper) else 0.0
        parts.append(np.array([upper / scaled.global_scales[g]]))
    grad = np.concatenate(parts) if parts else np.zeros(0)
    return float(grad @ x), grad


def dual_value(scaled: _Scaled, x: np.ndarray, temperature: float) -> tuple[float, np.ndarray]:
    """Smoothed (``temperature`` > 0) or exact dual and its gradient, both divided by n."""
    problem = scaled.problem
    n = problem.n_items
    total, grad = _linear_term(scaled, x)
    grad = grad.copy()
    for rows in _chunks(n, problem.agent.shape[1]):
        s = priced_values(scaled, x, rows)
        top = s.max(axis=1)
        s -= top[:, None]
        if temperature > 0:
            s *= 1.0 / temperature
            # exp() of huge negatives hits a slow underflow path; e^-60 is 0 for our purposes
            np.maximum(s, -60.0, out=s)
            p = np.exp(s, out=s)
            z = p.sum(axis=1)
            total += float(top.sum() + temperature * np.log(z).sum())
            p /= z[:, None]
        else:
            total += float(top.sum())
            p = np.zeros_like(s)
            p[np.arange(s.shape[0]), s.argmax(axis=1)] = 1.0
        _subtract_usage(scaled, grad, p, rows)
    return total / n, grad / n


def _subtract_usage(scaled: _Scaled, grad: np.ndarray, p: np.ndarray, rows: slice) -> None:
    m = scaled.problem.n_agents
    agent = scaled.safe_agent[rows].ravel()
    for coef, members in scaled.groups:
        load = np.bincount(agent, weights=(p * coef[rows]).ravel(), minlength=m)
        for t in members:
            grad[2 * t * m : (2 * t + 1) * m] -= load
            grad[(2 * t + 1) * m : (2 * t + 2) * m] += load
    offset = 2 * scaled.n_rows * m
    for g, coef in enumerate(scaled.global_coefs):
        grad[offset + g] -= float(np.einsum("ij,ij->", p, coef[rows]))


def _to_vector(scaled: _Scaled, prices: Prices | None) -> np.ndarray:
    size = 2 * scaled.n_rows * scaled.problem.n_agents + len(scaled.global_scales)
    x = np.zeros(size)
    if prices is None:
        return x
    m = scaled.problem.n_agents
    for t, rows in enumerate(scaled.problem.agent_rows):
        net = np.asarray(prices.agent.get(rows.name, np.zeros(m))) * scaled.row_scales[t]
        net = net / scaled.value_scale
        x[2 * t * m : (2 * t + 1) * m] = np.maximum(net, 0.0)
        x[(2 * t + 1) * m : (2 * t + 2) * m] = np.maximum(-net, 0.0)
    for g, row in enumerate(scaled.problem.global_rows):
        nu = prices.global_.get(row.name, 0.0) * scaled.global_scales[g] / scaled.value_scale
        x[2 * scaled.n_rows * m + g] = max(nu, 0.0)
    return np.where(scaled.fixed_zero, 0.0, np.minimum(x, MULTIPLIER_CAP))


def _to_prices(scaled: _Scaled, x: np.ndarray) -> Prices:
    nets, nus = _unpack(scaled, x)
    agent = {
        rows.name: nets[t] * scaled.value_scale / scaled.row_scales[t]
        for t, rows in enumerate(scaled.problem.agent_rows)
    }
    global_ = {
        row.name: float(nus[g]) * scaled.value_scale / scaled.global_scales[g]
        for g, row in enumerate(scaled.problem.global_rows)
    }
    return Prices(agent=agent, global_=global_)


def priced_scores(problem: AssignmentProblem, prices: Prices) -> np.ndarray:
    """Values minus priced row usage, in objective units (``-inf`` on padding)."""
    scaled = _scale(problem)
    x = _to_vector(scaled, prices)
    out = np.empty(problem.value.shape)
    for rows in _chunks(problem.n_items, problem.agent.shape[1]):
        out[rows] = priced_values(scaled, x, rows) * scaled.value_scale
    return out


def dual_bound(problem: AssignmentProblem, prices: Prices) -> float:
    """The exact Lagrangian dual at ``prices``: a valid upper bound on any feasible objective."""
    scaled = _scale(problem)
    value, _ = dual_value(scaled, _to_vector(scaled, prices), 0.0)
    return value * problem.n_items * scaled.value_scale


def solve_dual(
    problem: AssignmentProblem,
    *,
    start: Prices | None = None,
    temperatures: tuple[float, ...] = DEFAULT_TEMPERATURES,
    max_iter: int = 150,
) -> DualResult:
    """Minimise the smoothed dual stage by stage; return the best multipliers and the bound.

    Large problems first solve the dual of an evenly spaced sample of items (bounds scaled to
    the sample's share) and start from its prices, which needs far fewer full evaluations.
    """
    if start is None and problem.n_items > SAMPLE_ABOVE:
        start = solve_dual(_sample(problem), temperatures=temperatures, max_iter=max_iter).prices
        max_iter = max(10, max_iter // 3)
    scaled = _scale(problem)
    x = _to_vector(scaled, start)
    bounds = [(0.0, 0.0) if fixed else (0.0, MULTIPLIER_CAP) for fixed in scaled.fixed_zero]
    best_value, best_x, evaluations = np.inf, x, 0
    for temperature in temperatures:
        if x.size:
            result = minimize(
                _dual_for_scipy,
                x,
                args=(scaled, temperature),
                jac=True,
                method="L-BFGS-B",
                bounds=bounds,
                options={"maxiter": max_iter, "ftol": 1e-12, "gtol": 1e-9},
            )
            x, evaluations = result.x, evaluations + int(result.nfev)
        exact, _ = dual_value(scaled, x, 0.0)
        evaluations += 1
        if exact < best_value:
            best_value, best_x = exact, x
    bound = best_value * problem.n_items * scaled.value_scale
    saturated = bool(best_x.size and best_x.max() >= 0.99 * MULTIPLIER_CAP)
    return DualResult(
        prices=_to_prices(scaled, best_x),
        bound=float(bound),
        evaluations=evaluations,
        saturated=saturated,
    )


def _sample(problem: AssignmentProblem) -> AssignmentProblem:
    """Every k-th item, with every row's bounds scaled by the share of items kept."""
    step = int(np.ceil(problem.n_items / SAMPLE_SIZE))
    items = np.arange(0, problem.n_items, step)
    share = items.size / problem.n_items
    sub = with_items(problem, items)
    return AssignmentProblem(
        sub.agent,
        sub.value,
        sub.n_agents,
        tuple(AgentRows(r.name, r.coef, r.lower * share, r.upper * share) for r in sub.agent_rows),
        tuple(GlobalRow(g.name, g.coef, g.upper * share) for g in sub.global_rows),
    )


def _dual_for_scipy(x: np.ndarray, scaled: _Scaled, temperature: float) -> tuple[float, np.ndarray]:
    return dual_value(scaled, x, temperature)
