"""A move's figures in the units people use: revenue with each owner, km, workload, fit drivers.

The figures come from the same objective terms as the move's money (``MoveReasons``):
``revenue_new - revenue_now == fit_value`` exactly, where revenue with an owner is the account's
potential (its expected revenue with an average rep) times that owner's fit. An account that had
no owner in the plan (new, or its owner leaves or breaks a rule) has ``revenue_now`` 0: the
plan measures it against having no owner, as its terms do.

``low_confidence``: the move's net gain is smaller than the fit's own uncertainty band
(``FIT_UNCERTAINTY`` of the revenue it reassigns), or the new owner's fit sits at the learned
fit's clip (the model is extrapolating). Such moves stay in the plan, flagged for the manager:
dropping them would change the plan the solver proved feasible (bands, capacity), and the manager
can reject them with one click.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from models.planning.plan import Move
from models.planning.reasons import MoveDetails
from models.repfit import FIT_RANGE, fit_drivers, knows_industry

FIT_UNCERTAINTY = 0.10
"""Stated uncertainty of a pair's fit: +-10% of the revenue moved (the learned fit's holdout error
on the sample world is of that order; the fallback fit is a rule, not an estimate)."""


def region_details(data, model, solution, changed: np.ndarray) -> list[MoveDetails]:
    """MoveDetails for the ``changed`` accounts (local rows) of one solved region."""
    rows, cand, terms = model.region.accounts, model.candidates, model.terms
    new, old = solution.choice[changed], cand.current_slot[changed]
    has = old >= 0
    oldc = np.where(has, old, 0)
    revenue_new = terms.expected_value[changed, new]
    revenue_now = np.where(has, terms.expected_value[changed, oldc], 0.0)
    km_new = cand.distance_km[changed, new]
    km_now = np.where(has, cand.distance_km[changed, oldc], np.nan)
    fit_new = model.fit[changed, new]
    fit_now = np.where(has, model.fit[changed, oldc], np.nan)
    potential = data.potential[rows[changed]]
    workload = data.workload[rows[changed]]
    out = []
    for k in range(changed.size):
        out.append(
            MoveDetails(
                potential=float(potential[k]),
                revenue_now=float(revenue_now[k]),
                revenue_new=float(revenue_new[k]),
                km_now=_num(km_now[k]),
                km_new=_num(km_new[k]),
                workload=float(workload[k]),
                fit_now=_num(fit_now[k]),
                fit_new=float(fit_new[k]),
            )
        )
    return out


def _num(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def with_fit_drivers(moves: list[Move], data, fit, fit_method: str | None) -> list[Move]:
    """The moves with each one's fit drivers and low-confidence flag filled in."""
    if not moves:
        return moves
    account_row = {a: i for i, a in enumerate(data.accounts["account_id"].astype(str))}
    rep_row = {r: i for i, r in enumerate(data.reps["rep_id"].astype(str))}
    a = np.array([account_row[m.account_id] for m in moves])
    n = np.array([rep_row[m.to_rep_id] for m in moves])
    o = np.array(
        [
            rep_row.get(m.from_rep_id, -1)
            if m.details is not None and m.details.fit_now is not None
            else -1
            for m in moves
        ]
    )
    drivers = fit_drivers(fit, data.accounts, data.reps, a, n, o)
    knows = knows_industry(data.accounts, data.reps, a, n)
    out = []
    for move, found, k in zip(moves, drivers, knows, strict=True):
        if move.details is None:
            out.append(move)
            continue
        details = replace(
            move.details,
            fit_drivers=found,
            knows_industry_new=bool(k),
            low_confidence=is_low_confidence(move, fit_method),
        )
        out.append(replace(move, details=details))
    return out


def is_low_confidence(move: Move, fit_method: str | None) -> bool:
    """Whether the move's net gain is within the fit's uncertainty, or its fit at the clip."""
    d = move.details
    if d is None or move.kind != "move":
        return False  # forced and new moves are not a bet on the fit
    band = FIT_UNCERTAINTY * max(d.revenue_new, d.revenue_now)
    at_clip = fit_method == "learned" and (d.fit_new >= FIT_RANGE[1] - 1e-9)
    return bool(abs(move.terms.objective_delta) < band or at_clip)
