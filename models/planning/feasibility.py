"""Explain why a scenario cannot hold: which limits conflict, with the numbers, and what to change.

The checks run before solving and each looks at one simple necessary condition; together they
catch the common conflicts (too little capacity, locks that break a rep's limits, accounts with
no allowed rep, reps that cannot reach their band). When the solver still finds no plan, the
solver's typed findings (models.solver.findings: its verdict, the rows its best attempt broke, how
far limits must widen) are worded here the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

import numpy as np

from models.planning.candidates import Candidates
from models.planning.match_data import MatchData
from models.planning.regions import Region, team_budget, transfer_use
from models.solver import (
    AssignmentProblem,
    BrokenRow,
    Finding,
    MoreBrokenRows,
    Stretch,
    UnassignedItems,
    Verdict,
    Widening,
)

MAX_LISTED = 5
"""Ids named in one sentence before "and N more"."""


def _ids(values) -> str:
    values = list(values)
    more = f" and {len(values) - MAX_LISTED} more" if len(values) > MAX_LISTED else ""
    return ", ".join(str(v) for v in values[:MAX_LISTED]) + more


def lock_conflicts(data: MatchData) -> list[str]:
    """Locks that name an unknown or leaving rep."""
    out = []
    for lock in data.locks:
        rep = data.reps.index[data.reps["rep_id"].astype(str) == lock.rep_id]
        if len(rep) == 0:
            out.append(
                f"lock {lock.account_id} -> {lock.rep_id}: no rep {lock.rep_id} in the data; "
                "fix the rep_id or drop the lock."
            )
        elif not data.active[rep[0]]:
            out.append(
                f"lock {lock.account_id} -> {lock.rep_id}: {lock.rep_id} is inactive or "
                "leaves in this scenario; drop the lock or keep the rep."
            )
    return out


def capacity_conflicts(
    data: MatchData, reps: np.ndarray, accounts: np.ndarray, where: str
) -> list[str]:
    """Total workload above total capacity, and locked workload above a rep's capacity."""
    out = []
    capacity = data.reps["capacity"].to_numpy(float)
    total_work, total_cap = data.workload[accounts].sum(), capacity[reps].sum()
    if total_work > total_cap + 1e-9:
        out.append(
            f"{where}total workload {total_work:,.1f} exceeds total capacity {total_cap:,.1f} "
            f"of {reps.size} active reps; add capacity (raise `capacity`, add reps) or "
            "lower workloads."
        )
    locked = accounts[data.lock_rep[accounts] >= 0]
    load = np.bincount(
        data.lock_rep[locked], weights=data.workload[locked], minlength=len(data.reps)
    )
    for r in np.flatnonzero(load > capacity + 1e-9):
        out.append(
            f"rep {data.reps['rep_id'].iloc[r]} has locked workload {load[r]:,.1f} above "
            f"its capacity {capacity[r]:,.1f}; unlock some accounts or raise its capacity."
        )
    return out


def transfer_conflicts(data: MatchData, regions: tuple[Region, ...], limits) -> list[str]:
    """The regional split's own moves above the disruption budget."""
    moved, moved_potential = team_budget(data, limits)
    used, used_potential = transfer_use(data, regions)
    out = []
    if moved is not None and used > moved:
        out.append(
            f"balancing {len(regions)} regions to their capacity share moves {used:,} accounts "
            f"across region borders, above the budget of {moved:,.0f} "
            f"(max_moved_share {limits.max_moved_share:g}); raise `limits.max_moved_share`, "
            "widen the bands or set `solver.decompose: none`."
        )
    if moved_potential is not None and used_potential > moved_potential:
        out.append(
            f"balancing {len(regions)} regions to their capacity share moves {used_potential:,.0f} "
            f"potential across region borders, above the budget of {moved_potential:,.0f} "
            f"(max_moved_potential_share {limits.max_moved_potential_share:g}); raise "
            "`limits.max_moved_potential_share`, widen the bands or set `solver.decompose: none`."
        )
    return out


