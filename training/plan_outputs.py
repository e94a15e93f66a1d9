"""A plan's presentation: report.md and map.png, written beside the plan folder's data.

The folder itself (metrics.json, assignments.csv, moves.csv, report.md) is written by
models.planning's one writer, as a new immutable version under the --out root
(``write_plan_version``: ROOT/v0003, ROOT/current); this module renders the report and the map.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
from training.plan_map import write_map


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
    if (doc.get("budget") or {}).get("note"):
        lines += ["", doc["budget"]["note"]]
    if doc.get("ignored_locks"):
        lines += ["", "## Scenario entries ignored (unknown or expired ids)", ""]
        lines += [f"- {note}; fix the id in the scenario YAML" for note in doc["ignored_locks"]]
    if doc["conflicts"]:
        lines += ["", "## Why no plan", "", *[f"- {c}" for c in doc["conflicts"]]]
        if doc.get("feasible_with"):
            lines += [
                "",
                "## What makes it feasible",
                "",
                *[f"- {a}" for a in doc["feasible_with"]],
            ]
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
    from training.decision_locks import report_section  # locks from managers' decisions

    locks = report_section(doc.get("decision_locks") or [], doc.get("ignored_locks") or [])
    return "\n".join(lines) + "\n" + locks


METRIC_ROWS = (
    ("expected value / yr", ("expected_value",), ",.0f"),
    ("workload per rep: min", ("workload", "min"), ",.1f"),
    ("workload per rep: max", ("workload", "max"), ",.1f"),
    ("workload per rep: CV", ("workload", "cv"), ".3f"),
    ("potential per rep: CV", ("potential", "cv"), ".3f"),
    ("rep load (workload/capacity): max", ("rep_load", "max"), ".2f"),
    ("reps over capacity (any amount)", ("rep_load", "over_capacity"), "d"),
    ("reps over capacity by > 0.5% (past rounding)", ("rep_load", "over_tolerance"), "d"),
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
