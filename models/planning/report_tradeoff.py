"""The value-versus-moves trade-off: the plan's value at several disruption budgets.

One prepared setup (inputs and rep fit built once) is solved again with ``max_moved_share`` set to
each budget, every other limit as the scenario has it, each solve given an equal share of
``time_limit_s``. A budget the bands cannot be met under is a row with status ``infeasible`` and
no value: the manager sees where the curve starts. The table crosses a package line (the plan
folder -> the service's /plan_tradeoff), so its one writer and reader live in plan_files.py.
"""

from __future__ import annotations

import time
from dataclasses import replace

import pandas as pd

from models.planning.plan import Plan
from models.planning.recipe import PlanSetup, plan_from_setup

BUDGETS = (0.01, 0.02, 0.05, 0.10, 0.20, 0.30)
"""Shares of accounts moved by choice the curve is drawn at (the scenario's own is added)."""
TRADEOFF_COLUMNS = (
    "max_moved_share",
    "status",
    "objective",
    "moves_by_choice",
    "moved_share",
    "solve_s",
    "chosen",
)


def tradeoff_curve(
    setup: PlanSetup,
    plan: Plan | None = None,
    budgets: tuple[float, ...] = BUDGETS,
    time_limit_s: float | None = None,
) -> pd.DataFrame:
    """One row per budget: status, objective (money per year), moves by choice, solve seconds.

    ``plan`` (the scenario's own plan, already solved) fills the scenario's budget's row without a
    second solve; ``time_limit_s`` (default: the scenario's) is shared equally by the solves.
    """
    scenario = setup.scenario
    # the plan's own budget is the one it used (grown to the need when the scenario says so);
    # the curve's points keep their budget as given, so below the need they have no plan
    own = (plan.metrics.get("budget") or {}).get("used_share") if plan is not None else None
    own = scenario.limits.max_moved_share if own is None else own
    n = max(len(setup.inputs.accounts), 1)
    total = scenario.solver.time_limit_s if time_limit_s is None else time_limit_s
    each = max(2.0, total / max(len(budgets), 1))
    rows = []
    for budget in sorted({*budgets, *([own] if own is not None else [])}):
        started = time.monotonic()
        if plan is not None and own is not None and abs(budget - own) < 1e-12:
            solved = plan
        else:
            limits = replace(scenario.limits, max_moved_share=budget, budget_grows_to_need=False)
            solver = replace(scenario.solver, time_limit_s=each)
            solved = plan_from_setup(
                replace(setup, scenario=replace(scenario, limits=limits, solver=solver))
            )
        rows.append(_row(budget, solved, n, time.monotonic() - started, own))
    return pd.DataFrame(rows, columns=list(TRADEOFF_COLUMNS))


def _row(budget: float, plan: Plan, n: int, seconds: float, own: float | None) -> dict:
    by_kind = plan.metrics.get("moves_by_kind", {}) if plan.feasible else {}
    moves = int(by_kind.get("move", 0)) if plan.feasible else None
    return {
        "max_moved_share": budget,
        "status": plan.status,
        "objective": float(plan.objective) if plan.feasible else None,
        "moves_by_choice": moves,
        "moved_share": moves / n if moves is not None else None,
        "solve_s": round(seconds, 2),
        "chosen": own is not None and abs(budget - own) < 1e-12,
    }


def tradeoff_markdown(curve: pd.DataFrame) -> str:
    """report.md's section: the curve as a table, the scenario's budget marked."""
    lines = [
        "## Value versus moves",
        "",
        "The plan's value if at most this share of accounts moved by choice (other limits as in "
        "the scenario); pick the budget knowingly.",
        "",
        "| budget | status | value / yr | moves by choice |",
        "|---:|---|---:|---:|",
    ]
    for row in curve.to_dict("records"):
        value = "-" if pd.isna(row["objective"]) else f"{row['objective']:,.0f}"
        moves = "-" if pd.isna(row["moves_by_choice"]) else f"{int(row['moves_by_choice']):,d}"
        mark = " (this plan)" if row["chosen"] else ""
        lines.append(
            f"| {row['max_moved_share']:.0%}{mark} | {row['status']} | {value} | {moves} |"
        )
    return "\n".join(lines) + "\n"


def write_tradeoff_png(curve: pd.DataFrame, path) -> None:
    """The curve as a picture: value per year against the budget, infeasible budgets marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = curve[curve["objective"].notna()]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(100 * ok["max_moved_share"], ok["objective"], marker="o")
    for row in curve[curve["chosen"]].to_dict("records"):
        if not pd.isna(row["objective"]):
            ax.scatter([100 * row["max_moved_share"]], [row["objective"]], s=80, c="red", zorder=3)
    bad = curve[curve["objective"].isna()]
    if len(bad) and len(ok):
        ax.scatter(100 * bad["max_moved_share"], [ok["objective"].min()] * len(bad), marker="x")
    ax.set_xlabel("accounts moved by choice, at most (%)")
    ax.set_ylabel("plan value per year")
    ax.set_title("Value versus moves (x: no plan meets the bands)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
