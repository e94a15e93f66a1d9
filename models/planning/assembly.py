"""Assemble a Plan from solved regions: owners, moves with reasons, metrics before and after."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from features.geography import haversine_km
from models.planning.match_data import MatchData, PairFit
from models.planning.metrics import assignment_metrics
from models.planning.move_details import region_details, with_fit_drivers
from models.planning.plan import Move, Plan
from models.planning.reasons import move_reasons, summary
from models.solver import Solution, WithinTolerance, relative_gap


def infeasible_plan(
    conflicts: list[str],
    fit_method: str,
    regions: int,
    timings: Mapping[str, float],
    unknown: bool = False,
) -> Plan:
    """A plan that explains, instead of assigning: which limits conflict and what to change."""
    return Plan(
        status="unknown" if unknown else "infeasible",
        rep_by_account={},
        objective=float("-inf"),
        bound=float("inf"),
        gap=float("inf"),
        fit_method=fit_method,
        conflicts=tuple(dict.fromkeys(conflicts)),
        regions=regions,
        timings=dict(timings),
    )


def assemble_plan(
    data: MatchData,
    models,
    solutions: list[Solution],
    fit: PairFit,
    fit_method: str,
    timings: Mapping[str, float],
    started: float,
) -> Plan:
    """Owners, moves, metrics and the combined objective, bound and gap of all regions."""
    after_rep, after_fit, after_km, moves = _collect(data, models, solutions)
    objective = float(sum(s.objective for s in solutions))
    bound = float(sum(s.bound for s in solutions))
    status = "optimal" if all(s.status == "optimal" for s in solutions) else "feasible"
    account_ids = data.accounts["account_id"].astype(str).to_numpy()
    rep_ids = data.reps["rep_id"].astype(str).to_numpy()
    timings = {**timings, "total_s": time.monotonic() - started}
    metrics = _metrics(
        data, fit, after_rep, after_fit, after_km, objective, bound, solutions, fit_method, timings
    )
    moves = with_fit_drivers(moves, data, fit, fit_method)
    moves.sort(key=lambda mv: (-mv.impact, mv.account_id))
    metrics["moves_by_kind"] = {
        kind: sum(mv.kind == kind for mv in moves) for kind in ("move", "forced", "new")
    }
    table = _assignment_table(data, models, after_rep, after_fit, after_km)
    return Plan(
        status=status,
        rep_by_account=dict(zip(account_ids, rep_ids[after_rep], strict=True)),
        objective=objective,
        bound=bound,
        gap=relative_gap(objective, bound),
        moves=tuple(moves),
        metrics=metrics,
        fit_method=fit_method,
        solver=solver_summary(solutions),
        regions=len(models),
        timings=timings,
        assignments=table,
    )


def solver_summary(solutions: list[Solution]) -> str:
    """How the plan was solved, for its report: the method ("lagrangian+repair") when every
    region used the same, else each method with how many regions it solved, most first."""
    counts = Counter(s.method for s in solutions)
    if len(counts) <= 1:
        return next(iter(counts), "")
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{method} in {n} region{'s' * (n > 1)}" for method, n in ranked)


def _collect(data: MatchData, models, solutions: list[Solution]):
    """Planned rep (row in data.reps), fit and km per account, and every region's moves."""
    n = len(data.accounts)
    after_rep = np.full(n, -1, dtype=np.int64)
    after_fit, after_km = np.ones(n), np.zeros(n)
    moves: list[Move] = []
    for model, solution in zip(models, solutions, strict=True):
        rows, cand, choice = model.region.accounts, model.candidates, solution.choice
        local = np.arange(rows.size)
        after_rep[rows] = model.region.reps[cand.rep[local, choice]]
        after_fit[rows] = model.fit[local, choice]
        after_km[rows] = np.nan_to_num(cand.distance_km[local, choice])
        moves += _region_moves(data, model, solution)
    return after_rep, after_fit, after_km, moves


