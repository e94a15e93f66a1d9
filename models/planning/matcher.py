"""The matcher: who should own each account, under the scenario's limits.

It reads data -> model -> variables -> constraints -> objective -> solve, per region:

* data: ``prepare`` checks the frames; ``split_regions`` decomposes large teams;
* model: the rep-fit function scores every candidate pair;
* variables: sparse candidates, each account's K nearest suitable reps plus its owner (K = every
  rep of the region while the pairs fit ``solver.candidate_pair_budget``; travel limit, expertise
  rule and locks act here, by leaving pairs out), widened where a rep's listing accounts could not
  fill its balance bands (models.planning.coverage);
* constraints: one function per group below (capacity, balance bands, disruption budget);
* objective: potential x fit - travel cost - continuity cost, maximised;
* solve: models.solver.engine (Lagrangian bound, rounding, repair, local search, CP-SAT when small).

Returns a ``Plan`` with a status; never prints. Conflicting limits give status "infeasible" and the
conflicts in words.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from models.planning.assembly import assemble_plan, infeasible_plan, with_tolerance_notes
from models.planning.candidates import Candidates, build_candidates
from models.planning.coverage import BandNeed, cover_bands
from models.planning.feasibility import (
    band_conflicts,
    candidate_conflicts,
    capacity_conflicts,
    describe_broken_rows,
    lock_conflicts,
    transfer_conflicts,
)
from models.planning.match_data import MatchData, PairFit, prepare
from models.planning.metrics import BAND_ROUNDING_TOLERANCE
from models.planning.plan import Plan
from models.planning.reasons import PairTerms
from models.planning.regions import (
    NEED_MARGIN,
    Budget,
    Region,
    budget_note,
    capacity_share,
    grown_budget,
    region_budgets,
    rep_limits,
    split_regions,
)
from models.planning.scenario import Scenario
from models.repfit import fallback_fit
from models.solver import (
    AgentRows,
    AssignmentProblem,
    GlobalRow,
    Solution,
    SolverOptions,
    Widening,
    least_moves,
    solve,
)

# Solves independent regions elsewhere, e.g. in parallel on Dask (training/distributed.py):
# (problem, options) per region in, one Solution per region out, in the same order.
RegionSolver = Callable[[list[tuple[AssignmentProblem, SolverOptions]]], list[Solution]]

BAND_TOLERANCE = {
    "workload_band": BAND_ROUNDING_TOLERANCE,
    "potential_band": BAND_ROUNDING_TOLERANCE,
    "capacity": BAND_ROUNDING_TOLERANCE,
}


@dataclass(frozen=True)
class RegionModel:
    """One region's candidates, objective terms and assignment problem (rep indices local)."""

    region: Region
    candidates: Candidates
    fit: np.ndarray
    terms: PairTerms
    problem: AssignmentProblem


@dataclass(frozen=True)
class PlanModel:
    """Everything built before solving: checked data, one model per region, conflicts found."""

    data: MatchData
    models: tuple[RegionModel, ...]
    conflicts: tuple[str, ...]
    started: float
    build_s: float
    budget: Mapping[str, Any] = field(default_factory=dict)
    """The disruption budget the regions were given and the need behind it (``grown_budget``)."""


def plan_territories(
    accounts: pd.DataFrame,
    reps: pd.DataFrame,
    scenario: Scenario | None = None,
    fit: PairFit | None = None,
    *,
    fit_method: str | None = None,
    progress: Callable[[str], None] | None = None,
    solve_regions: RegionSolver | None = None,
) -> Plan:
    """Plan an owner for every account; see the module docstring and docs/matcher.md."""
    scenario = scenario or Scenario()
    fit = fit or fallback_fit
    model = build_plan_model(accounts, reps, scenario, fit)
    method = fit_method or getattr(fit, "method", "fallback")
    return solve_plan_model(model, scenario, fit, method, progress, solve_regions)