def band_conflicts(
    data: MatchData, problem: AssignmentProblem, reps: np.ndarray, where: str
) -> list[str]:
    """Reps whose band cannot be met: capacity under the lower band, locks over the upper band,
    or too little reachable work/potential among the accounts that list them as a candidate."""
    out = []
    rows = {r.name: r for r in problem.agent_rows}
    capacity = rows.get("capacity")
    rep_ids = data.reps["rep_id"].to_numpy()[reps]
    for name, label in (("workload_band", "workload"), ("potential_band", "potential")):
        band = rows.get(name)
        if band is None:
            continue
        if capacity is not None and label == "workload":
            bad = np.flatnonzero(capacity.upper < band.lower - 1e-9)
            if bad.size:
                out.append(
                    f"{where}capacity of rep(s) {_ids(rep_ids[bad])} is below the workload "
                    f"band's lower end ({band.lower[bad[0]]:,.1f}); widen "
                    "`limits.workload_band` or raise their capacity."
                )
        out += _locked_over_band(data, band, reps, label, where)
        reach = np.bincount(
            problem.agent[problem.valid],
            weights=band.coef[problem.valid],
            minlength=problem.n_agents,
        )
        short = np.flatnonzero(reach < band.lower - 1e-9)
        if short.size:
            out.append(
                f"{where}rep(s) {_ids(rep_ids[short])} can reach only {reach[short[0]]:,.1f} "
                f"{label} among their candidate accounts, below the band's lower end "
                f"{band.lower[short[0]]:,.1f}; raise `max_travel_km`, list more reps per "
                "account (`solver.candidate_pair_budget`, or a number in "
                "`solver.candidates_per_account`), or widen the band."
            )
    return out


def _locked_over_band(data: MatchData, band, reps: np.ndarray, label: str, where: str) -> list[str]:
    """Reps whose locked accounts alone exceed the band's upper end."""
    values = data.workload if label == "workload" else data.potential
    locked = np.flatnonzero(data.lock_rep >= 0)
    load = np.bincount(data.lock_rep[locked], weights=values[locked], minlength=len(data.reps))
    over = np.flatnonzero(load[reps] > band.upper + 1e-9)
    return [
        f"{where}rep {data.reps['rep_id'].iloc[reps[j]]} has locked {label} {load[reps[j]]:,.1f} "
        f"above the {label} band's upper end {band.upper[j]:,.1f}; unlock some accounts or "
        f"widen `limits.{label}_band`."
        for j in over
    ]


def candidate_conflicts(
    data: MatchData, candidates: Candidates, accounts: np.ndarray, where: str
) -> list[str]:
    """Accounts left without any allowed rep, with the rule that excluded them."""
    empty = accounts[(candidates.rep < 0).all(axis=1)]
    if empty.size == 0:
        return []
    rules = []
    if data.suitability.max_travel_km is not None:
        rules.append(f"max_travel_km={data.suitability.max_travel_km:g}")
    if data.suitability.high_potential[empty].any():
        rules.append("the expertise rule for high-potential accounts")
    ids = data.accounts["account_id"].to_numpy()[empty]
    return [
        f"{where}{empty.size} account(s) have no allowed rep ({_ids(ids)}) under "
        f"{' and '.join(rules) or 'the active reps'}; relax those limits or add reps nearby."
    ]


