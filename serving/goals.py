"""Goals per territory and plan outcomes for the served plan (models.kpis), for the KPI page.

Goals: the calibrated potential of each rep's planned book with a conformal interval
(models/kpis/goals.py), computed once per loaded state from a holdout year the served model
scores (the year before the data ends). A manager may set a rep's goal by hand; each edit is kept
in the decisions database with who, when, the goal it replaced and a note (`GoalBook`), and the
export carries both the model's goal and the one in force.

Outcomes: what an approved plan did after its effective date (models/kpis/outcomes.py); an
honest "not measurable yet" while the data ends before the plan took effect.
"""

from __future__ import annotations

import io
import math
import threading
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from models.kpis import (
    KpiError,
    calibrate_goals,
    fairness,
    plan_outcomes,
    territory_goals,
    won_between,
)
from serving.errors import BadRequest, NotFound
from serving.store import ServingState

CONFIDENCE = 0.8
_cache: dict[int, tuple[ServingState, pd.DataFrame, dict[str, Any]]] = {}
_cache_lock = threading.Lock()


class GoalBook:
    """Manager edits of goals, append-only, in the decisions database."""

    def __init__(self, engine: sa.Engine, schema: str | None) -> None:
        self.engine = engine
        metadata = sa.MetaData(schema=schema)
        self.table = sa.Table(
            "territory_goal_edits",
            metadata,
            sa.Column("edit_id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("plan_id", sa.String(200), nullable=False, index=True),
            sa.Column("rep_id", sa.String(200), nullable=False),
            sa.Column("goal", sa.Float, nullable=False),
            sa.Column("previous_goal", sa.Float, nullable=True),
            sa.Column("note", sa.Text, nullable=False),
            sa.Column("actor", sa.String(200), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        )
        metadata.create_all(engine, checkfirst=True)

    def edit(
        self, plan_id: str, rep_id: str, goal: float, previous: float | None, note: str, actor: str
    ) -> dict[str, Any]:
        row = {
            "plan_id": plan_id,
            "rep_id": rep_id,
            "goal": goal,
            "previous_goal": previous,
            "note": note,
            "actor": actor,
            "created_at": datetime.now(UTC),
        }
        with self.engine.begin() as conn:
            row["edit_id"] = conn.execute(self.table.insert().values(**row)).inserted_primary_key[0]
        return _edit_out(row)

    def history(self, plan_id: str) -> list[dict[str, Any]]:
        """Every edit of the plan's goals, oldest first."""
        query = self.table.select().where(self.table.c.plan_id == plan_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(self.table.c.edit_id)).mappings().all()
        return [_edit_out(dict(r)) for r in rows]


def _edit_out(row: dict[str, Any]) -> dict[str, Any]:
    when = row["created_at"]
    if when.tzinfo is None:  # SQLite hands back naive datetimes; they were written as UTC
        when = when.replace(tzinfo=UTC)
    return {**row, "created_at": when.isoformat(timespec="seconds")}


def model_goals(state: ServingState) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Goals per rep of the served plan and the calibration behind them (cached per state)."""
    with _cache_lock:
        hit = _cache.get(id(state))
        if hit is not None and hit[0] is state:
            return hit[1], hit[2]
    table, doc = _compute(state)
    with _cache_lock:
        _cache.clear()  # one state is served at a time: never keep an old one alive
        _cache[id(state)] = (state, table, doc)
    return table, doc


def _assignments(state: ServingState) -> pd.DataFrame:
    if state.plan is None or state.plan.plan.assignments is None:
        raise NotFound(
            "no feasible plan is loaded, so there are no territories to set goals for; run "
            "`territory plan` and reload."
        )
    return state.plan.plan.assignments


def _compute(state: ServingState) -> tuple[pd.DataFrame, dict[str, Any]]:
    from features.pipeline import build_account_features

    assignments = _assignments(state).set_index("account_id")
    tables = state.tables
    stop = tables.default_as_of().normalize()
    start = stop - pd.Timedelta(days=365)
    features = build_account_features(tables, start)
    predicted = pd.Series(state.model.predict(features), index=features.index.astype(str))
    actual = won_between(tables, start, stop).reindex(predicted.index).fillna(0.0)
    book = max(1, min(int(assignments.groupby("rep_id").size().median()), len(predicted)))
    try:
        calibrator = calibrate_goals(predicted, actual, book_size=book, confidence=CONFIDENCE)
    except KpiError as exc:
        raise BadRequest(f"goals cannot be calibrated on this data: {exc}") from exc
    table = territory_goals(
        calibrator,
        assignments["potential"].astype(float),
        assignments["rep_id"],
        assignments["expected_value"].astype(float),
    )
    doc = {
        "holdout": f"{start.date()} to {stop.date()}",
        "scale": calibrator.scale,
        "confidence": CONFIDENCE,
        "book_size": book,
        "fairness": fairness(table),
    }
    return table, doc


def goals_report(state: ServingState, book: GoalBook | None) -> dict[str, Any]:
    """The plan's goals per rep (model goal, interval, the goal in force and who set it)."""
    table, doc = model_goals(state)
    edits = book.history(state.plan.plan_id) if book is not None else []
    latest = {e["rep_id"]: e for e in edits}
    rows = []
    for row in table.to_dict("records"):
        edit = latest.get(str(row["rep_id"]))
        goal = edit["goal"] if edit else _finite(row["goal"])
        expected = _finite(row.get("expected_revenue"))
        rows.append(
            {
                **{k: _finite(v) for k, v in row.items()},
                "rep_id": str(row["rep_id"]),
                "rep_name": _rep_name(state, str(row["rep_id"])),
                "model_goal": _finite(row["goal"]),
                "goal": goal,
                "expected_attainment": expected / goal if expected is not None and goal else None,
                "set_by": edit["actor"] if edit else "model",
                "note": edit["note"] if edit else "",
            }
        )
    return {"plan_id": state.plan.plan_id, **doc, "rows": rows, "edits": edits}


def set_goal(
    state: ServingState, book: GoalBook, rep_id: str, goal: float, note: str, actor: str
) -> dict[str, Any]:
    """Record a manager's goal for one rep of the served plan; the report after it."""
    if not math.isfinite(goal) or goal < 0:
        raise BadRequest(f"goal {goal!r} for {rep_id}: give a revenue amount of 0 or more.")
    if not note.strip():
        raise BadRequest(f"a goal set by hand needs a note saying why (rep {rep_id}).")
    report = goals_report(state, book)
    current = next((r for r in report["rows"] if r["rep_id"] == rep_id), None)
    if current is None:
        known = ", ".join(r["rep_id"] for r in report["rows"][:5])
        raise NotFound(f"rep {rep_id!r} owns no account in the plan (e.g. {known}).")
    book.edit(report["plan_id"], rep_id, float(goal), current["goal"], note.strip(), actor)
    return goals_report(state, book)


def goals_csv(report: dict[str, Any]) -> str:
    """The goals as a CSV the plan is exported with."""
    columns = [
        "rep_id", "rep_name", "accounts", "potential", "model_goal", "goal_low", "goal_high",
        "goal", "set_by", "note", "expected_revenue", "expected_attainment", "confidence",
    ]  # fmt: skip
    out = io.StringIO()
    pd.DataFrame(report["rows"]).reindex(columns=columns).to_csv(out, index=False)
    return out.getvalue()


def outcomes_report(state: ServingState, effective_date: str | None) -> dict[str, Any]:
    """What the approved plan did since its effective date, or why that cannot be said yet."""
    if effective_date is None:
        return {"measurable": False, "reason": "the plan is not approved yet"}
    effective = pd.Timestamp(effective_date)
    data_end = state.tables.default_as_of().normalize()
    if data_end <= effective + pd.Timedelta(days=30):
        return {
            "measurable": False,
            "effective_date": effective_date,
            "reason": f"the data ends {data_end.date()}, less than 30 days after the plan took "
            f"effect on {effective.date()}; import newer CRM data to measure what it did",
        }
    try:
        result = plan_outcomes(state.tables, _assignments(state), effective, data_end)
    except KpiError as exc:
        return {"measurable": False, "effective_date": effective_date, "reason": str(exc)}
    lift = result.lift
    return {
        "measurable": True,
        "effective_date": effective_date,
        "window": f"{effective.date()} to {data_end.date()}",
        "lift": {k: _finite(v) for k, v in vars(lift).items()},
        "reps": [
            {k: _finite(v) for k, v in row.items()}
            for row in result.reps.head(200).to_dict("records")
        ],
    }


def _rep_name(state: ServingState, rep_id: str) -> str:
    info = state.reps.get(rep_id)
    return getattr(info, "name", rep_id) if info is not None else rep_id


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _finite(value.item())
    return value