def build_plan_model(
    accounts: pd.DataFrame, reps: pd.DataFrame, scenario: Scenario, fit: PairFit
) -> PlanModel:
    """Data, regions, candidates, objective and constraints, plus the conflicts they reveal."""
    started = time.monotonic()
    data = prepare(accounts, reps, scenario)
    conflicts = lock_conflicts(data)
    regions = split_regions(data, scenario.solver, scenario.limits)
    limits, budget_info = grown_budget(data, regions, scenario.limits)
    scenario = replace(scenario, limits=limits)
    conflicts += transfer_conflicts(data, regions, scenario.limits)
    budgets = region_budgets(data, regions, scenario.limits)
    models = []
    for region, budget in zip(regions, budgets, strict=True):
        where = f"region {region.name}: " if len(regions) > 1 else ""
        conflicts += capacity_conflicts(data, region.reps, region.accounts, where)
        model = build_region_model(data, region, scenario, fit, budget)
        conflicts += candidate_conflicts(data, model.candidates, region.accounts, where)
        conflicts += band_conflicts(data, model.problem, region.reps, where)
        models.append(model)
    if scenario.limits.budget_grows_to_need:
        models, budget_info = budgets_within_reach(
            models, budget_info, len(data.accounts), float(data.potential.sum())
        )
    return PlanModel(
        data, tuple(models), tuple(conflicts), started, time.monotonic() - started, budget_info
    )


def budgets_within_reach(
    models: list[RegionModel], info: Mapping[str, Any], n_accounts: int, total_potential: float
) -> tuple[list[RegionModel], dict[str, Any]]:
    """Each region's disruption budget raised to ``NEED_MARGIN`` x the moves a min-cost flow
    needs to bring its reps' workload and potential within their limits on its candidates
    (models.solver.flow_rounding.least_moves), where that is more than it was given.

    ``region_need`` counts the accounts reps over a limit must shed, wherever they could go; a
    region's geography can need more: on a 300k-account world's 45,328-account region the flow
    needs 3,144 moves and the region's share was 3,907 (1.24x), where the regions that planned
    had ~1.45x; that region's repair stalled for 496 s and the LP rescue found no plan."""
    out, raised = [], []
    need_accounts = 0.0
    for model in models:
        problem = model.problem
        if not problem.global_rows:
            out.append(model)
            continue
        needs = least_moves(problem, [g.coef for g in problem.global_rows])
        need_accounts += sum(
            need for g, need in zip(problem.global_rows, needs, strict=True)
            if g.name == "moved_accounts"
        )  # fmt: skip
        model, more = _budget_raised(model, [NEED_MARGIN * need for need in needs])
        out.append(model)
        raised += more
    info = dict(info)
    info["flow_need_accounts"] = int(round(need_accounts))
    info["regions_raised"] = sorted({name for name, *_ in raised})
    if raised:
        info = _with_raises(info, raised, n_accounts, total_potential)
        info["note"] = budget_note(info, has_budget=True) + (
            f" A flow over each region's candidates needs {int(round(need_accounts)):,} moves "
            f"to meet its reps' limits; {len(info['regions_raised'])} region(s) got less and "
            f"were raised to {NEED_MARGIN:g}x their need ({_more(raised)})."
        )
    return out, info


def _budget_raised(
    model: RegionModel, reaches: list[float]
) -> tuple[RegionModel, list[tuple[str, str, float, float]]]:
    """The region with each budget row raised to its reach where that is more (accounts whole);
    and (region, row, before, after) per raise."""
    rows, raised = [], []
    for g, reach in zip(model.problem.global_rows, reaches, strict=True):
        if g.name == "moved_accounts":
            reach = float(np.ceil(reach - 1e-9))
        rows.append(GlobalRow(g.name, g.coef, max(g.upper, reach)))
        if reach > g.upper + 1e-9:
            raised.append((model.region.name, g.name, g.upper, reach))
    return replace(model, problem=replace(model.problem, global_rows=tuple(rows))), raised


