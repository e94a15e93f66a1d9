"""Files of a plan: assignments.csv, moves.csv, metrics.json, report.md and map.png.

The CLI's side of the matcher: it only formats and writes what models.planning.matcher returned.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.planning import Plan

MOVE_COLUMNS = (
    "fit_value",
    "travel_saved",
    "continuity_cost",
    "balance_restored",
    "capacity_freed",
    "budget_used",
)


def moves_frame(plan: Plan) -> pd.DataFrame:
    """One row per move with each reason term, their sums and the one-line summary."""
    rows = []
    for move in plan.moves:
        why = move.reasons
        rows.append(
            {
                "account_id": move.account_id,
                "from_rep": move.from_rep,
                "to_rep": move.to_rep,
                "kind": move.kind,
                **{k: round(getattr(why, k), 2) for k in MOVE_COLUMNS},
                "objective_delta": round(why.objective_delta, 2),
                "priced_delta": round(why.priced_delta, 2),
                "reasons": move.summary,
            }
        )
    columns = [
        "account_id",
        "from_rep",
        "to_rep",
        "kind",
        *MOVE_COLUMNS,
        "objective_delta",
        "priced_delta",
        "reasons",
    ]
    return pd.DataFrame(rows, columns=columns)


def _clean(value: Any) -> Any:
    """JSON-safe: numpy scalars to Python, inf/nan to None."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def metrics_document(plan: Plan, scenario_name: str, extra: dict[str, Any]) -> dict[str, Any]:
    """metrics.json: the verdict, metrics before/after, conflicts, and run details."""
    return _clean(
        {
            "scenario": scenario_name,
            "status": plan.status,
            "objective": plan.objective,
            "bound": plan.bound,
            "gap": plan.gap,
            "fit_method": plan.fit_method,
            "solver": plan.solver,
            "regions": plan.regions,
            "moves": len(plan.moves),
            "conflicts": list(plan.conflicts),
            "timings": dict(plan.timings),
            **{
                k: v
                for k, v in plan.metrics.items()
                if k in ("before", "after", "ignored_locks", "moves_by_kind")
            },
            **extra,
        }
    )


def write_plan(
    plan: Plan,
    out: Path,
    scenario_name: str,
    extra: dict[str, Any],
    reps: pd.DataFrame | None,
    accounts: pd.DataFrame | None,
) -> list[Path]:
    """Write every file of the plan into ``out``; return the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    doc = metrics_document(plan, scenario_name, extra)
    (out / "metrics.json").write_text(json.dumps(doc, indent=2))
    written.append(out / "metrics.json")
    if plan.assignments is not None:
        plan.assignments.to_csv(out / "assignments.csv", index=False)
        moves_frame(plan).to_csv(out / "moves.csv", index=False)
        written += [out / "assignments.csv", out / "moves.csv"]
        if reps is not None and accounts is not None:
            written.append(write_map(plan, accounts, reps, out / "map.png"))
    (out / "report.md").write_text(report_markdown(doc, plan))
    written.append(out / "report.md")
    return written


def _row(label: str, before: Any, after: Any, fmt: str) -> str:
    def cell(v: Any) -> str:
        return "-" if v is None else format(v, fmt)

    return f"| {label} | {cell(before)} | {cell(after)} |"


def report_markdown(doc: dict[str, Any], plan: Plan) -> str:
    """A short manager's report: verdict, key metrics before/after, top moves or conflicts."""
    lines = [
        f"# Territory plan: {doc['scenario']}",
        "",
        f"Status **{doc['status']}**; fit: {doc['fit_method']}; solver: {doc['solver']}; "
        f"regions: {doc['regions']}.",
    ]
    if doc["conflicts"]:
        lines += ["", "## Why no plan", "", *[f"- {c}" for c in doc["conflicts"]]]
        return "\n".join(lines) + "\n"
    gap = doc["gap"]
    lines += [
        f"Objective {doc['objective']:,.0f} per year, within {100 * (gap or 0):.2f}% of the "
        f"upper bound {doc['bound']:,.0f}.",
        "",
        "| metric | before | after |",
        "|---|---:|---:|",
    ]
    lines += _metric_rows(doc["before"], doc["after"])
    lines += ["", "## Largest moves", ""]
    top = sorted(plan.moves, key=lambda mv: -abs(mv.reasons.priced_delta))[:10]
    lines += [f"- {mv.account_id} ({mv.kind}): {mv.summary}" for mv in top] or ["- none"]
    return "\n".join(lines) + "\n"


METRIC_ROWS = (
    ("expected value / yr", ("expected_value",), ",.0f"),
    ("workload per rep: min", ("workload", "min"), ",.1f"),
    ("workload per rep: max", ("workload", "max"), ",.1f"),
    ("workload per rep: CV", ("workload", "cv"), ".3f"),
    ("potential per rep: CV", ("potential", "cv"), ".3f"),
    ("rep load (workload/capacity): max", ("rep_load", "max"), ".2f"),
    ("reps over capacity", ("rep_load", "over_capacity"), "d"),
    ("travel km, total", ("travel_km_total",), ",.0f"),
    ("high-potential coverage", ("coverage_high_potential",), ".1%"),
    ("accounts moved", ("accounts_moved",), ",d"),
    ("potential moved", ("share_potential_moved",), ".1%"),
)


def _metric_rows(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """One table row per METRIC_ROWS entry (moves exist only after)."""

    def get(doc: dict[str, Any], path: tuple[str, ...]) -> Any:
        for key in path:
            doc = doc.get(key) if isinstance(doc, dict) else None
        return doc

    return [
        _row(label, get(before, path), get(after, path), fmt) for label, path, fmt in METRIC_ROWS
    ]


def _zoom_to_bulk(ax, pos: pd.DataFrame) -> None:
    """Frame the middle 99% of accounts (far outliers, e.g. islands, would shrink the rest)."""
    for axis, column in ((ax.set_xlim, "longitude"), (ax.set_ylim, "latitude")):
        values = pos[column].dropna()
        if len(values):
            low, high = values.quantile([0.005, 0.995])
            pad = 0.05 * max(high - low, 1e-3)
            axis(low - pad, high + pad)


def write_map(plan: Plan, accounts: pd.DataFrame, reps: pd.DataFrame, path: Path) -> Path:
    """Two panels, today and planned: accounts coloured by rep, rep bases as black stars.

    Colours cycle through 20, so neighbouring territories can share one; the frame holds the
    middle 99% of accounts.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = plan.assignments
    rep_order = {r: i for i, r in enumerate(reps["rep_id"].astype(str))}
    pos = accounts.set_index("account_id")[["latitude", "longitude"]].reindex(table["account_id"])
    fig, axes = plt.subplots(1, 2, figsize=(14, 6), sharex=True, sharey=True)
    for ax, column, title in ((axes[0], "current_rep", "today"), (axes[1], "rep_id", "planned")):
        colour = table[column].map(rep_order).fillna(-1).to_numpy(float)
        ax.scatter(
            pos["longitude"],
            pos["latitude"],
            c=np.mod(colour, 20),
            cmap="tab20",
            s=3,
            alpha=0.7,
            linewidths=0,
        )
        active = reps[reps["active"].fillna(True).astype(bool)]
        ax.scatter(active["longitude"], active["latitude"], marker="*", s=60, c="black")
        ax.set_title(f"Territories {title}")
        ax.set_xlabel("longitude")
        _zoom_to_bulk(ax, pos)
    axes[0].set_ylabel("latitude")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