def _assignment_table(data: MatchData, models, after_rep, after_fit, after_km) -> pd.DataFrame:
    """Per account: planned and current rep, change kind, potential, workload, fit, km, region."""
    rep_ids = data.reps["rep_id"].astype(str).to_numpy()
    region = np.empty(len(data.accounts), dtype=object)
    for model in models:
        region[model.region.accounts] = model.region.name
    current = data.accounts["current_rep"].astype("string").to_numpy(dtype=object, na_value=None)
    new = rep_ids[after_rep]
    change = np.array(
        [
            "new" if c is None else ("kept" if c == r else "moved")
            for c, r in zip(current, new, strict=True)
        ]
    )
    return pd.DataFrame(
        {
            "account_id": data.accounts["account_id"].astype(str).to_numpy(),
            "rep_id": new,
            "current_rep": current,
            "change": change,
            "potential": data.potential,
            "workload": data.workload,
            "fit": after_fit,
            "expected_value": data.potential * after_fit,
            "distance_km": after_km,
            "region": region,
        }
    )


def _region_moves(data: MatchData, model, solution: Solution) -> list[Move]:
    rows, cand = model.region.accounts, model.candidates
    choice, current = solution.choice, cand.current_slot
    had = data.had_owner[rows]
    changed = np.flatnonzero((choice != current) | (current < 0))
    reasons = move_reasons(
        model.problem, model.terms, solution.prices, changed, choice[changed], current[changed]
    )
    rep_ids = data.reps["rep_id"].astype(str).to_numpy()
    account_ids = data.accounts["account_id"].astype(str).to_numpy()
    owners = data.accounts["current_rep"].astype("string").to_numpy(dtype=object, na_value=None)
    transferred = np.isin(rows, model.region.transfers)  # the split moved it: a move by choice
    details = region_details(data, model, solution, changed)
    out = []
    for i, why, detail in zip(changed, reasons, details, strict=True):
        to_rep = rep_ids[model.region.reps[cand.rep[i, choice[i]]]]
        from_rep = owners[rows[i]]
        kind = "move" if current[i] >= 0 or transferred[i] else ("forced" if had[i] else "new")
        out.append(
            Move(
                account_ids[rows[i]],
                from_rep,
                to_rep,
                kind,
                why,
                summary(why, to_rep, from_rep),
                detail,
            )
        )
    return out


def _metrics(
    data, fit, after_rep, after_fit, after_km, objective, bound, solutions, fit_method, timings
) -> dict[str, Any]:
    before_rep = data.current_rep
    has = before_rep >= 0
    before_fit, before_km = np.ones(len(before_rep)), np.zeros(len(before_rep))
    rows = np.flatnonzero(has)
    if rows.size:
        before_fit[rows] = fit(data.accounts, data.reps, rows, before_rep[rows])
        acc, rep = data.accounts.iloc[rows], data.reps.iloc[before_rep[rows]]
        before_km[rows] = np.nan_to_num(
            haversine_km(acc["latitude"], acc["longitude"], rep["latitude"], rep["longitude"])
        )
    return {
        "status": "optimal" if all(s.status == "optimal" for s in solutions) else "feasible",
        "objective": objective,
        "bound": bound,
        "gap": relative_gap(objective, bound),
        "fit_method": fit_method,
        "solver": sorted({s.method for s in solutions}),
        "timings": dict(timings),
        "ignored_locks": list(data.ignored_locks),
        "before": assignment_metrics(data, before_rep, before_fit, before_km),
        "after": assignment_metrics(data, after_rep, after_fit, after_km, current=before_rep),
    }


def with_tolerance_notes(plan: Plan, model, solutions: list[Solution]) -> Plan:
    """The plan with ``metrics["within_tolerance"]``: one line per band a rep misses within the
    rounding tolerance (an empty list when every band holds exactly)."""
    notes: list[str] = []
    rep_ids = model.data.reps["rep_id"].astype(str).to_numpy()
    for region_model, solution in zip(model.models, solutions, strict=True):
        for found in solution.findings:
            if not isinstance(found, WithinTolerance):
                continue
            for row in found.rows:
                rep = rep_ids[region_model.region.reps[row.agent]]
                notes.append(
                    f"rep {rep}: {row.row.replace('_', ' ')} {row.value:,.1f} vs {row.side} "
                    f"{row.bound:,.1f}, within the {found.rtol:.1%} rounding tolerance"
                )
    return replace(plan, metrics={**plan.metrics, "within_tolerance": notes})