def _with_raises(
    info: Mapping[str, Any], raised, n_accounts: int, total_potential: float
) -> dict[str, Any]:
    """The budget record with the raises added to the shares used (the note is the caller's)."""
    info = dict(info)
    accounts, potential = _raised_totals(raised)
    if info.get("used_share") is not None:
        info["used_share"] = round(info["used_share"] + accounts / max(n_accounts, 1), 4)
    if info.get("used_potential_share") is not None and total_potential > 0:
        info["used_potential_share"] = round(
            info["used_potential_share"] + potential / total_potential, 4
        )
    return info


def _raised_totals(raised) -> tuple[float, float]:
    """Accounts and potential the raises add to the budget."""
    accounts = sum(after - before for _, row, before, after in raised if row == "moved_accounts")
    potential = sum(after - before for _, row, before, after in raised if row != "moved_accounts")
    return accounts, potential


def _more(raised) -> str:
    accounts, potential = _raised_totals(raised)
    more = [
        f"{int(round(accounts)):,} more accounts" if accounts else "",
        f"{potential:,.0f} more potential" if potential else "",
    ]
    return " and ".join(m for m in more if m)


UNPROVEN_BUDGET_FACTOR = 2.0
"""A region that ends without a plan and without a proof either way (status "unknown": repair
stalled, the LP was skipped or unfinished) is solved once more with this times its budget. On
the 1M-account world South-2-1-2 (42,557 accounts x 100 reps, 10,319 of them moved in by the
split, too large for the LP) ended after 395 s with 12 reps up to 1% over capacity at 1,075
moves; at 2,150 it planned in 41 s."""


def budgets_found_short(model: PlanModel, solutions: list[Solution]) -> tuple[PlanModel, list[int]]:
    """Regions that ended without a plan with each budget raised, and the regions to solve
    again: where the solver proved the budget too small (a ``Widening`` of the budget, from the
    LP relaxation or CP-SAT), to ``NEED_MARGIN`` x what the proof needs; where it proved nothing,
    to ``UNPROVEN_BUDGET_FACTOR`` x the budget (at least one average account per rep). A region
    proven to have no plan whatever its budget keeps it, and its verdict.

    The flow estimate (``budgets_within_reach``) weighs workload and potential one at a time: on
    the 1M-account sample world two small regions that the split had filled with 886 and 1,765
    accounts from their neighbours got 35 and 30 moves and the LP proved no plan exists there;
    at 1.27x and 2.45x that (the proofs' widenings) x 1.5 both planned in ~15 s."""
    models, again = list(model.models), []
    proven: list[tuple[str, str, float, float]] = []
    unproven: list[tuple[str, str, float, float]] = []
    for i, (region_model, solution) in enumerate(zip(model.models, solutions, strict=True)):
        if solution.choice.size and (solution.choice >= 0).all():
            continue
        share = next(
            (
                f.share
                for f in solution.findings
                if isinstance(f, Widening) and f.group == "budget" and f.share is not None
            ),
            None,
        )
        problem = region_model.problem
        if share is not None:
            reaches, found = (
                [NEED_MARGIN * (1 + share) * g.upper for g in problem.global_rows],
                proven,
            )
        elif solution.status == "unknown":
            reaches = [
                max(UNPROVEN_BUDGET_FACTOR * g.upper, problem.n_agents * _mean_moved(problem, g))
                for g in problem.global_rows
            ]
            found = unproven
        else:
            continue
        models[i], more = _budget_raised(region_model, reaches)
        if more:
            again.append(i)
            found += more
    if not again:
        return model, []
    info = _with_raises(
        model.budget, proven + unproven, len(model.data.accounts), float(model.data.potential.sum())
    )
    before, note = budget_note(dict(model.budget), has_budget=True), info.get("note", "")
    if note.startswith(before):  # the first sentence states the shares used: restate it
        note = budget_note(info, has_budget=True) + note[len(before) :]
    names = sorted({name for name, *_ in proven + unproven})
    info["regions_raised"] = sorted({*info.get("regions_raised", ()), *names})
    for key, found, said in (
        ("regions_proven_short", proven, " The solver proved {n} region(s) ({names}) needed more "
         "than that (the estimates weigh each limit alone; together they need more); they were "
         f"raised to {NEED_MARGIN:g}x what the proof needs ({{more}}) and solved again."),
        ("regions_unproven_short", unproven, " {n} region(s) ({names}) found no plan within "
         "their budget and no proof that none exists; they were solved again with "
         f"{UNPROVEN_BUDGET_FACTOR:g}x their budget ({{more}})."),
    ):  # fmt: skip
        if found:
            shown = sorted({name for name, *_ in found})
            info[key] = shown
            note += said.format(n=len(shown), names=", ".join(shown), more=_more(found))
    info["note"] = note
    return replace(model, models=tuple(models), budget=info), again