AGENT_ROWS = frozenset({"capacity", "workload_band", "potential_band"})
"""The per-rep rows the planner builds (the solver's agent rows)."""
BUDGET_WORDS = {"moved_accounts": "accounts moved", "moved_potential": "potential moved"}
VERDICTS = {
    "diverged": (
        "the limits look jointly infeasible even with accounts split between reps (the Lagrangian "
        "dual diverged): a group of neighbouring reps cannot reach their bands from the accounts "
        "around them, or the disruption budget is too small to rebalance; widen the bands, list "
        "more reps per account (`solver.candidate_pair_budget`, or a number in "
        "`solver.candidates_per_account`) or raise `max_travel_km`, or raise the disruption budget."
    ),
    "lp_infeasible": (
        "the limits are jointly infeasible: even with accounts split between reps (the LP "
        "relaxation, solved exactly) no assignment meets them all."
    ),
    "cpsat_infeasible": (
        "the limits are jointly infeasible: CP-SAT searched every assignment of these candidates "
        "and none meets them all."
    ),
    "lp_unfinished": (
        "the LP relaxation did not finish ({reason} after {seconds:.0f} s), so whether these "
        "limits leave room for any plan is unknown."
    ),
    "lp_skipped": (
        "rounding and repair found no plan, and with {value:,.0f} candidate pairs the region is "
        "too large for the LP relaxation to say within minutes whether one exists; lower "
        "`solver.max_accounts_per_region` to split it, or widen the bands or the disruption "
        "budget named below."
    ),
    "lp_rounding_failed": (
        "the LP relaxation has a solution (value {value:,.0f}) but rounding and repairing it "
        "broke a limit; a plan may exist: raise `solver.time_limit_s` or widen the bands slightly."
    ),
}
"""Each ``Verdict`` kind in a manager's words."""


def _widening_sentence(widening: Widening) -> str:
    """The trade-off line of one ``Widening``: how far its group must give."""
    if widening.group == "bands":
        if widening.share is None:
            return (
                "widening the balance bands alone cannot make room: the disruption budget, "
                "capacities or candidate lists are in the way."
            )
        return (
            "keeping the disruption budget, the balance bands must widen: if every band widens "
            f"by the same share of its own limit, by at least {widening.share:.1%}; where that "
            "binds:"
        )
    if widening.share is None:
        return (
            "raising the disruption budget alone cannot make room: the balance bands, "
            "capacities or candidate lists are in the way."
        )
    return (
        "keeping the balance bands, the disruption budget must grow: if its limits all grow by "
        f"the same share, by at least {widening.share:.1%}; where that binds:"
    )


def _stretch_line(stretch: Stretch, rep_ids: np.ndarray, where: str) -> str:
    if stretch.agent >= 0:
        return (
            f"{where}  rep {rep_ids[stretch.agent]}'s {stretch.row.replace('_', ' ')} would need "
            f"{stretch.needed:,.1f} ({stretch.side} limit {stretch.bound:,.1f})"
        )
    return (
        f"{where}  {BUDGET_WORDS.get(stretch.row, stretch.row)} would need "
        f"{stretch.needed:,.0f} (limit {stretch.bound:,.0f})"
    )


def _broken_line(row: BrokenRow, rep_ids: np.ndarray, where: str) -> str | None:
    if row.agent is not None and row.row in AGENT_ROWS:
        return (
            f"{where}no plan found keeping {row.row.replace('_', ' ')} of rep "
            f"{rep_ids[row.agent]} within limits (best attempt {row.value:,.1f} vs "
            f"{row.side} {row.bound:,.1f}); widen that limit or add capacity nearby."
        )
    if row.agent is None and row.row.startswith("moved_"):
        sign = ">" if row.side == "upper" else "<"
        return (
            f"{where}{BUDGET_WORDS.get(row.row, row.row)} = {row.value:.6g} {sign} {row.side} "
            f"{row.bound:.6g}; raise the disruption budget"
        )
    return None


def describe_broken_rows(findings: Sequence[Finding], rep_ids: np.ndarray, where: str) -> list[str]:
    """The solver's findings as sentences naming reps and limits (``rep_ids`` by agent index)."""
    out: list[str] = []
    for found in findings:
        if isinstance(found, Verdict):
            out.append(where + VERDICTS[found.kind].format(**asdict(found)))
        elif isinstance(found, Widening):
            out.append(f"{where}{_widening_sentence(found)}")
            out += [_stretch_line(s, rep_ids, where) for s in found.stretches]
        elif isinstance(found, BrokenRow):
            line = _broken_line(found, rep_ids, where)
            out += [line] if line else []
        elif isinstance(found, MoreBrokenRows):
            out.append(f"{where}... and {found.count} more {found.row} row(s)")
        elif isinstance(found, UnassignedItems):
            out.append(f"{where}{found.count} item(s) without an agent")
    return out
