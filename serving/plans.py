"""Read a plan directory written by `territory plan` and pick which plan the service serves.

A plan directory holds assignments.csv (one planned owner per account), moves.csv (accounts whose
planned owner differs from the current one, with reasons), metrics.json and report.md. The reader
accepts the column spellings below so it keeps working while the planner's output evolves; any
file it cannot use gets an error naming the file, the columns it found and what it expected.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from models.planning import worded_terms
from serving.errors import NotReady

ASSIGNMENTS = "assignments.csv"
MOVES = "moves.csv"
METRICS = "metrics.json"
REPORT = "report.md"

PLANNED_REP = ("rep_id", "planned_rep_id", "new_rep_id", "to_rep_id", "assigned_rep_id")
CURRENT_REP = ("current_rep_id", "current_rep", "from_rep_id", "old_rep_id", "previous_rep_id")
MOVE_TO = ("to_rep_id", "to_rep", "planned_rep_id", "new_rep_id", "rep_id")
MOVE_FROM = ("from_rep_id", "from_rep", "current_rep_id", "old_rep_id", "previous_rep_id")
IMPACT = (
    "impact",
    "objective_delta",
    "value_gain",
    "gain",
    "delta_value",
    "expected_gain",
    "potential_gain",
    "delta",
    "priced_delta",
)
REASONS = ("reasons", "reasons_json", "why", "reason")
KIND_REASONS = {
    "forced": "must move: the owner leaves or breaks a rule, or a lock names another rep",
    "new": "had no owner",
}
# The planner's money terms per move (models.planning.plan.MoveReasons) and the reason type each
# gives.
TERMS = {
    "fit_value": "fit",
    "travel_saved": "travel",
    "continuity_cost": "continuity",
    "balance_restored": "balance",
    "capacity_freed": "capacity",
    "budget_used": "disruption",
}
REASON_TYPE_KEYS = ("type", "kind", "code", "concept", "category")
REASON_TEXT_KEYS = ("text", "phrase", "reason", "message", "description")
WORKLOAD = ("workload", "account_workload")


@dataclass(frozen=True)
class MoveReason:
    """Why the planner moved an account, as a type the review page can filter on and a sentence."""

    type: str
    text: str
    value: float | None = None


@dataclass(frozen=True)
class Move:
    """A proposed change of owner."""

    account_id: str
    from_rep_id: str | None
    to_rep_id: str
    impact: float
    reasons: tuple[MoveReason, ...]


@dataclass
class Plan:
    """One plan as the service holds it."""

    plan_id: str
    path: Path
    created_at: str
    planned_owner: dict[str, str]
    current_owner: dict[str, str]
    moves: dict[str, Move]
    metrics: dict
    report_md: str = ""
    workload: dict[str, float] = field(default_factory=dict)

    @property
    def reason_types(self) -> list[str]:
        return sorted({r.type for m in self.moves.values() for r in m.reasons})


def _pick(columns: Iterable[str], candidates: tuple[str, ...]) -> str | None:
    present = set(columns)
    return next((c for c in candidates if c in present), None)


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def plan_id_of(directory: Path) -> str:
    """metrics.json's plan_id if it has one, else a content hash of assignments.csv."""
    metrics = _read_metrics(directory)
    if isinstance(metrics.get("plan_id"), str) and metrics["plan_id"]:
        return metrics["plan_id"]
    digest = hashlib.sha256((directory / ASSIGNMENTS).read_bytes()).hexdigest()[:12]
    return f"plan-{digest}"


def _read_metrics(directory: Path) -> dict:
    path = directory / METRICS
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise NotReady(f"{path} is not valid JSON ({exc}); rerun `territory plan`.") from exc
    return data if isinstance(data, dict) else {"value": data}


def parse_reasons(cell: object) -> tuple[MoveReason, ...]:
    """A moves.csv reasons cell: JSON list of objects or strings, or text split on ' | ' or '; '."""
    if cell is None or (isinstance(cell, float) and pd.isna(cell)) or cell == "":
        return ()
    items: list = []
    if isinstance(cell, str):
        text = cell.strip()
        if text.startswith(("[", "{")):
            try:
                loaded = json.loads(text)
                items = loaded if isinstance(loaded, list) else [loaded]
            except json.JSONDecodeError:
                items = [text]
        else:
            sep = " | " if " | " in text else "; "
            items = [part.strip() for part in text.split(sep) if part.strip()]
    elif isinstance(cell, list):
        items = cell
    return tuple(_reason(item) for item in items)


def reasons_from_terms(terms: Mapping[str, object]) -> tuple[MoveReason, ...]:
    """The planner's money terms as reasons, largest first (continuity counts as a cost)."""
    return tuple(
        MoveReason(TERMS[name], f"{words} {signed:+,.0f} per year", round(signed, 2))
        for name, words, signed in worded_terms(terms)
    )