def _mean_moved(problem: AssignmentProblem, row: GlobalRow) -> float:
    """What one move costs a budget row on average (one account, or its mean potential)."""
    counted = row.coef[problem.valid]
    counted = counted[counted > 0]
    return float(counted.mean()) if counted.size else 0.0


def solve_plan_model(
    model: PlanModel,
    scenario: Scenario,
    fit: PairFit,
    method: str,
    progress: Callable[[str], None] | None = None,
    solve_regions: RegionSolver | None = None,
) -> Plan:
    """Solve every region within the scenario's time budget (shared by size) and assemble; the
    plan's ``metrics["budget"]`` says which disruption budget was used and the need behind it.

    With ``solve_regions`` the regions are handed over together (to run in parallel); each keeps
    the time budget it would get here."""
    n_regions = len(model.models)
    if model.conflicts:
        plan = infeasible_plan(list(model.conflicts), method, n_regions, {"build_s": model.build_s})
        return _with_budget(plan, model)
    begun = time.monotonic()
    total_pairs = sum(m.problem.n_pairs() for m in model.models) or 1
    jobs = []
    for region_model in model.models:
        share = region_model.problem.n_pairs() / total_pairs
        options = SolverOptions(
            time_limit_s=max(2.0, scenario.solver.time_limit_s * share),
            exact_max_pairs=scenario.solver.exact_max_pairs,
            lns_steps=scenario.solver.lns_steps,
            deterministic=scenario.solver.deterministic,
            tolerance=BAND_TOLERANCE,
        )
        jobs.append((region_model.problem, options))
    if solve_regions is not None and progress is not None:
        progress(f"solving {n_regions} region(s) in parallel")
    solutions = _solved(jobs, model.models, n_regions, progress, solve_regions)
    if scenario.limits.budget_grows_to_need:
        model, again = budgets_found_short(model, solutions)
        if again:
            if progress is not None:
                progress(f"solving {len(again)} region(s) again with a raised budget")
            redo = [(model.models[i].problem, jobs[i][1]) for i in again]
            again_models = [model.models[i] for i in again]
            resolved = _solved(redo, again_models, n_regions, progress, solve_regions)
            for i, solution in zip(again, resolved, strict=True):
                solutions[i] = solution
    timings = {"build_s": model.build_s, "solve_s": time.monotonic() - begun}
    broken = _broken(model.data, model.models, solutions, n_regions)
    if broken:
        # proven only for one region: split regions share the budget by an estimate of need
        proven = n_regions == 1 and solutions[0].status == "infeasible"
        return _with_budget(
            infeasible_plan(broken, method, n_regions, timings, unknown=not proven), model
        )
    plan = assemble_plan(
        model.data, list(model.models), solutions, fit, method, timings, model.started
    )
    return _with_budget(with_tolerance_notes(plan, model, solutions), model)


