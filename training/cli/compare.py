"""CLI command: `territory compare` (two plans of one dataset side by side, readable numbers).

Each plan's metrics.json names the dataset it planned (`dataset_identity`, written by `territory
plan`); plans of two different datasets are refused instead of compared.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any

import typer

from features.errors import TerritoryError


class DifferentDatasetsError(TerritoryError):
    """Two plans of different datasets: their numbers are not comparable."""


# label, path in metrics.json, kind: money, count, share (a fraction shown as %), number, text
COMPARE_ROWS = (
    ("status", ("status",), "text"),
    ("objective / yr", ("objective",), "money"),
    ("gap to bound", ("gap",), "share"),
    ("expected value / yr", ("after", "expected_value"), "money"),
    ("accounts moved", ("after", "accounts_moved"), "count"),
    ("potential moved", ("after", "share_potential_moved"), "share"),
    ("workload per rep: min", ("after", "workload", "min"), "number"),
    ("workload per rep: max", ("after", "workload", "max"), "number"),
    ("workload CV", ("after", "workload", "cv"), "ratio"),
    ("potential CV", ("after", "potential", "cv"), "ratio"),
    ("rep load max", ("after", "rep_load", "max"), "ratio"),
    ("travel km total", ("after", "travel_km_total"), "count"),
    ("high-potential coverage", ("after", "coverage_high_potential"), "share"),
    ("fit", ("fit_method",), "text"),
)


def dataset_identity(data: str, tables) -> dict[str, Any]:
    """What a plan records about its data: the source and a digest of its account ids."""
    from features.workspace import data_source_id

    ids = "\n".join(sorted(tables.accounts["account_id"].astype(str)))
    return {
        "data_source": data_source_id(data),
        "accounts_digest": hashlib.sha256(ids.encode()).hexdigest()[:16],
        "accounts_count": len(tables.accounts),
    }


def format_value(value: Any, kind: str, currency: str = "$", *, signed: bool = False) -> str:
    """One cell: money with the currency and thousands separators, shares as %, counts with
    separators; `signed` for a difference (shares then in percentage points)."""
    if value is None:
        return "-"
    if kind == "text" or isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    sign = "+" if signed else ""
    if kind == "money":
        text = format(abs(value), ",.0f")
        prefix = "-" if value < 0 else sign
        return f"{prefix}{currency}{text}"
    if kind == "share":
        return f"{100 * value:{sign}.1f} pp" if signed else f"{100 * value:.1f}%"
    if kind == "count":
        return format(round(value), f"{sign},d")
    if kind == "number":
        return format(value, f"{sign},.1f")
    return format(value, f"{sign}.3f")


def refuse_other_datasets(paths: tuple[Path, Path], docs: list[dict[str, Any]]) -> None:
    """Raise DifferentDatasetsError when the two plans were made on different datasets."""
    digests = [d.get("accounts_digest") for d in docs]
    sources = [d.get("data_source") for d in docs]
    if None in digests or digests[0] == digests[1]:
        return
    a, b = (
        f"{p} planned {s or 'an unnamed dataset'} ({d.get('accounts_count', '?')} accounts)"
        for p, s, d in zip(paths, sources, docs, strict=True)
    )
    raise DifferentDatasetsError(
        f"{a}, but {b}: plans of different datasets cannot be compared. Compare two plans of "
        f"the same data, e.g. `territory plan --data {sources[0]} --scenario OTHER.yaml` and "
        f"then `territory compare {paths[0]} {sources[0]}/plan/current`."
    )


def compare(
    plan_a: Annotated[Path, typer.Argument(help="A plan directory (from `territory plan`).")],
    plan_b: Annotated[Path, typer.Argument(help="Another plan directory.")],
    currency: Annotated[str, typer.Option("--currency", help="symbol before money")] = "$",
) -> None:
    """Show two plans' metrics side by side, with the difference (same dataset only)."""
    from rich.console import Console
    from rich.table import Table

    docs = [_read_metrics(p) for p in (plan_a, plan_b)]
    refuse_other_datasets((plan_a, plan_b), docs)
    table = Table(title=f"{docs[0].get('scenario')} vs {docs[1].get('scenario')}")
    for column in ("metric", str(plan_a), str(plan_b), "B - A"):
        table.add_column(column, justify="left" if column == "metric" else "right", no_wrap=True)
    for label, path, kind in COMPARE_ROWS:
        a, b = (_lookup(d, path) for d in docs)
        diff = (
            format_value(b - a, kind, currency, signed=True)
            if kind != "text" and _numbers(a, b)
            else ""
        )
        table.add_row(label, format_value(a, kind, currency), format_value(b, kind, currency), diff)
    Console(width=200).print(table)


def _lookup(doc: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        doc = doc.get(key) if isinstance(doc, dict) else None
    return doc


def _numbers(*values: Any) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _read_metrics(folder: Path) -> dict[str, Any]:
    from models.planning import PlanFolderError, read_plan_metrics

    try:
        return read_plan_metrics(folder)
    except PlanFolderError as exc:
        raise typer.BadParameter(f"{exc} (pass a directory written by `territory plan`)") from exc