def _reason(item: object) -> MoveReason:
    if isinstance(item, Mapping):
        kind = next((str(item[k]) for k in REASON_TYPE_KEYS if item.get(k)), "other")
        text = next((str(item[k]) for k in REASON_TEXT_KEYS if item.get(k)), kind)
        value = item.get("value")
        try:
            value = float(value) if value is not None else None
        except (TypeError, ValueError):
            value = None
        return MoveReason(kind, text, value)
    text = str(item)
    head, sep, _ = text.partition(":")
    kind = head.strip().lower().replace(" ", "_") if sep and len(head) <= 24 else "other"
    return MoveReason(kind, text)


def read_plan(directory: Path, current_owner: Mapping[str, str]) -> Plan:
    """Load a plan directory; moves.csv when present, else moves derived from assignments.csv."""
    directory = Path(directory)
    path = directory / ASSIGNMENTS
    if not path.is_file():
        raise NotReady(
            f"no {ASSIGNMENTS} in {directory}: run `territory plan --out {directory}` first."
        )
    assignments = _read_csv(path)
    if "account_id" not in assignments.columns or not _pick(assignments.columns, PLANNED_REP):
        raise NotReady(
            f"{path} has columns {list(assignments.columns)}; expected account_id and one of "
            f"{list(PLANNED_REP)}. Rerun `territory plan` with this version of Territory."
        )
    planned_col = _pick(assignments.columns, PLANNED_REP)
    planned = dict(zip(assignments["account_id"], assignments[planned_col], strict=True))
    current = dict(current_owner)
    current_col = _pick(assignments.columns, CURRENT_REP)
    if current_col and current_col != planned_col:
        current.update(
            {
                a: r
                for a, r in zip(assignments["account_id"], assignments[current_col], strict=True)
                if isinstance(r, str)
            }
        )
    workload_col = _pick(assignments.columns, WORKLOAD)
    workload = {}
    if workload_col:
        workload = dict(
            zip(
                assignments["account_id"],
                pd.to_numeric(assignments[workload_col], errors="coerce").fillna(0.0),
                strict=True,
            )
        )
    moves = _read_moves(directory, planned, current)
    metrics = _read_metrics(directory)
    stamp = metrics.get("created_at") or datetime.fromtimestamp(
        path.stat().st_mtime, UTC
    ).isoformat(timespec="seconds")
    report = (directory / REPORT).read_text() if (directory / REPORT).is_file() else ""
    return Plan(
        plan_id_of(directory),
        directory.resolve(),
        str(stamp),
        planned,
        current,
        moves,
        metrics,
        report,
        workload,
    )


def _read_moves(
    directory: Path, planned: Mapping[str, str], current: Mapping[str, str]
) -> dict[str, Move]:
    path = directory / MOVES
    if not path.is_file():
        return {
            a: Move(a, current.get(a), r, 0.0, ())
            for a, r in planned.items()
            if current.get(a) != r
        }
    frame = _read_csv(path)
    to_col = _pick(frame.columns, MOVE_TO)
    if "account_id" not in frame.columns or to_col is None:
        raise NotReady(
            f"{path} has columns {list(frame.columns)}; expected account_id and one of "
            f"{list(MOVE_TO)}. Rerun `territory plan` with this version of Territory."
        )
    from_col = _pick(frame.columns, MOVE_FROM)
    impact_col = _pick(frame.columns, IMPACT)
    reasons_col = _pick(frame.columns, REASONS)
    impact = (
        pd.to_numeric(frame[impact_col], errors="coerce").fillna(0.0)
        if impact_col
        else pd.Series(0.0, index=frame.index)
    )
    has_terms = any(t in frame.columns for t in TERMS)
    moves = {}
    for i, record in enumerate(frame.to_dict("records")):
        account = record["account_id"]
        from_rep = record.get(from_col) if from_col else current.get(account)
        # The planner's money terms are typed and filterable; its `reasons` text is their summary.
        reasons = reasons_from_terms(record) if has_terms else ()
        if not reasons and reasons_col:
            reasons = parse_reasons(record.get(reasons_col))
        kind = record.get("kind")
        if kind in KIND_REASONS:
            reasons = (MoveReason(kind, KIND_REASONS[kind]), *reasons)
        moves[account] = Move(
            account_id=account,
            from_rep_id=from_rep if isinstance(from_rep, str) else current.get(account),
            to_rep_id=record[to_col],
            impact=float(impact.iloc[i]),
            reasons=reasons,
        )
    return moves


def find_plan_dirs(roots: Iterable[Path]) -> list[Path]:
    """Every directory holding assignments.csv directly under or at the given roots."""
    found: set[Path] = set()
    for root in roots:
        root = Path(root)
        if (root / ASSIGNMENTS).is_file():
            found.add(root.resolve())
        if root.is_dir():
            found.update(p.parent.resolve() for p in root.glob(f"*/{ASSIGNMENTS}"))
    return sorted(found)


def choose_plan_dir(candidates: list[Path], statuses: Mapping[str, str]) -> Path | None:
    """The newest plan that is approved or proposed (never one marked superseded)."""
    usable = [
        p for p in candidates if statuses.get(plan_id_of(p), "proposed") in {"approved", "proposed"}
    ]
    if not usable:
        return None
    return max(usable, key=lambda p: (p / ASSIGNMENTS).stat().st_mtime)