def _solved(
    jobs: list[tuple[AssignmentProblem, SolverOptions]],
    models,
    n_regions: int,
    progress: Callable[[str], None] | None,
    solve_regions: RegionSolver | None,
) -> list[Solution]:
    """One solution per job: handed to ``solve_regions`` together, or solved here in turn with
    each region's progress prefixed by its name."""
    if solve_regions is not None:
        return list(solve_regions(jobs))
    return [
        solve(problem, options, _prefixed(progress, _where(region_model, n_regions)))
        for (problem, options), region_model in zip(jobs, models, strict=True)
    ]


def _with_budget(plan: Plan, model: PlanModel) -> Plan:
    return replace(plan, metrics={**plan.metrics, "budget": dict(model.budget)})


def _where(region_model: RegionModel, n_regions: int) -> str:
    return f"region {region_model.region.name}: " if n_regions > 1 else ""


def _prefixed(progress: Callable[[str], None] | None, prefix: str):
    """``progress`` with every message prefixed (None stays None)."""
    if progress is None:
        return None
    return lambda text: progress(prefix + text)


def _broken(data: MatchData, models, solutions: list[Solution], n_regions: int) -> list[str]:
    out = []
    for model, solution in zip(models, solutions, strict=True):
        if solution.choice.size and (solution.choice >= 0).all():
            continue
        where = f"region {model.region.name}: " if n_regions > 1 else ""
        rep_ids = data.reps["rep_id"].to_numpy()[model.region.reps]
        described = describe_broken_rows(solution.findings, rep_ids, where)
        out += described or [
            f"{where}the solver found no plan meeting every limit "
            f"({solution.status}); widen the bands or the disruption budget."
        ]
    return out


def build_region_model(
    data: MatchData, region: Region, scenario: Scenario, fit: PairFit, budget: Budget | None = None
) -> RegionModel:
    """Candidates, objective terms and constraint rows for one region."""
    a_rows, r_rows = region.accounts, region.reps
    local = np.full(len(data.reps), -1, dtype=np.int64)
    local[r_rows] = np.arange(r_rows.size)
    current = np.where(data.current_rep[a_rows] >= 0, local[data.current_rep[a_rows]], -1)
    lock = data.lock_rep[a_rows]
    lock = np.where(lock >= 0, local[np.maximum(lock, 0)], -1)
    accounts, reps = data.accounts.iloc[a_rows], data.reps.iloc[r_rows]
    suitability = data.suitability.subset(a_rows, r_rows)
    k = scenario.solver.candidates_for(a_rows.size, r_rows.size)
    candidates = build_candidates(accounts, reps, k, suitability, current, lock)
    limits = {name: row for name, *row in rep_limits(data, r_rows, scenario.limits)}
    capacity = limits.pop("capacity")[3]
    needs = [
        BandNeed(
            values[a_rows], lower, np.minimum(upper, capacity) if name == "workload_band" else upper
        )
        for name, (_band, values, lower, upper) in limits.items()
    ]
    candidates = cover_bands(candidates, accounts, reps, suitability, lock >= 0, needs)
    valid = candidates.rep >= 0
    items, slots = np.nonzero(valid)
    pair_fit = np.ones(candidates.rep.shape)
    if items.size:
        pair_fit[items, slots] = fit(
            data.accounts, data.reps, a_rows[items], r_rows[candidates.rep[items, slots]]
        )
    terms = objective_terms(data, a_rows, r_rows, candidates, pair_fit, scenario)
    problem = AssignmentProblem(candidates.rep, np.where(valid, terms.value, 0.0), r_rows.size)
    problem = add_rep_capacity_constraints(problem, data, a_rows, r_rows)
    problem = add_balance_band_constraints(problem, data, a_rows, r_rows, scenario)
    budget = budget or region_budgets(data, (region,), scenario.limits)[0]
    problem = add_disruption_budget_constraints(problem, data, a_rows, candidates, budget)
    return RegionModel(region, candidates, pair_fit, terms, problem)


