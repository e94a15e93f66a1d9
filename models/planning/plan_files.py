"""The plan folder: one schema, one writer, one reader.

A plan folder holds ``metrics.json`` (the verdict, metrics before/after, run details and the
folder's ``schema_version``), ``assignments.csv`` (one planned owner per account), ``moves.csv``
(one row per move: its money terms, their sums and a one-line summary) and ``report.md``;
``territory plan`` adds ``map.png``. An infeasible plan's folder holds only metrics.json and
report.md. ``territory plan`` keeps each run as an immutable version folder under one root with a
``current`` link (plan_versions.py); every reader handed such a root reads ``current``. The reader
is strict: a missing file, column or value is an error naming the file, the
column and the fix, never a guess.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.errors import TerritoryError
from models.planning.plan import Move, Plan
from models.planning.reasons import MoveDetails, MoveReasons

SCHEMA_VERSION = 1
METRICS = "metrics.json"
ASSIGNMENTS = "assignments.csv"
MOVES = "moves.csv"
REPORT = "report.md"
TRADEOFF = "tradeoff.csv"
CURRENT = "current"
ASSIGNMENT_COLUMNS = (
    "account_id",
    "rep_id",
    "current_rep",
    "change",
    "potential",
    "workload",
    "fit",
    "expected_value",
    "distance_km",
    "region",
)
TERM_COLUMNS = tuple(MoveReasons.__dataclass_fields__)
MOVE_COLUMNS = (
    "account_id",
    "from_rep_id",
    "to_rep_id",
    "kind",
    *TERM_COLUMNS,
    "objective_delta",
    "priced_delta",
    "reasons",
)
DETAIL_COLUMNS = tuple(MoveDetails.__dataclass_fields__)
"""moves.csv's optional columns (MoveDetails): a folder written before them reads without."""
PLAN_METRICS = ("before", "after", "ignored_locks", "moves_by_kind", "budget")
"""The entries of ``Plan.metrics`` that metrics.json keeps."""
RERUN = "rerun `territory plan --out {folder}` with this version of Territory"


class PlanFolderError(TerritoryError):
    """A plan folder that does not follow the schema: names the file, the column and the fix."""


@dataclass
class PlanFolder:
    """A plan folder as read back: the plan, where it lives and what it is called.

    ``current_owner`` is the CRM's owner per account updated by the plan's ``current_rep``;
    ``metrics`` is metrics.json as written.
    """

    path: Path
    plan_id: str
    created_at: str
    plan: Plan
    current_owner: dict[str, str]
    metrics: dict[str, Any]
    report_md: str = ""
    schema_version: int = SCHEMA_VERSION

    @cached_property
    def planned_owner(self) -> dict[str, str]:
        return dict(self.plan.rep_by_account)

    @cached_property
    def moves(self) -> dict[str, Move]:
        return {m.account_id: m for m in self.plan.moves}

    @cached_property
    def workload(self) -> dict[str, float]:
        table = self.plan.assignments
        if table is None:
            return {}
        return dict(zip(table["account_id"], table["workload"].astype(float), strict=True))

    @property
    def reason_types(self) -> list[str]:
        return sorted({r.type for m in self.moves.values() for r in m.reasons})


# -- writer ---------------------------------------------------------------------------------------
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


def metrics_document(plan: Plan, scenario_name: str, extra: Mapping[str, Any]) -> dict[str, Any]:
    """metrics.json: schema version, verdict, metrics before/after, conflicts and run details."""
    return _clean(
        {
            "schema_version": SCHEMA_VERSION,
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
            **{k: v for k, v in plan.metrics.items() if k in PLAN_METRICS},
            **extra,
        }
    )


def moves_frame(plan: Plan) -> pd.DataFrame:
    """moves.csv: one row per move with each money term (to the cent), their sums and summary."""
    rows = []
    for move in plan.moves:
        terms = MoveReasons(**{k: round(v, 2) for k, v in asdict(move.terms).items()})
        rows.append(
            {
                "account_id": move.account_id,
                "from_rep_id": move.from_rep_id,
                "to_rep_id": move.to_rep_id,
                "kind": move.kind,
                **asdict(terms),
                # sums of the rounded terms, so the file adds up exactly as read back
                "objective_delta": round(terms.objective_delta, 2),
                "priced_delta": round(terms.priced_delta, 2),
                "reasons": move.summary,
                **_detail_cells(move.details),
            }
        )
    return pd.DataFrame(rows, columns=[*MOVE_COLUMNS, *DETAIL_COLUMNS])


def _detail_cells(details: MoveDetails | None) -> dict[str, Any]:
    """A move's MoveDetails as moves.csv cells (fit drivers as JSON); empty without them."""
    if details is None:
        return {}
    cells = asdict(details)
    cells["fit_drivers"] = json.dumps({k: round(v, 6) for k, v in details.fit_drivers.items()})
    return cells


