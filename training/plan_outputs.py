"""A plan's presentation: report.md and map.png, written beside the plan folder's data.

The folder itself (metrics.json, assignments.csv, moves.csv, report.md) is written by
models.planning's one writer, as a new immutable version under the --out root
(``write_plan_version``: ROOT/v0003, ROOT/current); this module renders the report and the map.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.planning import (
    Plan,
    PlanVersion,
    metrics_document,
    tradeoff_markdown,
    write_plan_version,
    write_tradeoff,
    write_tradeoff_png,
)


def write_plan(
    plan: Plan,
    out: Path,
    scenario_name: str,
    extra: dict[str, Any],
    reps: pd.DataFrame | None,
    accounts: pd.DataFrame | None,
    tradeoff: pd.DataFrame | None = None,
) -> PlanVersion:
    """Write the plan as the next version under ``out`` (with its map and, when given, the
    value-versus-moves curve), never rewriting an earlier one; ``out/current`` moves to it when
    it is feasible."""
    doc = metrics_document(plan, scenario_name, extra)

    def with_map(folder: Path) -> list[Path]:
        written = []
        if tradeoff is not None:
            write_tradeoff_png(tradeoff, folder / "tradeoff.png")
            written += [write_tradeoff(folder, tradeoff), folder / "tradeoff.png"]
        if plan.assignments is None or reps is None or accounts is None:
            return written
        return [*written, write_map(plan, accounts, reps, folder / "map.png")]

    report = report_markdown(doc, plan)
    if tradeoff is not None:
        report += "\n" + tradeoff_markdown(tradeoff)
    return write_plan_version(plan, out, doc, report, with_map)


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
    top = sorted(plan.moves, key=lambda mv: -abs(mv.terms.priced_delta))[:10]
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