def objective_terms(data, a_rows, r_rows, candidates: Candidates, pair_fit, scenario) -> PairTerms:
    """potential x fit, travel cost and continuity cost per candidate slot."""
    weights = scenario.weights
    valid = candidates.rep >= 0
    potential = data.potential[a_rows][:, None]
    travel = weights.travel_cost_per_km * np.nan_to_num(candidates.distance_km)
    safe = np.where(valid, r_rows[np.maximum(candidates.rep, 0)], 0)
    knows = data.industry_known(np.broadcast_to(a_rows[:, None], safe.shape), safe)
    factor = np.where(knows, weights.same_industry_continuity_factor, 1.0)
    changes_owner = data.had_owner[a_rows][:, None] & (
        np.arange(candidates.rep.shape[1])[None, :] != candidates.current_slot[:, None]
    )
    continuity = np.where(changes_owner, weights.continuity_cost_share * potential * factor, 0.0)
    return PairTerms(
        np.where(valid, potential * pair_fit, 0.0),
        np.where(valid, travel, 0.0),
        np.where(valid, continuity, 0.0),
    )


def _per_account(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return np.broadcast_to(values[:, None], shape)


def add_rep_capacity_constraints(problem, data: MatchData, a_rows, r_rows) -> AssignmentProblem:
    """Workload given to each rep stays within its capacity."""
    workload = _per_account(data.workload[a_rows], problem.agent.shape)
    capacity = data.reps["capacity"].to_numpy(float)[r_rows]
    row = AgentRows("capacity", workload, np.full(r_rows.size, -np.inf), capacity)
    return _with_rows(problem, agent_rows=(row,))


def band_targets(data: MatchData, a_rows, r_rows, scenario: Scenario) -> list[tuple]:
    """(row name, band, value per account, target per rep) for each balance band that is on.

    The target is the team's total times the rep's share of the team's capacity (equal shares
    without capacity), the same in every region of a split (models.planning.regions balances the
    regions to it)."""
    share = capacity_share(data, r_rows)
    return [
        (name, band, values, values.sum() * share)
        for name, band, values in (
            ("workload_band", scenario.limits.workload_band, data.workload),
            ("potential_band", scenario.limits.potential_band, data.potential),
        )
        if band is not None
    ]


def add_balance_band_constraints(problem, data, a_rows, r_rows, scenario) -> AssignmentProblem:
    """Workload and potential per rep within +-band of the mean (scaled by capacity share)."""
    rows = []
    for name, band, values, target in band_targets(data, a_rows, r_rows, scenario):
        coef = (
            problem.agent_rows[0].coef
            if name == "workload_band"
            else _per_account(values[a_rows], problem.agent.shape)
        )
        rows.append(AgentRows(name, coef, target * (1 - band), target * (1 + band)))
    return _with_rows(problem, agent_rows=tuple(rows))


def add_disruption_budget_constraints(
    problem, data, a_rows, candidates: Candidates, budget: Budget
) -> AssignmentProblem:
    """At most a share of accounts, and of potential, move by choice (forced moves are free).

    Split regions share what the split's own transfers leave of the team's budget: each its
    estimated need, the rest by size (models.planning.regions.region_budgets)."""
    shape = problem.agent.shape
    counted = (
        (candidates.current_slot[:, None] >= 0)
        & (np.arange(shape[1])[None, :] != candidates.current_slot[:, None])
        & (candidates.rep >= 0)
    )
    moved, moved_potential = budget
    rows = []
    if moved is not None:
        rows.append(GlobalRow("moved_accounts", counted.astype(float), moved))
    if moved_potential is not None:
        potential = data.potential[a_rows]
        rows.append(GlobalRow("moved_potential", counted * potential[:, None], moved_potential))
    return _with_rows(problem, global_rows=tuple(rows))


def _with_rows(problem: AssignmentProblem, agent_rows=(), global_rows=()) -> AssignmentProblem:
    return AssignmentProblem(
        problem.agent,
        problem.value,
        problem.n_agents,
        problem.agent_rows + tuple(agent_rows),
        problem.global_rows + tuple(global_rows),
    )