def _details_from(row: Mapping[str, Any]) -> MoveDetails | None:
    """MoveDetails from a moves.csv row, or None when the folder predates them."""
    if any(not isinstance(row.get(c), str) for c in ("potential", "revenue_now", "revenue_new")):
        return None

    def num(name: str) -> float | None:
        value = row.get(name)
        return float(value) if isinstance(value, str) and value else None

    drivers = json.loads(row["fit_drivers"]) if isinstance(row.get("fit_drivers"), str) else {}
    return MoveDetails(
        potential=float(row["potential"]),
        revenue_now=float(row["revenue_now"]),
        revenue_new=float(row["revenue_new"]),
        km_now=num("km_now"),
        km_new=num("km_new"),
        workload=num("workload") or 0.0,
        fit_now=num("fit_now"),
        fit_new=num("fit_new") or 1.0,
        knows_industry_new=row.get("knows_industry_new") == "True",
        fit_drivers={str(k): float(v) for k, v in drivers.items()},
        low_confidence=row.get("low_confidence") == "True",
    )


def write_plan_folder(
    plan: Plan, out: Path, document: Mapping[str, Any], report_md: str
) -> list[Path]:
    """Write the plan folder (``document`` from ``metrics_document``); return the paths written.

    assignments.csv and moves.csv only when there is a plan (``plan.assignments`` is set).
    """
    if document.get("schema_version") != SCHEMA_VERSION:
        raise ValueError("document must come from metrics_document (it sets schema_version)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / METRICS).write_text(json.dumps(document, indent=2))
    written = [out / METRICS]
    if plan.assignments is not None:
        missing = [c for c in ASSIGNMENT_COLUMNS if c not in plan.assignments.columns]
        if missing:
            raise ValueError(f"plan.assignments lacks {missing}; build plans with plan_territories")
        plan.assignments[list(ASSIGNMENT_COLUMNS)].to_csv(out / ASSIGNMENTS, index=False)
        moves_frame(plan).to_csv(out / MOVES, index=False)
        written += [out / ASSIGNMENTS, out / MOVES]
    (out / REPORT).write_text(report_md)
    return [*written, out / REPORT]


# -- reader ---------------------------------------------------------------------------------------
def resolve_plan_folder(folder: Path) -> Path:
    """The folder to read: the version ``folder/current`` points at when ``folder`` is a root of
    plan versions, else ``folder`` itself."""
    folder = Path(folder)
    pointer = folder / CURRENT
    if pointer.is_symlink() or pointer.is_dir():
        return pointer.resolve()
    return folder


def read_plan_metrics(folder: Path) -> dict[str, Any]:
    """metrics.json of a plan folder (or a root's current version), checked for this schema
    version."""
    folder = resolve_plan_folder(folder)
    path = folder / METRICS
    rerun = RERUN.format(folder=folder)
    if not path.is_file():
        raise PlanFolderError(f"no {METRICS} in {folder}: every plan folder has one; {rerun}.")
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise PlanFolderError(f"{path} is not valid JSON ({exc}); {rerun}.") from exc
    if not isinstance(doc, dict):
        raise PlanFolderError(f"{path} holds a {type(doc).__name__}, not an object; {rerun}.")
    if doc.get("schema_version") != SCHEMA_VERSION:
        raise PlanFolderError(
            f"{path}: schema_version is {doc.get('schema_version')!r}; this Territory reads plan "
            f"folders of schema_version {SCHEMA_VERSION}; {rerun}."
        )
    return doc


def plan_id_of(folder: Path) -> str:
    """metrics.json's plan_id if it has one, else a content hash of assignments.csv."""
    folder = resolve_plan_folder(folder)
    plan_id = read_plan_metrics(folder).get("plan_id")
    if isinstance(plan_id, str) and plan_id:
        return plan_id
    digest = hashlib.sha256((folder / ASSIGNMENTS).read_bytes()).hexdigest()[:12]
    return f"plan-{digest}"


def _read_table(path: Path, columns: tuple[str, ...], required: tuple[str, ...]) -> pd.DataFrame:
    """The CSV with exactly the schema's columns checked; ids as text, empty cells as NA."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    rerun = RERUN.format(folder=path.parent)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise PlanFolderError(
            f"{path}: column(s) {missing} missing (found {list(frame.columns)}); plan folder "
            f"schema_version {SCHEMA_VERSION} has {list(columns)}; {rerun}."
        )
    for column in required:
        empty = frame.loc[frame[column].isna(), "account_id"].fillna("?").tolist()
        if empty:
            raise PlanFolderError(
                f"{path}: column {column!r} is empty in {len(empty)} row(s) (accounts "
                f"{empty[:5]}); every row needs one; {rerun}."
            )
    return frame


def _numbers(frame: pd.DataFrame, column: str, path: Path) -> pd.Series:
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = frame.loc[values.isna() & frame[column].notna(), "account_id"].tolist()
    if bad:
        raise PlanFolderError(
            f"{path}: column {column!r} holds non-numbers for accounts {bad[:5]}; "
            f"{RERUN.format(folder=path.parent)}."
        )
    return values.astype(float)


def _read_moves(folder: Path) -> tuple[Move, ...]:
    path = folder / MOVES
    if not path.is_file():
        raise PlanFolderError(
            f"no {MOVES} in {folder}: a plan folder with {ASSIGNMENTS} has one; "
            f"{RERUN.format(folder=folder)}."
        )
    frame = _read_table(path, MOVE_COLUMNS, ("account_id", "to_rep_id", "kind"))
    odd = frame.loc[~frame["kind"].isin(["move", "forced", "new"]), "kind"].unique().tolist()
    if odd:
        raise PlanFolderError(
            f"{path}: column 'kind' holds {odd[:5]}; it takes move, forced or new; "
            f"{RERUN.format(folder=folder)}."
        )
    terms = {c: _numbers(frame, c, path).fillna(0.0).to_numpy() for c in TERM_COLUMNS}
    return tuple(
        Move(
            row["account_id"],
            row["from_rep_id"] if isinstance(row["from_rep_id"], str) else None,
            row["to_rep_id"],
            row["kind"],
            MoveReasons(**{c: float(terms[c][i]) for c in TERM_COLUMNS}),
            row["reasons"] if isinstance(row["reasons"], str) else "",
            _details_from(row),
        )
        for i, row in enumerate(frame.to_dict("records"))
    )


def _plan(doc: Mapping[str, Any], assignments: pd.DataFrame, moves: tuple[Move, ...]) -> Plan:
    def number(key: str) -> float:
        value = doc.get(key)
        return float(value) if isinstance(value, (int, float)) else float("nan")

    return Plan(
        status=doc.get("status", "unknown"),
        rep_by_account=dict(zip(assignments["account_id"], assignments["rep_id"], strict=True)),
        objective=number("objective"),
        bound=number("bound"),
        gap=number("gap"),
        moves=moves,
        metrics={k: doc[k] for k in PLAN_METRICS if k in doc},
        fit_method=str(doc.get("fit_method", "fallback")),
        solver=doc.get("solver", ""),
        conflicts=tuple(doc.get("conflicts", ())),
        regions=int(doc.get("regions", 1)),
        timings=dict(doc.get("timings", {})),
        assignments=assignments,
    )


def read_plan_folder(folder: Path, current_owner: Mapping[str, str] | None = None) -> PlanFolder:
    """Read a plan folder written by ``write_plan_folder``; ``current_owner`` (the CRM's) is
    updated by the plan's own ``current_rep``. A root of versions reads its ``current``."""
    folder = resolve_plan_folder(folder)
    path = folder / ASSIGNMENTS
    if not path.is_file():
        raise PlanFolderError(
            f"no {ASSIGNMENTS} in {folder}: run `territory plan --out {folder}` first (an "
            "infeasible plan writes none: its report.md says why)."
        )
    doc = read_plan_metrics(folder)
    table = _read_table(path, ASSIGNMENT_COLUMNS, ("account_id", "rep_id"))
    for column in ("potential", "workload", "fit", "expected_value", "distance_km"):
        table[column] = _numbers(table, column, path)
    current = dict(current_owner or {})
    current.update(
        {
            a: r
            for a, r in zip(table["account_id"], table["current_rep"], strict=True)
            if isinstance(r, str)
        }
    )
    stamp = doc.get("created_at") or datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(
        timespec="seconds"
    )
    report = (folder / REPORT).read_text() if (folder / REPORT).is_file() else ""
    return PlanFolder(
        path=folder.resolve(),
        plan_id=plan_id_of(folder),
        created_at=str(stamp),
        plan=_plan(doc, table, _read_moves(folder)),
        current_owner=current,
        metrics=doc,
        report_md=report,
    )


# -- the value-versus-moves curve (optional: `territory plan` writes it) ---------------------------
def write_tradeoff(folder: Path, curve: pd.DataFrame) -> Path:
    """tradeoff.csv: one row per disruption budget (models.planning.report_tradeoff)."""
    path = Path(folder) / TRADEOFF
    curve.to_csv(path, index=False)
    return path


def read_tradeoff(folder: Path) -> list[dict[str, Any]] | None:
    """tradeoff.csv's rows (None when the plan was written without one); empty cells None."""
    path = resolve_plan_folder(folder) / TRADEOFF
    if not path.is_file():
        return None
    frame = pd.read_csv(path)
    needed = {"max_moved_share", "status", "objective", "moves_by_choice", "chosen"}
    if not needed <= set(frame.columns):
        raise PlanFolderError(
            f"{path}: column(s) {sorted(needed - set(frame.columns))} missing; "
            f"{RERUN.format(folder=path.parent)}."
        )
    return [_clean(r) for r in frame.astype(object).where(frame.notna(), None).to_dict("records")]
